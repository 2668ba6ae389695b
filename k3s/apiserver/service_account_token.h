// Service account tokens: JWTs (ES256) signed with the cluster's service account key, with
// upstream's claims (iss, sub system:serviceaccount:<ns>:<name>, aud, iat, nbf, exp and the
// kubernetes.io claim naming the namespace and the account with its uid). Pure functions;
// keys may be shared between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/crypto/keys.h"

namespace k3s::apiserver {

inline constexpr char kServiceAccountIssuer[] = "https://kubernetes.default.svc.cluster.local";

struct ServiceAccountClaims {
  std::string ns, name, uid;
  std::vector<std::string> audiences;
  int64_t issued = 0, expires = 0;  // seconds since the epoch
};

core::Result<std::string> sign_service_account_token(const core::PrivateKey& key,
                                                     const ServiceAccountClaims& claims);

// The claims of a token this key signed that is valid at `now` for one of `audiences`;
// kUnauthorized (naming why) otherwise. Also kUnauthorized for anything that is not a JWT.
core::Result<ServiceAccountClaims> verify_service_account_token(
    const core::PublicKey& key, const std::string& token, const std::vector<std::string>& audiences,
    int64_t now);

}  // namespace k3s::apiserver
