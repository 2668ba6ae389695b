#include "images/registry_test_support.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/crypto/keys.h"
#include "core/fs/files.h"
#include "core/http/client.h"
#include "core/http/url.h"
#include "core/serde/json.h"
#include "images/builder.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace images::testing {
namespace {

using core::Errc;

std::map<std::string, std::string> parse_form(std::string_view text) {
  std::map<std::string, std::string> out;
  for (std::string_view pair : core::split(text, '&')) {
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    std::string value(pair.substr(eq + 1));
    std::replace(value.begin(), value.end(), '+', ' ');
    out.emplace(std::string(pair.substr(0, eq)), core::http::url_decode(value).value_or(""));
  }
  return out;
}

// The DER of a PEM certificate, base64 (the body lines of the PEM, joined).
std::string pem_body(const std::string& pem) {
  std::string out;
  for (std::string_view line : core::split(pem, '\n')) {
    if (line.empty() || line.starts_with("-----")) continue;
    out += core::trim(line);
  }
  return out;
}

// JWS ES256 wants r||s, 32 bytes each; OpenSSL gives ASN.1 DER.
core::Result<std::string> der_to_raw(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr) return core::fail(Errc::kInvalid, "bad DER signature");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  bool ok = BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32) == 32 &&
            BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  if (!ok) return core::fail(Errc::kInternal, "signature does not fit 64 bytes");
  return raw;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string s = core::base64_encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

core::Result<CertFiles> make_cert(const std::string& dir, const std::string& name) {
  CertFiles files{dir + "/" + name + ".crt", dir + "/" + name + ".key"};
  auto out = core::run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", files.key,
                                "-out", files.cert, "-days", "2", "-subj", "/CN=" + name, "-addext",
                                "subjectAltName=IP:127.0.0.1"});
  if (!out) return std::unexpected(std::move(out).error());
  if (out->exit_code != 0) return core::failf(Errc::kInternal, "openssl req: {}", out->out);
  return files;
}

