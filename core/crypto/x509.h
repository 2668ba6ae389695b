// X.509 certificates for the cluster's CAs and leaves: issue (self-signed CAs and leaves with
// subject alternative names and key usages), parse PEM, and read back what renewal decisions
// need. Keys are the ECDSA P-256 keys of keys.h. Certificate objects are immutable and may be
// shared between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/crypto/keys.h"

typedef struct x509_st X509;

namespace core {

struct CertSpec {
  std::string common_name;
  std::vector<std::string> organizations;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // IPv4 or IPv6 literals
  bool is_ca = false;
  bool server_auth = false;
  bool client_auth = false;
  int64_t not_before = 0;  // seconds since the epoch
  int64_t not_after = 0;
};

class Certificate {
 public:
  // The first certificate of a PEM text (kInvalid when there is none).
  static Result<Certificate> from_pem(std::string_view pem);
  // Every certificate of a PEM text, in order (a leaf, then its chain); kInvalid when none.
  static Result<std::vector<Certificate>> all_from_pem(std::string_view pem);
  // Issues a certificate for `subject` signed by `issuer_key`; `issuer` null: self-signed.
  static Result<Certificate> issue(const CertSpec& spec, const PublicKey& subject,
                                   const PrivateKey& issuer_key, const Certificate* issuer);

  std::string to_pem() const;
  std::string der() const;
  std::string common_name() const;
  std::vector<std::string> organizations() const;
  std::vector<std::string> dns_names() const;
  std::vector<std::string> ip_addresses() const;  // canonical text form
  int64_t not_after() const;
  bool is_ca() const;
  // Extended key usages.
  bool server_auth() const;
  bool client_auth() const;
  // Whether `issuer`'s key signed this certificate and the names chain.
  bool signed_by(const Certificate& issuer) const;
  X509* native() const { return cert_.get(); }

 private:
  explicit Certificate(std::shared_ptr<X509> cert) : cert_(std::move(cert)) {}
  std::shared_ptr<X509> cert_;
};

// n random bytes from OpenSSL's CSPRNG, as lowercase hex (2n characters).
std::string random_hex(size_t n);

}  // namespace core
