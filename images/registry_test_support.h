// Peers for the registry client's tests: a real `docker-registry` (distribution 2.8) started on
// 127.0.0.1 with a free port and its own storage (optionally with htpasswd or token auth and TLS),
// a token server issuing ES256 JWTs as distribution's token auth expects them, and key material
// made with the openssl command. Test-only; not thread-safe except where noted.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/http/server.h"
#include "core/proc/process.h"
#include "images/blob_store.h"
#include "images/manifest.h"

namespace images::testing {

// A self-signed EC P-256 certificate with SAN IP:127.0.0.1 (PEM files in dir).
struct CertFiles {
  std::string cert, key;
};
core::Result<CertFiles> make_cert(const std::string& dir, const std::string& name);

struct RegistryOptions {
  std::string htpasswd_file;  // auth: htpasswd
  struct Token {
    std::string realm, service, issuer, root_cert_bundle;
  };
  std::optional<Token> token;  // auth: token
  std::optional<CertFiles> tls;
};

class LocalRegistry {
 public:
  // Writes a config, starts `docker-registry serve` and polls /v2/ until it answers (bounded).
  static core::Result<std::unique_ptr<LocalRegistry>> start(const std::string& dir,
                                                            const RegistryOptions& options = {});
  ~LocalRegistry();

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return (tls_ ? "https://" : "http://") + host(); }
  std::string log() const;

 private:
  LocalRegistry() = default;
  core::Result<void> wait_ready();

  int port_ = 0;
  bool tls_ = false;
  std::string dir_, log_;
  std::optional<core::Process> process_;
};

// Issues tokens for user/password (basic credentials) or for the refresh token "refresh-me"; counts
// the token requests it answered (safe to read from the test thread).
class TokenServer {
 public:
  static core::Result<std::unique_ptr<TokenServer>> start(const CertFiles& signing,
                                                          std::string service, std::string issuer);
  std::string realm() const { return server_->url() + "/token"; }
  int issued() const { return issued_; }
  int refused() const { return refused_; }

 private:
  TokenServer() = default;
  void handle(const core::http::ServerRequest& request, core::http::ResponseWriter& out);
  core::Result<std::string> jwt(const std::string& subject, const std::string& scope) const;

  std::string service_, issuer_, key_pem_, cert_der_b64_;
  std::atomic<int> issued_{0}, refused_{0};
  std::unique_ptr<core::http::Server> server_;
};

// One busybox image per platform, built into store; the manifests' descriptors in order.
core::Result<std::vector<Descriptor>> build_busybox_images(
    const std::string& dir, BlobStore& store, const std::vector<std::string>& platforms);

// base64url without padding, as JWTs use it.
std::string base64url(std::string_view bytes);

}  // namespace images::testing
