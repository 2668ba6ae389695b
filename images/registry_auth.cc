// Registry authentication as Docker Hub and distribution use it: WWW-Authenticate challenges,
// bearer tokens from the challenge's realm (anonymous, with basic credentials, or an OAuth2 refresh
// token), and basic credentials from registries.yaml.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/http/url.h"
#include "core/serde/json.h"
#include "images/registry_impl.h"

namespace images {
namespace {

using core::Errc;
using core::http::Request;
using core::http::Response;

constexpr int64_t kDefaultTokenSeconds = 60;  // the token spec's default for expires_in

bool is_tchar(char c) {
  return c > 0x20 && c < 0x7f &&
         std::string_view("()<>@,;:\\\"/[]?={} ").find(c) == std::string_view::npos;
}

void skip_separators(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
}

std::string read_token(std::string_view s, size_t& i) {
  size_t start = i;
  while (i < s.size() && (is_tchar(s[i]) || s[i] == '/')) ++i;
  return std::string(s.substr(start, i - start));
}

// A quoted-string (backslash escapes) or a token.
std::string read_value(std::string_view s, size_t& i) {
  if (i >= s.size() || s[i] != '"') return read_token(s, i);
  std::string out;
  for (++i; i < s.size() && s[i] != '"'; ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out.push_back(s[i]);
  }
  if (i < s.size()) ++i;  // closing quote
  return out;
}

std::string basic_header(const std::pair<std::string, std::string>& credentials) {
  return "Basic " + core::base64_encode(credentials.first + ":" + credentials.second);
}

std::optional<RegistryAuth> auth_for(const RegistryConfig& config, std::string_view host) {
  const RegistryHostConfig* host_config = config.config_for(host);
  if (host_config == nullptr || !host_config->auth) return std::nullopt;
  return host_config->auth;
}

std::string with_query(std::string url, const std::vector<std::pair<std::string, std::string>>& q) {
  for (const auto& [name, value] : q) {
    if (value.empty()) continue;
    url += url.find('?') == std::string::npos ? '?' : '&';
    url += name + "=" + core::http::url_encode(value);
  }
  return url;
}

// Reads {"token"|"access_token", "expires_in"} from a token server's answer.
core::Result<RegistryClient::Impl::CachedAuth> parse_token(const Response& response,
                                                           std::string_view realm) {
  auto body = core::parse_json(response.body);
  std::string token;
  int64_t seconds = kDefaultTokenSeconds;
  if (body && body->is_object()) {
    for (const char* field : {"token", "access_token"}) {
      auto it = body->find(field);
      if (it != body->end() && it->is_string() && !it->get<std::string>().empty()) {
        token = it->get<std::string>();
        break;
      }
    }
    auto expires = body->find("expires_in");
    if (expires != body->end() && expires->is_number_integer() && expires->get<int64_t>() > 0) {
      seconds = expires->get<int64_t>();
    }
  }
  if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
    return core::failf(Errc::kInvalid, "token server {}: no token in its answer", realm);
  }
  // Renew a little early so that a token does not expire between cache and registry.
  auto lifetime = std::chrono::seconds(std::max<int64_t>(seconds - 5, 1));
  return RegistryClient::Impl::CachedAuth{"Bearer " + token,
                                          std::chrono::steady_clock::now() + lifetime};
}

}  // namespace

std::vector<Challenge> parse_challenges(std::string_view header) {
  std::vector<Challenge> out;
  size_t i = 0;
  while (true) {
    skip_separators(header, i);
    if (i >= header.size()) break;
    size_t before = i;
    std::string word = read_token(header, i);
    if (word.empty()) {
      i = before + 1;  // an unexpected character: skip it
      continue;
    }
    size_t look = i;
    while (look < header.size() && header[look] == ' ') ++look;
    if (look < header.size() && header[look] == '=' && !out.empty()) {
      i = look + 1;
      while (i < header.size() && header[i] == ' ') ++i;
      out.back().params[core::to_lower(word)] = read_value(header, i);
    } else {
      out.push_back({core::to_lower(word), {}});
    }
  }
  return out;
}

core::Result<RegistryClient::Impl::CachedAuth> RegistryClient::Impl::answer(
    const Endpoint& endpoint, Access access, const Response& unauthorized) {
  std::vector<Challenge> challenges;
  for (const auto& [name, value] : unauthorized.headers) {
    if (core::to_lower(name) != "www-authenticate") continue;
    for (auto& c : parse_challenges(value)) challenges.push_back(std::move(c));
  }
  std::optional<RegistryAuth> auth = auth_for(config, endpoint.host);
  auto credentials = auth ? basic_credentials(*auth) : std::nullopt;
  for (const Challenge& challenge : challenges) {
    if (challenge.scheme != "bearer") continue;
    auto realm = challenge.params.find("realm");
    if (realm == challenge.params.end() || realm->second.empty()) continue;
    auto service = challenge.params.find("service");
    return fetch_token(endpoint, realm->second,
                       service == challenge.params.end() ? "" : service->second,
                       scope_for(endpoint, access), auth);
  }
  for (const Challenge& challenge : challenges) {
    if (challenge.scheme == "basic" && credentials) {
      auto forever = std::chrono::steady_clock::time_point::max();
      return CachedAuth{basic_header(*credentials), forever};
    }
  }
  return core::failf(Errc::kUnauthorized, "{}; no credentials for {} in registries.yaml configs",
                     registry_error(unauthorized).message(), endpoint.host);
}

core::Result<RegistryClient::Impl::CachedAuth> RegistryClient::Impl::fetch_token(
    const Endpoint& endpoint, const std::string& realm, const std::string& service,
    const std::string& scope, const std::optional<RegistryAuth>& auth) {
  core::http::Url realm_url = K3A_TRY(core::http::Url::parse(realm));
  if (realm_url.scheme == "http" && !endpoint.api.starts_with("http://")) {
    return core::failf(Errc::kForbidden, "token realm {} is plain http for an https registry",
                       core::quote(realm));
  }
  // The realm host's own TLS settings, else the registry's (one CA for both is the usual case).
  std::string host =
      config.config_for(realm_url.authority()) ? realm_url.authority() : endpoint.host;
  core::http::Client& client = client_for(host);
  Request request;
  if (auth && !auth->identity_token.empty()) {
    request.method = "POST";
    request.url = realm;
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    request.body = with_query("", {{"grant_type", "refresh_token"},
                                   {"refresh_token", auth->identity_token},
                                   {"service", service},
                                   {"scope", scope},
                                   {"client_id", "k3s-airgap"}})
                       .substr(1);
  } else {
    request.url = with_query(realm, {{"service", service}, {"scope", scope}});
    auto credentials = auth ? basic_credentials(*auth) : std::nullopt;
    if (credentials) request.headers.emplace_back("Authorization", basic_header(*credentials));
  }
  core::log::debug("token for {} from {}", scope, realm);
  Response response = K3A_TRY(client.send(request));
  if (response.status / 100 != 2) {
    core::Error error = registry_error(response);
    return core::failf(error.code(), "token server {}: {}{}", realm_url.authority(),
                       error.message(),
                       response.status == 401 ? "; check the credentials in registries.yaml" : "");
  }
  return parse_token(response, realm_url.authority());
}

}  // namespace images
