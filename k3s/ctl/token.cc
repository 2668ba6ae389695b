#include "k3s/ctl/token.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/sha256.h"
#include "k3s/apiserver/bootstrap_token.h"
#include "k3s/client/kube_client.h"

namespace k3s::ctl {
namespace {

using apiserver::BootstrapToken;
using core::Errc;
using nlohmann::json;

constexpr char kSecrets[] = "/api/v1/namespaces/kube-system/secrets";

core::Result<client::KubeClient> connect(const TokenOptions& options) {
  return client::KubeClient(
      K3A_TRY(client::load_kubeconfig(client::kubeconfig_path(options.kubeconfig))));
}

std::string join_or_none(const std::vector<std::string>& items) {
  std::string j = fmt::format("{}", fmt::join(items, ","));
  return j.empty() ? "<none>" : j;
}

}  // namespace

void token_generate(std::FILE* out) {
  fmt::print(out, "{}\n", apiserver::generate_bootstrap_token());
}

core::Result<void> token_create(const TokenOptions& options, const std::string& given,
                                std::FILE* out) {
  BootstrapToken t = K3A_TRY(apiserver::parse_bootstrap_token(
      given.empty() ? apiserver::generate_bootstrap_token() : given));
  t.description = options.description;
  if (!options.usages.empty()) t.usages = options.usages;
  if (!options.groups.empty()) t.groups = options.groups;
  K3A_CHECK(apiserver::validate_bootstrap_token(t));
  int64_t ttl = K3A_TRY(core::parse_duration(options.ttl));
  if (ttl > 0) t.expires = core::system_now() + ttl;

  auto api = K3A_TRY(connect(options));
  std::string name = apiserver::bootstrap_secret_name(t.id);
  if (api.call("GET", std::string(kSecrets) + "/" + name)) {
    return core::failf(Errc::kAlreadyExists, "a token with id \"{}\" already exists", t.id);
  }
  json secret = apiserver::bootstrap_token_secret(t);
  K3A_CHECK(api.call("POST", kSecrets, &secret));
  // The secure form carries the hash of the CA the kubeconfig trusts (the server CA's bytes).
  std::string prefix;
  if (const std::string& ca = api.endpoint().tls.ca_pem; !ca.empty()) {
    prefix = "K10" + core::Sha256::hex_of(ca) + "::";
  }
  fmt::print(out, "{}{}.{}\n", prefix, t.id, t.secret);
  return {};
}

core::Result<void> token_delete(const TokenOptions& options, const std::vector<std::string>& ids,
                                std::FILE* out) {
  if (ids.empty())
    return core::fail(Errc::kInvalid, "missing argument; 'token delete' is missing token");
  auto api = K3A_TRY(connect(options));
  for (const auto& arg : ids) {
    std::string id = arg;
    if (!apiserver::is_bootstrap_token_id(id)) {
      auto t = apiserver::parse_bootstrap_token(arg);
      if (!t)
        return core::fail(Errc::kInvalid,
                          "given token didn't match pattern [a-z0-9]{6} or "
                          "[a-z0-9]{6}.[a-z0-9]{16}");
      id = t->id;
    }
    auto r = api.call("DELETE", std::string(kSecrets) + "/" + apiserver::bootstrap_secret_name(id));
    if (!r) {
      return core::failf(r.error().code(), "failed to delete bootstrap token \"{}\": {}", id,
                         r.error().message());
    }
    fmt::print(out, "bootstrap token \"{}\" deleted\n", id);
  }
  return {};
}

core::Result<void> token_list(const TokenOptions& options, std::FILE* out) {
  if (options.output != "text" && options.output != "json" && options.output != "yaml")
    return core::failf(Errc::kInvalid, "unknown output format \"{}\" (text, json, yaml)",
                       options.output);
  auto api = K3A_TRY(connect(options));
  auto list = api.call(
      "GET", std::string(kSecrets) + "?fieldSelector=type%3D" + "bootstrap.kubernetes.io%2Ftoken");
  if (!list)
    return core::failf(list.error().code(), "failed to list bootstrap tokens: {}",
                       list.error().message());
  int64_t now = core::system_now();
  std::vector<std::vector<std::string>> rows = {
      {"TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"}};
  json tokens = json::array();
  for (const auto& item : (*list)["items"]) {
    auto t = apiserver::bootstrap_token_from_secret(item);
    if (!t) {
      fmt::print(out, "{}\n", t.error().message());
      continue;
    }
    json j = {{"token", t->id + "." + t->secret}, {"usages", t->usages}, {"groups", t->groups}};
    if (!t->description.empty()) j["description"] = t->description;
    std::string ttl = "<forever>", expires = "<never>";
    if (t->expires) {
      ttl = core::short_human_duration(t->expires - now);
      expires = core::format_rfc3339(t->expires);
      j["expires"] = expires;
    }
    tokens.push_back(j);
    rows.push_back({t->id, ttl, expires, join_or_none(t->usages),
                    t->description.empty() ? "<none>" : t->description, join_or_none(t->groups)});
  }
  if (options.output == "json") {
    fmt::print(out, "{}\n", tokens.dump());
  } else if (options.output == "yaml") {
    for (const auto& t : tokens) {
      fmt::print(out, "- token: {}\n", t["token"].get<std::string>());
      if (t.contains("description"))
        fmt::print(out, "  description: {}\n", t["description"].dump());
      if (t.contains("expires"))
        fmt::print(out, "  expires: \"{}\"\n", t["expires"].get<std::string>());
      fmt::print(out, "  usages: {}\n  groups: {}\n", t["usages"].dump(), t["groups"].dump());
    }
  } else {
    fmt::print(out, "{}", core::format_columns(rows));
  }
  return {};
}

}  // namespace k3s::ctl
