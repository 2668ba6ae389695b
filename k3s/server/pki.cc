#include "k3s/server/pki.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/crypto/sha256.h"
#include "core/crypto/x509.h"
#include "core/fs/files.h"
#include "k3s/server/net.h"

namespace k3s::server {
namespace {

using core::Certificate;
using core::Errc;
using core::PrivateKey;

constexpr int64_t kDay = 86400;
constexpr int64_t kCaLifetime = 3650 * kDay;
constexpr int64_t kLeafLifetime = 365 * kDay;
constexpr int64_t kRenewBefore = 90 * kDay;

struct Pair {
  Certificate cert;
  PrivateKey key;
};

core::Result<Pair> load_pair(const std::string& base) {
  std::string crt = K3A_TRY(core::read_file(base + ".crt"));
  std::string key = K3A_TRY(core::read_file(base + ".key"));
  auto cert = Certificate::from_pem(crt);
  if (!cert) return std::unexpected(std::move(cert.error()).context(base + ".crt"));
  auto pk = PrivateKey::from_pem(key);
  if (!pk) return std::unexpected(std::move(pk.error()).context(base + ".key"));
  return Pair{std::move(*cert), std::move(*pk)};
}

core::Result<void> write_pair(const std::string& base, const std::string& cert_pem,
                              const PrivateKey& key) {
  K3A_CHECK(core::write_file_atomic(base + ".key", key.to_pem(), 0600));
  return core::write_file_atomic(base + ".crt", cert_pem, 0644);
}

core::Result<Pair> ensure_ca(const std::string& dir, const std::string& name,
                             const std::string& prefix, int64_t now) {
  std::string base = dir + "/" + name;
  if (core::path_exists(base + ".crt") && core::path_exists(base + ".key")) {
    return load_pair(base);
  }
  PrivateKey key = K3A_TRY(PrivateKey::generate());
  Certificate cert = K3A_TRY(Certificate::issue({.common_name = prefix + "@" + std::to_string(now),
                                                 .is_ca = true,
                                                 .not_before = now - 60,
                                                 .not_after = now + kCaLifetime},
                                                key.public_key(), key, nullptr));
  K3A_CHECK(write_pair(base, cert.to_pem(), key));
  core::log::info("Generated {} certificate authority {}", name, cert.common_name());
  return Pair{std::move(cert), std::move(key)};
}

bool covers(const Certificate& cert, const core::CertSpec& spec) {
  auto has_all = [](std::vector<std::string> have, const std::vector<std::string>& want) {
    std::sort(have.begin(), have.end());
    return std::all_of(want.begin(), want.end(), [&](const std::string& w) {
      return std::binary_search(have.begin(), have.end(), w);
    });
  };
  return cert.common_name() == spec.common_name && cert.organizations() == spec.organizations &&
         has_all(cert.dns_names(), spec.dns_names) &&
         has_all(cert.ip_addresses(), spec.ip_addresses);
}

// Keeps a valid leaf; reissues one that expires soon, changed names or left its CA.
core::Result<void> ensure_leaf(const std::string& dir, const std::string& name, const Pair& ca,
                               core::CertSpec spec, int64_t now, Pki& pki) {
  std::string base = dir + "/" + name;
  if (auto have = load_pair(base); have && have->cert.signed_by(ca.cert) &&
                                   have->cert.not_after() - now > kRenewBefore &&
                                   covers(have->cert, spec)) {
    return {};
  }
  PrivateKey key = K3A_TRY(PrivateKey::generate());
  spec.not_before = now - 60;
  spec.not_after = now + kLeafLifetime;
  Certificate cert = K3A_TRY(Certificate::issue(spec, key.public_key(), ca.key, &ca.cert));
  K3A_CHECK(write_pair(base, cert.to_pem() + ca.cert.to_pem(), key));
  pki.reissued.push_back(name);
  return {};
}

core::Result<std::string> read_token_file(const std::string& path) {
  std::string text = K3A_TRY(core::read_file(path, 4096));
  return std::string(core::trim(text));
}

bool is_ip(const std::string& s) { return parse_ip(s).has_value(); }

}  // namespace

core::Result<ParsedToken> parse_token(const std::string& token) {
  ParsedToken out;
  if (!token.starts_with("K10")) {
    out.password = token;
    return out;
  }
  size_t sep = token.find("::");
  if (sep == std::string::npos) return core::fail(Errc::kInvalid, "malformed K10 token");
  out.ca_hash = token.substr(3, sep - 3);
  if (!out.ca_hash.empty() && !core::is_sha256_hex(out.ca_hash)) {
    return core::fail(Errc::kInvalid, "token CA hash must be 64 hex characters");
  }
  std::string creds = token.substr(sep + 2);
  size_t colon = creds.find(':');
  if (colon == std::string::npos) {
    out.password = creds;
  } else {
    out.username = creds.substr(0, colon);
    out.password = creds.substr(colon + 1);
  }
  return out;
}

std::vector<std::string> serving_names(const config::ServerConfig& config) {
  std::vector<std::string> names = {"kubernetes",
                                    "kubernetes.default",
                                    "kubernetes.default.svc",
                                    "kubernetes.default.svc." + config.cluster_domain,
                                    "localhost",
                                    "127.0.0.1",
                                    "::1"};
  if (auto ip = nth_address(config.service_cidr, 1)) names.push_back(*ip);
  if (!config.node_name.empty()) names.push_back(config.node_name);
  if (!config.advertise_address.empty()) names.push_back(config.advertise_address);
  if (config.bind_address != "0.0.0.0" && config.bind_address != "::") {
    names.push_back(config.bind_address);
  }
  for (const auto& s : config.tls_san) names.push_back(s);
  // The node's own addresses, so agents can reach the server by them.
  for (const auto& ips : {config.agent.node_ip, config.agent.node_external_ip})
    names.insert(names.end(), ips.begin(), ips.end());
  if (config.agent.node_ip.empty()) names.push_back(node_ip());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

core::Result<Pki> ensure_pki(const config::ServerConfig& config, int64_t now) {
  Pki pki;
  std::string server = config.data_dir + "/server";
  pki.tls_dir = server + "/tls";
  K3A_CHECK(core::make_dirs(pki.tls_dir, 0700));
  K3A_CHECK(core::make_dirs(server + "/cred", 0700));
  Pair server_ca = K3A_TRY(ensure_ca(pki.tls_dir, "server-ca", "k3s-server-ca", now));
  Pair client_ca = K3A_TRY(ensure_ca(pki.tls_dir, "client-ca", "k3s-client-ca", now));
  (void)K3A_TRY(ensure_ca(pki.tls_dir, "request-header-ca", "k3s-request-header-ca", now));
  pki.service_key = pki.tls_dir + "/service.key";
  if (core::path_exists(pki.service_key) &&
      !PrivateKey::from_pem(K3A_TRY(core::read_file(pki.service_key)))) {
    pki.service_key = pki.tls_dir + "/service-ecdsa.key";
  }
  if (!core::path_exists(pki.service_key)) {
    PrivateKey key = K3A_TRY(PrivateKey::generate());
    K3A_CHECK(core::write_file_atomic(pki.service_key, key.to_pem(), 0600));
  }
  pki.server_ca = pki.tls_dir + "/server-ca.crt";
  pki.client_ca = pki.tls_dir + "/client-ca.crt";

  core::CertSpec serving{.common_name = "kube-apiserver", .server_auth = true};
  for (const auto& n : serving_names(config)) {
    (is_ip(n) ? serving.ip_addresses : serving.dns_names).push_back(n);
  }
  K3A_CHECK(ensure_leaf(pki.tls_dir, "serving-kube-apiserver", server_ca, serving, now, pki));
  K3A_CHECK(ensure_leaf(
      pki.tls_dir, "client-admin", client_ca,
      {.common_name = "system:admin", .organizations = {"system:masters"}, .client_auth = true},
      now, pki));
  K3A_CHECK(ensure_leaf(pki.tls_dir, "client-supervisor", client_ca,
                        {.common_name = "system:k3s-supervisor",
                         .organizations = {"system:masters"},
                         .client_auth = true},
                        now, pki));
  K3A_CHECK(ensure_leaf(
      pki.tls_dir, "client-kube-apiserver", client_ca,
      {.common_name = "system:apiserver", .organizations = {"system:masters"}, .client_auth = true},
      now, pki));
  pki.kubelet_client_cert = pki.tls_dir + "/client-kube-apiserver.crt";
  pki.kubelet_client_key = pki.tls_dir + "/client-kube-apiserver.key";
  pki.serving_cert = pki.tls_dir + "/serving-kube-apiserver.crt";
  pki.serving_key = pki.tls_dir + "/serving-kube-apiserver.key";
  pki.admin_cert = pki.tls_dir + "/client-admin.crt";
  pki.admin_key = pki.tls_dir + "/client-admin.key";
  pki.ca_hash = core::Sha256::hex_of(K3A_TRY(core::read_file(pki.server_ca)));

  // The server token: kept across starts; --token must agree with it.
  std::string given = config.token;
  if (given.empty() && !config.token_file.empty())
    given = K3A_TRY(read_token_file(config.token_file));
  std::string token_path = server + "/token";
  std::string password;
  if (core::path_exists(token_path)) {
    ParsedToken stored = K3A_TRY(parse_token(K3A_TRY(read_token_file(token_path))));
    password = stored.password;
    if (!given.empty() && K3A_TRY(parse_token(given)).password != password) {
      return core::failf(Errc::kUnauthorized,
                         "--token does not match the token this server was created with ({})",
                         token_path);
    }
  } else if (!given.empty()) {
    ParsedToken t = K3A_TRY(parse_token(given));
    if (!t.ca_hash.empty() && t.ca_hash != pki.ca_hash) {
      return core::fail(Errc::kUnauthorized, "token CA hash does not match the cluster CA");
    }
    password = t.password;
  } else {
    password = core::random_hex(16);
  }
  pki.server_token = "K10" + pki.ca_hash + "::server:" + password;
  K3A_CHECK(core::write_file_atomic(token_path, pki.server_token + "\n", 0600));
  std::string node_token = server + "/node-token";
  if (!core::path_exists(node_token)) (void)::symlink("token", node_token.c_str());

  std::string agent_password = password;
  std::string agent_path = server + "/agent-token";
  if (!config.agent_token.empty()) {
    agent_password = K3A_TRY(parse_token(config.agent_token)).password;
    pki.agent_token = "K10" + pki.ca_hash + "::node:" + agent_password;
    ::unlink(agent_path.c_str());
    K3A_CHECK(core::write_file_atomic(agent_path, pki.agent_token + "\n", 0600));
  } else {
    pki.agent_token = "K10" + pki.ca_hash + "::node:" + agent_password;
    struct stat st {};
    if (::lstat(agent_path.c_str(), &st) != 0) (void)::symlink("token", agent_path.c_str());
  }
  K3A_CHECK(core::write_file_atomic(
      server + "/cred/passwd",
      password + ",server,server,k3s:server\n" + agent_password + ",node,node,k3s:agent\n", 0600));
  return pki;
}

core::Result<void> write_kubeconfig(const Pki& pki, const std::string& path,
                                    const std::string& server_url, const std::string& mode) {
  uint64_t m = 0600;
  if (!mode.empty()) {
    m = 0;
    for (char c : mode) {
      if (c < '0' || c > '7')
        return core::failf(Errc::kInvalid, "--write-kubeconfig-mode {}: not octal", mode);
      m = m * 8 + (c - '0');
    }
    if (m > 0777)
      return core::failf(Errc::kInvalid, "--write-kubeconfig-mode {}: out of range", mode);
  }
  auto b64 = [](const std::string& file) -> core::Result<std::string> {
    return core::base64_encode(K3A_TRY(core::read_file(file)));
  };
  std::string text = fmt::format(R"(apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: {}
    server: {}
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {{}}
users:
- name: default
  user:
    client-certificate-data: {}
    client-key-data: {}
)",
                                 K3A_TRY(b64(pki.server_ca)), server_url,
                                 K3A_TRY(b64(pki.admin_cert)), K3A_TRY(b64(pki.admin_key)));
  K3A_CHECK(core::make_dirs(core::dir_name(path), 0755));
  K3A_CHECK(core::write_file_atomic(path, text, static_cast<mode_t>(m)));
  // write_file_atomic's mode is filtered by the umask; the kubeconfig gets exactly the mode.
  if (::chmod(path.c_str(), static_cast<mode_t>(m)) != 0) {
    return core::fail_errno(errno, "chmod " + path);
  }
  return {};
}

}  // namespace k3s::server
