#include "images/registries.h"

#include <arpa/inet.h>
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/fs/files.h"
#include "core/http/url.h"
#include "core/serde/json.h"

namespace images {
namespace {

using core::Errc;
using core::Json;

constexpr std::string_view kDockerHub = "docker.io";
constexpr std::string_view kDockerHubHost = "registry-1.docker.io";

// containerd's docker.IsLocalhost: "localhost" or a loopback address.
bool is_loopback(std::string_view host) {
  if (host == "localhost") return true;
  std::string h(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return h == "::1";
}

// Normalises an endpoint as k3s's normalizeEndpointAddress does (see the header comment).
core::Result<Endpoint> normalize_endpoint(std::string_view text) {
  bool has_scheme = text.find("://") != std::string_view::npos;
  std::string full = has_scheme ? std::string(text) : "https://" + std::string(text);
  core::http::Url url = K3A_TRY(core::http::Url::parse(full));
  if (!has_scheme && is_loopback(url.host) && url.port != 443) {
    url.scheme = "http";  // an explicit port other than 443
  }
  if (url.host == kDockerHub) url.host = std::string(kDockerHubHost);
  std::string path(url.path());
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (path.empty() || path == "/") path = "/v2";
  Endpoint endpoint;
  endpoint.host = url.authority();
  endpoint.api = url.scheme + "://" + endpoint.host + path;
  return endpoint;
}

// Go's "${1}" is ECMAScript's "$1".
std::string ecma_replacement(std::string_view go) {
  static const std::regex braces(R"(\$\{([0-9]+)\})");
  return std::regex_replace(std::string(go), braces, "$$$1");
}

std::string rewrite_repository(const RegistryMirror& mirror, const std::string& repository) {
  for (const auto& [pattern, replacement] : mirror.rewrites) {
    std::regex re(pattern);  // validated by parse_yaml
    if (!std::regex_search(repository, re)) continue;
    return std::regex_replace(repository, re, ecma_replacement(replacement));
  }
  return repository;
}

// Typed field access with errors naming the field.
core::Result<std::string> string_field(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return core::failf(Errc::kInvalid, "{}.{}: must be a string", where, key);
  return it->get<std::string>();
}

core::Result<bool> bool_field(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (!it->is_boolean())
    return core::failf(Errc::kInvalid, "{}.{}: must be true or false", where, key);
  return it->get<bool>();
}

core::Result<const Json*> object_field(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  if (!it->is_object()) return core::failf(Errc::kInvalid, "{}.{}: must be a mapping", where, key);
  return &*it;
}

core::Result<RegistryMirror> parse_mirror(const Json& j, const std::string& where) {
  if (!j.is_object()) return core::failf(Errc::kInvalid, "{}: must be a mapping", where);
  RegistryMirror mirror;
  if (auto it = j.find("endpoint"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return core::failf(Errc::kInvalid, "{}.endpoint: must be a list", where);
    for (const auto& e : *it) {
      if (!e.is_string()) return core::failf(Errc::kInvalid, "{}.endpoint: not a string", where);
      auto normal = normalize_endpoint(e.get<std::string>());
      if (!normal) return std::unexpected(std::move(normal).error().context(where + ".endpoint"));
      mirror.endpoints.push_back(e.get<std::string>());
    }
  }
  const Json* rewrite = K3A_TRY(object_field(j, "rewrite", where));
  if (rewrite == nullptr) return mirror;
  for (const auto& [pattern, replacement] : rewrite->items()) {
    if (!replacement.is_string()) {
      return core::failf(Errc::kInvalid, "{}.rewrite[{}]: must be a string", where, pattern);
    }
    try {
      std::regex check(pattern);
    } catch (const std::regex_error& e) {
      return core::failf(Errc::kInvalid, "{}.rewrite: bad regex {}: {}", where,
                         core::quote(pattern), e.what());
    }
    mirror.rewrites.emplace_back(pattern, replacement.get<std::string>());
  }
  return mirror;
}

core::Result<RegistryHostConfig> parse_host_config(const Json& j, const std::string& where) {
  if (!j.is_object()) return core::failf(Errc::kInvalid, "{}: must be a mapping", where);
  RegistryHostConfig config;
  if (const Json* a = K3A_TRY(object_field(j, "auth", where))) {
    std::string at = where + ".auth";
    RegistryAuth auth{.username = K3A_TRY(string_field(*a, "username", at)),
                      .password = K3A_TRY(string_field(*a, "password", at)),
                      .auth = K3A_TRY(string_field(*a, "auth", at)),
                      .identity_token = K3A_TRY(string_field(*a, "identitytoken", at))};
    if (auth.identity_token.empty()) {
      auth.identity_token = K3A_TRY(string_field(*a, "identity_token", at));
    }
    if (!auth.auth.empty() && !core::base64_decode(auth.auth)) {
      return core::failf(Errc::kInvalid, "{}.auth: not base64 of user:password", at);
    }
    config.auth = std::move(auth);
  }
  if (const Json* t = K3A_TRY(object_field(j, "tls", where))) {
    std::string at = where + ".tls";
    config.tls =
        RegistryTls{.ca_file = K3A_TRY(string_field(*t, "ca_file", at)),
                    .cert_file = K3A_TRY(string_field(*t, "cert_file", at)),
                    .key_file = K3A_TRY(string_field(*t, "key_file", at)),
                    .insecure_skip_verify = K3A_TRY(bool_field(*t, "insecure_skip_verify", at))};
  }
  return config;
}

}  // namespace

std::string Endpoint::display() const {
  return api.ends_with("/v2") ? api.substr(0, api.size() - 3) : api;
}

core::Result<RegistryConfig> RegistryConfig::parse_yaml(std::string_view text) {
  Json doc = K3A_TRY(core::parse_yaml(text));
  RegistryConfig config;
  if (doc.is_null()) return config;
  if (!doc.is_object()) return core::fail(Errc::kInvalid, "registries: must be a mapping");
  if (const Json* mirrors = K3A_TRY(object_field(doc, "mirrors", "registries"))) {
    for (const auto& [name, value] : mirrors->items()) {
      config.mirrors[name] = K3A_TRY(parse_mirror(value, "mirrors." + name));
    }
  }
  if (const Json* configs = K3A_TRY(object_field(doc, "configs", "registries"))) {
    for (const auto& [name, value] : configs->items()) {
      config.configs[name] = K3A_TRY(parse_host_config(value, "configs." + name));
    }
  }
  return config;
}

core::Result<RegistryConfig> RegistryConfig::load(const std::string& path) {
  std::string text = K3A_TRY(core::read_file(path, 1u << 20));
  auto config = parse_yaml(text);
  if (!config) return std::unexpected(std::move(config).error().context(path));
  return config;
}

Endpoint RegistryConfig::default_endpoint(const Reference& ref) const {
  Endpoint endpoint = normalize_endpoint(ref.registry).value_or(Endpoint{});
  // What registries.yaml says about this host's scheme wins over the loopback default: its own
  // mirror entry naming it with a scheme, else a tls section in its configs.
  std::optional<std::string> scheme;
  if (auto it = mirrors.find(ref.registry); it != mirrors.end()) {
    for (const auto& text : it->second.endpoints) {
      auto mirror = normalize_endpoint(text);
      if (!mirror || mirror->host != endpoint.host || text.find("://") == std::string::npos) {
        continue;
      }
      scheme = mirror->api.substr(0, mirror->api.find("://"));
    }
  }
  const RegistryHostConfig* host_config = config_for(endpoint.host);
  if (!scheme && host_config && host_config->tls) scheme = "https";
  if (scheme) endpoint.api = *scheme + "://" + endpoint.host + "/v2";
  endpoint.repository = ref.repository;
  endpoint.registry = ref.registry;
  endpoint.mirror = false;
  return endpoint;
}

std::vector<Endpoint> RegistryConfig::endpoints_for(const Reference& ref) const {
  std::vector<Endpoint> out;
  auto it = mirrors.find(ref.registry);
  if (it == mirrors.end()) it = mirrors.find("*");
  Endpoint own = default_endpoint(ref);
  bool own_listed = false;
  if (it != mirrors.end()) {
    for (const auto& text : it->second.endpoints) {
      auto endpoint = normalize_endpoint(text);
      if (!endpoint) continue;  // parse_yaml refused these; a hand-built config may hold them
      bool seen = std::any_of(out.begin(), out.end(),
                              [&](const Endpoint& e) { return e.api == endpoint->api; });
      if (seen) continue;
      endpoint->repository = rewrite_repository(it->second, ref.repository);
      endpoint->registry = ref.registry;
      endpoint->mirror = endpoint->api != own.api;
      own_listed = own_listed || !endpoint->mirror;
      out.push_back(std::move(*endpoint));
    }
  }
  if (!disable_default_endpoint && !own_listed) out.push_back(std::move(own));
  return out;
}

const RegistryHostConfig* RegistryConfig::config_for(std::string_view host) const {
  auto find = [&](std::string_view key) -> const RegistryHostConfig* {
    auto it = configs.find(std::string(key));
    return it == configs.end() ? nullptr : &it->second;
  };
  if (const auto* c = find(host)) return c;
  if (host == kDockerHubHost) {
    if (const auto* c = find(kDockerHub)) return c;
  }
  if (host == kDockerHub) {
    if (const auto* c = find(kDockerHubHost)) return c;
  }
  return find("*");
}

std::optional<std::pair<std::string, std::string>> basic_credentials(const RegistryAuth& auth) {
  if (!auth.username.empty()) return std::make_pair(auth.username, auth.password);
  if (auth.auth.empty()) return std::nullopt;
  auto decoded = core::base64_decode(auth.auth);
  if (!decoded) return std::nullopt;
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

}  // namespace images