core::Result<std::unique_ptr<LocalRegistry>> LocalRegistry::start(const std::string& dir,
                                                                  const RegistryOptions& options) {
  std::unique_ptr<LocalRegistry> r(new LocalRegistry());
  r->port_ = testing_support::free_port();
  r->dir_ = dir;
  r->log_ = dir + "/registry.log";
  r->tls_ = options.tls.has_value();
  std::string config = fmt::format(
      "version: 0.1\nlog:\n  level: info\nstorage:\n  "
      "filesystem:\n    rootdirectory: {}/storage\n"
      "http:\n  addr: 127.0.0.1:{}\n",
      dir, r->port_);
  if (options.tls) {
    config += fmt::format("  tls:\n    certificate: {}\n    key: {}\n", options.tls->cert,
                          options.tls->key);
  }
  if (!options.htpasswd_file.empty()) {
    config += fmt::format("auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                          options.htpasswd_file);
  } else if (options.token) {
    config += fmt::format(
        "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n"
        "    rootcertbundle: {}\n",
        options.token->realm, options.token->service, options.token->issuer,
        options.token->root_cert_bundle);
  }
  K3A_CHECK(core::make_dirs(dir));
  K3A_CHECK(core::write_file_atomic(dir + "/config.yml", config));
  r->process_ = K3A_TRY(core::Process::start(
      {.argv = {"docker-registry", "serve", dir + "/config.yml"}, .log_file = r->log_}));
  K3A_CHECK(r->wait_ready());
  return r;
}

LocalRegistry::~LocalRegistry() {
  if (process_) process_->stop();
}

std::string LocalRegistry::log() const { return core::read_file(log_).value_or("(no log)"); }

// Polls GET /v2/ (bounded: 30 s) until the registry answers at all (200 or 401).
core::Result<void> LocalRegistry::wait_ready() {
  core::http::Client client({.insecure_skip_verify = true,
                             .connect_timeout = std::chrono::milliseconds(500),
                             .retries = 0});
  for (int attempt = 0; attempt < 600; ++attempt) {
    if (auto code = process_->poll()) {
      return core::failf(Errc::kUnavailable, "docker-registry exited with {}: {}", *code, log());
    }
    auto response = client.send({.url = url() + "/v2/"});
    if (response && (response->status == 200 || response->status == 401)) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return core::failf(Errc::kTimeout, "docker-registry did not answer: {}", log());
}

core::Result<std::unique_ptr<TokenServer>> TokenServer::start(const CertFiles& signing,
                                                              std::string service,
                                                              std::string issuer) {
  std::unique_ptr<TokenServer> t(new TokenServer());
  t->service_ = std::move(service);
  t->issuer_ = std::move(issuer);
  t->key_pem_ = K3A_TRY(core::read_file(signing.key));
  t->cert_der_b64_ = pem_body(K3A_TRY(core::read_file(signing.cert)));
  TokenServer* self = t.get();
  t->server_ = K3A_TRY(core::http::Server::start(
      {}, [self](const core::http::ServerRequest& request, core::http::ResponseWriter& out) {
        self->handle(request, out);
      }));
  return t;
}

void TokenServer::handle(const core::http::ServerRequest& request,
                         core::http::ResponseWriter& out) {
  auto params = parse_form(request.method == "POST" ? request.body : request.query);
  std::string subject;
  if (request.method == "POST") {
    if (params["grant_type"] == "refresh_token" && params["refresh_token"] == "refresh-me") {
      subject = "robot";
    }
  } else if (request.header("Authorization") == "Basic " + core::base64_encode("user:pass")) {
    subject = "user";
  }
  if (subject.empty() || params["service"] != service_) {
    ++refused_;
    out.set_status(401);
    out.send(R"({"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]})");
    return;
  }
  auto token = jwt(subject, params["scope"]);
  if (!token) {
    out.set_status(500);
    out.send(token.error().message());
    return;
  }
  ++issued_;
  nlohmann::json answer{{request.method == "POST" ? "access_token" : "token", *token},
                        {"expires_in", 300}};
  out.add_header("Content-Type", "application/json");
  out.send(answer.dump());
}

core::Result<std::string> TokenServer::jwt(const std::string& subject,
                                           const std::string& scope) const {
  nlohmann::json access = nlohmann::json::array();
  auto parts = core::split(scope, ':');
  if (parts.size() == 3 && parts[0] == "repository") {
    nlohmann::json actions = nlohmann::json::array();
    for (std::string_view a : core::split(parts[2], ',')) actions.push_back(std::string(a));
    access.push_back(
        {{"type", "repository"}, {"name", std::string(parts[1])}, {"actions", actions}});
  }
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  nlohmann::json header{{"alg", "ES256"}, {"typ", "JWT"}, {"x5c", {cert_der_b64_}}};
  nlohmann::json claims{{"iss", issuer_},
                        {"sub", subject},
                        {"aud", service_},
                        {"exp", now + 300},
                        {"nbf", now - 10},
                        {"iat", now},
                        {"jti", std::to_string(now) + "-" + std::to_string(issued_)},
                        {"access", access}};
  std::string input = base64url(header.dump()) + "." + base64url(claims.dump());
  core::PrivateKey key = K3A_TRY(core::PrivateKey::from_pem(key_pem_));
  std::string der = K3A_TRY(key.sign(input));
  return input + "." + base64url(K3A_TRY(der_to_raw(der)));
}

core::Result<std::vector<Descriptor>> build_busybox_images(
    const std::string& dir, BlobStore& store, const std::vector<std::string>& platforms) {
  std::string rootfs = dir + "/rootfs";
  if (!core::path_exists(rootfs) && !make_busybox_rootfs(rootfs)) {
    return core::fail(Errc::kNotFound, "/bin/busybox is missing (Debian package busybox-static)");
  }
  std::vector<Descriptor> out;
  for (const auto& p : platforms) {
    out.push_back(K3A_TRY(build_image(busybox_spec(rootfs, K3A_TRY(Platform::parse(p))), store)));
  }
  return out;
}

}  // namespace images::testing
