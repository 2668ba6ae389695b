#include "core/crypto/x509.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/base/strings.h"

namespace core {
namespace {

struct X509Free {
  void operator()(X509* c) const { X509_free(c); }
};

std::string ssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return e ? buf : "unknown OpenSSL error";
}

std::string name_entry(X509_NAME* name, int index) {
  X509_NAME_ENTRY* e = X509_NAME_get_entry(name, index);
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(e);
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     ASN1_STRING_length(data));
}

std::vector<std::string> name_values(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    out.push_back(name_entry(name, i));
  }
  return out;
}

Result<void> add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return failf(Errc::kInvalid, "certificate extension {}: {}", value, ssl_error());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return {};
}

}  // namespace

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  if (!c) {
    ERR_clear_error();
    return fail(Errc::kInvalid, "no PEM certificate");
  }
  return Certificate(std::shared_ptr<X509>(c, X509Free()));
}

Result<std::vector<Certificate>> Certificate::all_from_pem(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::vector<Certificate> out;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.push_back(Certificate(std::shared_ptr<X509>(c, X509Free())));
  }
  ERR_clear_error();  // the read past the last certificate
  if (out.empty()) return fail(Errc::kInvalid, "no PEM certificate");
  return out;
}

Result<Certificate> Certificate::issue(const CertSpec& spec, const PublicKey& subject,
                                       const PrivateKey& issuer_key, const Certificate* issuer) {
  std::shared_ptr<X509> cert(X509_new(), X509Free());
  X509* c = cert.get();
  X509_set_version(c, 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
  BN_free(bn);
  ASN1_TIME_set(X509_getm_notBefore(c), static_cast<time_t>(spec.not_before));
  ASN1_TIME_set(X509_getm_notAfter(c), static_cast<time_t>(spec.not_after));
  X509_NAME* name = X509_get_subject_name(c);
  for (const auto& o : spec.organizations) {
    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(o.c_str()), -1, -1, 0);
  }
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer->native()) : name);
  if (X509_set_pubkey(c, subject.native()) != 1) {
    return fail(Errc::kInternal, "certificate public key: " + ssl_error());
  }
  X509* iss = issuer ? issuer->native() : c;
  if (spec.is_ca) {
    K3A_CHECK(add_ext(c, iss, NID_basic_constraints, "critical,CA:TRUE"));
    K3A_CHECK(
        add_ext(c, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment,keyCertSign"));
  } else {
    K3A_CHECK(add_ext(c, iss, NID_basic_constraints, "critical,CA:FALSE"));
    K3A_CHECK(add_ext(c, iss, NID_key_usage, "critical,digitalSignature,keyEncipherment"));
    std::string eku;
    if (spec.server_auth) eku = "serverAuth";
    if (spec.client_auth) eku += std::string(eku.empty() ? "" : ",") + "clientAuth";
    if (!eku.empty()) K3A_CHECK(add_ext(c, iss, NID_ext_key_usage, eku));
  }
  K3A_CHECK(add_ext(c, iss, NID_subject_key_identifier, "hash"));
  if (issuer) K3A_CHECK(add_ext(c, iss, NID_authority_key_identifier, "keyid:always"));
  std::string san;
  for (const auto& d : spec.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : spec.ip_addresses) {
    san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  }
  if (!san.empty()) K3A_CHECK(add_ext(c, iss, NID_subject_alt_name, san));
  if (X509_sign(c, issuer_key.native(), EVP_sha256()) <= 0) {
    return fail(Errc::kInternal, "certificate signing: " + ssl_error());
  }
  return Certificate(std::move(cert));
}

std::string Certificate::to_pem() const {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), cert_.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string Certificate::der() const {
  unsigned char* out = nullptr;
  int n = i2d_X509(cert_.get(), &out);
  std::string s(reinterpret_cast<char*>(out), n > 0 ? n : 0);
  OPENSSL_free(out);
  return s;
}

std::string Certificate::common_name() const {
  auto v = name_values(X509_get_subject_name(cert_.get()), NID_commonName);
  return v.empty() ? "" : v.front();
}

std::vector<std::string> Certificate::organizations() const {
  return name_values(X509_get_subject_name(cert_.get()), NID_organizationName);
}

std::vector<std::string> Certificate::dns_names() const {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(g->d.dNSName)),
                       ASN1_STRING_length(g->d.dNSName));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::vector<std::string> Certificate::ip_addresses() const {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert_.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    if (g->type != GEN_IPADD) continue;
    int len = ASN1_STRING_length(g->d.iPAddress);
    char buf[INET6_ADDRSTRLEN] = {0};
    inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(g->d.iPAddress), buf,
              sizeof buf);
    out.emplace_back(buf);
  }
  GENERAL_NAMES_free(names);
  return out;
}

int64_t Certificate::not_after() const {
  struct tm t {};
  ASN1_TIME_to_tm(X509_get0_notAfter(cert_.get()), &t);
  return static_cast<int64_t>(timegm(&t));
}

bool Certificate::is_ca() const { return X509_check_ca(cert_.get()) > 0; }

bool Certificate::server_auth() const {
  return (X509_get_extended_key_usage(cert_.get()) & XKU_SSL_SERVER) != 0 &&
         X509_get_extension_flags(cert_.get()) & EXFLAG_XKUSAGE;
}

bool Certificate::client_auth() const {
  return (X509_get_extended_key_usage(cert_.get()) & XKU_SSL_CLIENT) != 0 &&
         X509_get_extension_flags(cert_.get()) & EXFLAG_XKUSAGE;
}

bool Certificate::signed_by(const Certificate& issuer) const {
  EVP_PKEY* key = X509_get0_pubkey(issuer.cert_.get());
  bool ok = key && X509_verify(cert_.get(), key) == 1 &&
            X509_check_issued(issuer.cert_.get(), cert_.get()) == X509_V_OK;
  ERR_clear_error();
  return ok;
}

std::string random_hex(size_t n) {
  std::string bytes(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(n));
  return hex_encode(bytes);
}

}  // namespace core
