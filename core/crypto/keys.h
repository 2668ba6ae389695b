// ECDSA P-256 keys and signatures in the `cosign sign-blob` format: a signature is the ASN.1
// DER ECDSA signature over the SHA-256 digest of the signed bytes, so
// `openssl dgst -sha256 -verify key.pub -signature sig.der FILE` accepts it. Keys are PEM
// (PKCS#8 private, SubjectPublicKeyInfo public). Key objects are immutable after creation and
// may be shared between threads for signing and verifying.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/crypto/sha256.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace core {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const;
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

class PublicKey {
 public:
  // Parses a PEM "PUBLIC KEY"; only EC P-256 keys are accepted (kInvalid otherwise).
  static Result<PublicKey> from_pem(std::string_view pem);
  std::string to_pem() const;
  // Hex SHA-256 of the DER SubjectPublicKeyInfo: a stable name for the key.
  const std::string& key_id() const { return key_id_; }
  // kIntegrity when the signature is malformed or does not match.
  Result<void> verify_digest(const Sha256::Digest& digest, std::string_view der_signature) const;
  Result<void> verify(std::string_view data, std::string_view der_signature) const {
    return verify_digest(Sha256::of(data), der_signature);
  }
  EVP_PKEY* native() const { return key_.get(); }  // for core/crypto's X.509 code

  // Takes ownership of a public key whose id the caller computed.
  PublicKey(PkeyPtr key, std::string key_id) : key_(std::move(key)), key_id_(std::move(key_id)) {}

 private:
  std::shared_ptr<EVP_PKEY> key_;  // shared: copies of a trusted key are cheap and immutable
  std::string key_id_;
};

class PrivateKey {
 public:
  static Result<PrivateKey> generate();
  // Accepts PKCS#8 "PRIVATE KEY" and SEC1 "EC PRIVATE KEY" PEM, P-256 only.
  static Result<PrivateKey> from_pem(std::string_view pem);
  std::string to_pem() const;
  const PublicKey& public_key() const { return public_; }
  // DER signature over a SHA-256 digest (randomised: two calls give different bytes).
  Result<std::string> sign_digest(const Sha256::Digest& digest) const;
  Result<std::string> sign(std::string_view data) const { return sign_digest(Sha256::of(data)); }
  EVP_PKEY* native() const { return key_.get(); }  // for core/crypto's X.509 code

 private:
  PrivateKey(std::shared_ptr<EVP_PKEY> key, PublicKey pub)
      : key_(std::move(key)), public_(std::move(pub)) {}
  std::shared_ptr<EVP_PKEY> key_;
  PublicKey public_;
};

}  // namespace core
