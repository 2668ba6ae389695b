#include "k3s/apiserver/service_account_token.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/crypto/base64.h"

namespace k3s::apiserver {
namespace {

using core::Errc;
using json = nlohmann::json;

std::string b64url(std::string_view bytes) {
  std::string s = core::base64_encode(bytes);
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

core::Result<std::string> unb64url(std::string_view text) {
  std::string s(text);
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  return core::base64_decode(s);
}

struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
using SigPtr = std::unique_ptr<ECDSA_SIG, SigFree>;

// JWS ES256 signatures are r || s, 32 bytes each; OpenSSL speaks DER.
core::Result<std::string> der_to_raw(const std::string& der) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return core::fail(Errc::kInternal, "malformed ECDSA signature");
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  return raw;
}

std::string raw_to_der(const std::string& raw) {
  SigPtr sig(ECDSA_SIG_new());
  auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  ECDSA_SIG_set0(sig.get(), BN_bin2bn(bytes, 32, nullptr), BN_bin2bn(bytes + 32, 32, nullptr));
  unsigned char* out = nullptr;
  int n = i2d_ECDSA_SIG(sig.get(), &out);
  std::string der = n > 0 ? std::string(reinterpret_cast<char*>(out), n) : std::string();
  OPENSSL_free(out);
  return der;
}

}  // namespace

core::Result<std::string> sign_service_account_token(const core::PrivateKey& key,
                                                     const ServiceAccountClaims& c) {
  json header = {{"alg", "ES256"}, {"kid", key.public_key().key_id().substr(0, 43)}};
  json payload = {{"aud", c.audiences},
                  {"exp", c.expires},
                  {"iat", c.issued},
                  {"iss", kServiceAccountIssuer},
                  {"kubernetes.io",
                   {{"namespace", c.ns}, {"serviceaccount", {{"name", c.name}, {"uid", c.uid}}}}},
                  {"nbf", c.issued},
                  {"sub", "system:serviceaccount:" + c.ns + ":" + c.name}};
  std::string signing_input = b64url(header.dump()) + "." + b64url(payload.dump());
  std::string der = K3A_TRY(key.sign(signing_input));
  return signing_input + "." + b64url(K3A_TRY(der_to_raw(der)));
}

core::Result<ServiceAccountClaims> verify_service_account_token(
    const core::PublicKey& key, const std::string& token, const std::vector<std::string>& audiences,
    int64_t now) {
  auto parts = core::split(token, '.');
  if (parts.size() != 3) return core::fail(Errc::kUnauthorized, "not a JWT");
  auto header = unb64url(parts[0]);
  auto payload = unb64url(parts[1]);
  auto signature = unb64url(parts[2]);
  if (!header || !payload || !signature || signature->size() != 64)
    return core::fail(Errc::kUnauthorized, "malformed JWT");
  json h = json::parse(*header, nullptr, false), p = json::parse(*payload, nullptr, false);
  if (!h.is_object() || !p.is_object() || h.value("alg", "") != "ES256")
    return core::fail(Errc::kUnauthorized, "unsupported JWT");
  std::string signing_input = std::string(parts[0]) + "." + std::string(parts[1]);
  if (!key.verify(signing_input, raw_to_der(*signature)))
    return core::fail(Errc::kUnauthorized, "invalid signature");
  if (p.value("iss", "") != kServiceAccountIssuer)
    return core::fail(Errc::kUnauthorized, "unknown issuer");
  ServiceAccountClaims c;
  c.issued = p.value("iat", int64_t{0});
  c.expires = p.value("exp", int64_t{0});
  if (now >= c.expires || now < p.value("nbf", int64_t{0}))
    return core::fail(Errc::kUnauthorized, "token expired or not yet valid");
  json aud = p.value("aud", json::array());
  if (aud.is_string()) aud = json::array({aud});
  for (const auto& a : aud) {
    if (a.is_string()) c.audiences.push_back(a.get<std::string>());
  }
  bool ours = std::any_of(c.audiences.begin(), c.audiences.end(), [&](const std::string& a) {
    return std::find(audiences.begin(), audiences.end(), a) != audiences.end();
  });
  if (!ours) return core::fail(Errc::kUnauthorized, "token audiences are not this server's");
  const json& k8s = p.value("kubernetes.io", json::object());
  c.ns = k8s.value("namespace", "");
  c.name = k8s.value("serviceaccount", json::object()).value("name", "");
  c.uid = k8s.value("serviceaccount", json::object()).value("uid", "");
  if (c.ns.empty() || c.name.empty()) return core::fail(Errc::kUnauthorized, "no service account");
  return c;
}

}  // namespace k3s::apiserver
