#include "core/crypto/keys.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace core {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

Result<void> require_p256(EVP_PKEY* key) {
  char group[64] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
      !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) ||
      std::string_view(group, len) != "prime256v1") {
    return fail(Errc::kInvalid, "key is not an ECDSA P-256 key");
  }
  return {};
}

Result<std::string> spki_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(key, &der);
  if (n <= 0) return fail(Errc::kInternal, "cannot encode public key: " + openssl_error());
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

Result<PublicKey> public_from(EVP_PKEY* key);

}  // namespace

void PkeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

Result<PublicKey> PublicKey::from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return fail(Errc::kInvalid, "not a PEM public key");
  }
  K3A_CHECK(require_p256(key.get()));
  std::string der = K3A_TRY(spki_der(key.get()));
  return PublicKey(std::move(key), Sha256::hex_of(der));
}

std::string PublicKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  return bio_contents(bio.get());
}

Result<void> PublicKey::verify_digest(const Sha256::Digest& digest,
                                      std::string_view der_signature) const {
  if (der_signature.empty() || der_signature.size() > 256) {
    return failf(Errc::kIntegrity, "signature of {} bytes is not an ECDSA P-256 signature",
                 der_signature.size());
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) <= 0) {
    return fail(Errc::kInternal, "verify init: " + openssl_error());
  }
  int rc = EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(der_signature.data()),
                           der_signature.size(), digest.data(), digest.size());
  ERR_clear_error();
  if (rc != 1)
    return fail(Errc::kIntegrity, "signature does not match key " + key_id_.substr(0, 16));
  return {};
}

Result<PrivateKey> PrivateKey::generate() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return fail(Errc::kInternal, "key generation: " + openssl_error());
  std::shared_ptr<EVP_PKEY> shared(key.release(), PkeyFree());
  PublicKey pub = K3A_TRY(public_from(shared.get()));
  return PrivateKey(std::move(shared), std::move(pub));
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    return fail(Errc::kInvalid, "not an unencrypted PEM private key");
  }
  K3A_CHECK(require_p256(key.get()));
  std::shared_ptr<EVP_PKEY> shared(key.release(), PkeyFree());
  PublicKey pub = K3A_TRY(public_from(shared.get()));
  return PrivateKey(std::move(shared), std::move(pub));
}

std::string PrivateKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return bio_contents(bio.get());
}

Result<std::string> PrivateKey::sign_digest(const Sha256::Digest& digest) const {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) <= 0) {
    return fail(Errc::kInternal, "sign init: " + openssl_error());
  }
  size_t len = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &len, digest.data(), digest.size()) <= 0) {
    return fail(Errc::kInternal, "sign: " + openssl_error());
  }
  std::string sig(len, '\0');
  if (EVP_PKEY_sign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, digest.data(),
                    digest.size()) <= 0) {
    return fail(Errc::kInternal, "sign: " + openssl_error());
  }
  sig.resize(len);
  return sig;
}

namespace {
Result<PublicKey> public_from(EVP_PKEY* key) {
  // Round-trip through DER so the public object holds no private material.
  std::string der = K3A_TRY(spki_der(key));
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  PkeyPtr pub(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!pub) return fail(Errc::kInternal, "cannot decode public key: " + openssl_error());
  return PublicKey(std::move(pub), Sha256::hex_of(der));
}
}  // namespace

}  // namespace core
