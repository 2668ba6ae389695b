#include "k3s/apiserver/bootstrap_token.h"

#include <fmt/ranges.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <regex>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/base64.h"
#include "core/crypto/x509.h"

namespace k3s::apiserver {
namespace {

using core::Errc;
using nlohmann::json;

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

bool token_chars(const std::string& s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
         });
}

// Uniform characters from kAlphabet: random bytes, rejecting those past the last multiple of 36.
std::string random_chars(size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string hex = core::random_hex(32);
    for (size_t i = 0; i + 1 < hex.size() && out.size() < n; i += 2) {
      int byte = std::stoi(hex.substr(i, 2), nullptr, 16);
      if (byte < 252) out += kAlphabet[byte % 36];
    }
  }
  return out;
}

std::string data_field(const json& secret, const std::string& key) {
  if (!secret.contains("data") || !secret["data"].is_object()) return "";
  const json& d = secret["data"];
  if (!d.contains(key) || !d[key].is_string()) return "";
  return core::base64_decode(d[key].get<std::string>()).value_or("");
}

}  // namespace

std::string generate_bootstrap_token() { return random_chars(6) + "." + random_chars(16); }

bool is_bootstrap_token_id(const std::string& id) { return token_chars(id, 6); }

core::Result<BootstrapToken> parse_bootstrap_token(const std::string& token) {
  std::string t = token;
  if (t.starts_with("K10")) {
    size_t sep = t.find("::");
    if (sep != std::string::npos) t = t.substr(sep + 2);
  }
  size_t dot = t.find('.');
  BootstrapToken out;
  if (dot != std::string::npos) {
    out.id = t.substr(0, dot);
    out.secret = t.substr(dot + 1);
  }
  if (!token_chars(out.id, 6) || !token_chars(out.secret, 16)) {
    return core::fail(Errc::kInvalid,
                      "the bootstrap token does not match the pattern [a-z0-9]{6}.[a-z0-9]{16}");
  }
  return out;
}

core::Result<void> validate_bootstrap_token(const BootstrapToken& token) {
  for (const auto& u : token.usages) {
    if (u != "signing" && u != "authentication")
      return core::failf(Errc::kInvalid,
                         "invalid bootstrap token usage \"{}\" (valid: signing, authentication)",
                         u);
  }
  static const std::regex group("^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$");
  for (const auto& g : token.groups) {
    if (!std::regex_match(g, group))
      return core::failf(Errc::kInvalid,
                         "bootstrap group \"{}\" must match system:bootstrappers:[a-z0-9:-]*", g);
  }
  return {};
}

std::string bootstrap_secret_name(const std::string& id) { return "bootstrap-token-" + id; }

json bootstrap_token_secret(const BootstrapToken& token) {
  json data = {{"token-id", core::base64_encode(token.id)},
               {"token-secret", core::base64_encode(token.secret)}};
  if (!token.description.empty()) data["description"] = core::base64_encode(token.description);
  if (token.expires > 0)
    data["expiration"] = core::base64_encode(core::format_rfc3339(token.expires));
  for (const auto& u : token.usages) data["usage-bootstrap-" + u] = core::base64_encode("true");
  if (!token.groups.empty())
    data["auth-extra-groups"] =
        core::base64_encode(fmt::format("{}", fmt::join(token.groups, ",")));
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", bootstrap_secret_name(token.id)}, {"namespace", "kube-system"}}},
          {"type", kBootstrapTokenType},
          {"data", data}};
}

core::Result<BootstrapToken> bootstrap_token_from_secret(const json& secret) {
  std::string name = secret.contains("metadata") ? secret["metadata"].value("name", "") : "";
  if (secret.value("type", "") != kBootstrapTokenType)
    return core::failf(Errc::kInvalid, "secret {} is not of type {}", name, kBootstrapTokenType);
  BootstrapToken t;
  t.id = data_field(secret, "token-id");
  t.secret = data_field(secret, "token-secret");
  if (!token_chars(t.id, 6) || !token_chars(t.secret, 16) || name != bootstrap_secret_name(t.id))
    return core::failf(Errc::kInvalid, "secret {} does not hold a well-formed bootstrap token",
                       name);
  t.description = data_field(secret, "description");
  if (std::string exp = data_field(secret, "expiration"); !exp.empty()) {
    auto when = core::parse_rfc3339(exp);
    if (!when) return core::failf(Errc::kInvalid, "secret {}: bad expiration {}", name, exp);
    t.expires = *when;
  }
  t.usages.clear();
  for (const char* u : {"signing", "authentication"}) {
    if (data_field(secret, std::string("usage-bootstrap-") + u) == "true") t.usages.push_back(u);
  }
  t.groups.clear();
  std::string groups = data_field(secret, "auth-extra-groups");
  for (auto g : core::split(groups, ',')) {
    if (!core::trim(g).empty()) t.groups.emplace_back(core::trim(g));
  }
  return t;
}

std::optional<BootstrapIdentity> authenticate_bootstrap_token(const std::string& presented,
                                                              const json& secret, int64_t now) {
  auto given = parse_bootstrap_token(presented);
  auto stored = bootstrap_token_from_secret(secret);
  if (!given || !stored || given->id != stored->id) return std::nullopt;
  if (CRYPTO_memcmp(given->secret.data(), stored->secret.data(), 16) != 0) return std::nullopt;
  if (stored->expires != 0 && now >= stored->expires) return std::nullopt;
  if (std::find(stored->usages.begin(), stored->usages.end(), "authentication") ==
      stored->usages.end())
    return std::nullopt;
  BootstrapIdentity id{"system:bootstrap:" + stored->id, {"system:bootstrappers"}};
  for (const auto& g : stored->groups) id.groups.push_back(g);
  return id;
}

}  // namespace k3s::apiserver
