// Bootstrap tokens (kubeadm's format, which k3s shares): "<id>.<secret>" with a 6-character id
// and a 16-character secret from [a-z0-9], stored as the Secret kube-system/bootstrap-token-<id>
// of type bootstrap.kubernetes.io/token. Pure functions; the caller reads and writes the Secret.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace k3s::apiserver {

inline constexpr char kBootstrapTokenType[] = "bootstrap.kubernetes.io/token";
inline constexpr char kDefaultBootstrapGroup[] = "system:bootstrappers:k3s:default-node-token";

struct BootstrapToken {
  std::string id, secret;
  std::string description;
  int64_t expires = 0;  // seconds since the epoch; 0 never
  std::vector<std::string> usages = {"signing", "authentication"};
  std::vector<std::string> groups = {kDefaultBootstrapGroup};
};

// A fresh random "<id>.<secret>".
std::string generate_bootstrap_token();
bool is_bootstrap_token_id(const std::string& id);
// Splits "<id>.<secret>" or "K10<hash>::<id>.<secret>"; kInvalid naming the pattern otherwise.
core::Result<BootstrapToken> parse_bootstrap_token(const std::string& token);
// Checks usages (signing, authentication) and groups (system:bootstrappers:...); kInvalid
// naming the bad value.
core::Result<void> validate_bootstrap_token(const BootstrapToken& token);

std::string bootstrap_secret_name(const std::string& id);
// The Secret (data base64-encoded, as the API stores it).
nlohmann::json bootstrap_token_secret(const BootstrapToken& token);
// Reads a Secret back; kInvalid when it is not a well-formed bootstrap token Secret.
core::Result<BootstrapToken> bootstrap_token_from_secret(const nlohmann::json& secret);

// The user and groups a presented "<id>.<secret>" authenticates as against its Secret, or
// nullopt: wrong secret (compared in constant time), expired at `now`, or the authentication
// usage not granted.
struct BootstrapIdentity {
  std::string user;
  std::vector<std::string> groups;
};
std::optional<BootstrapIdentity> authenticate_bootstrap_token(const std::string& presented,
                                                              const nlohmann::json& secret,
                                                              int64_t now);

}  // namespace k3s::apiserver
