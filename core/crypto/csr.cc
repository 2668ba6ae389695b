#include "core/crypto/csr.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace core {
namespace {

struct ReqFree {
  void operator()(X509_REQ* r) const { X509_REQ_free(r); }
};
using ReqPtr = std::unique_ptr<X509_REQ, ReqFree>;
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct NameFree {
  void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};

}  // namespace

Result<std::string> make_csr(const PrivateKey& key, const std::string& common_name) {
  ReqPtr req(X509_REQ_new());
  std::unique_ptr<X509_NAME, NameFree> name(X509_NAME_new());
  if (!req || !name ||
      !X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                  -1, 0) ||
      !X509_REQ_set_subject_name(req.get(), name.get()) ||
      !X509_REQ_set_pubkey(req.get(), key.native()) ||
      X509_REQ_sign(req.get(), key.native(), EVP_sha256()) <= 0) {
    ERR_clear_error();
    return fail(Errc::kInternal, "cannot build a certificate request");
  }
  unsigned char* out = nullptr;
  int n = i2d_X509_REQ(req.get(), &out);
  if (n <= 0) return fail(Errc::kInternal, "cannot encode a certificate request");
  std::string der(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return der;
}

Result<PublicKey> csr_public_key(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req) {
    ERR_clear_error();
    return fail(Errc::kInvalid, "the body is not a DER certificate request");
  }
  PkeyPtr key(X509_REQ_get_pubkey(req.get()));
  if (!key || X509_REQ_verify(req.get(), key.get()) != 1) {
    ERR_clear_error();
    return fail(Errc::kInvalid, "the certificate request's signature does not verify");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return PublicKey::from_pem(std::string_view(data, static_cast<size_t>(len)));
}

}  // namespace core
