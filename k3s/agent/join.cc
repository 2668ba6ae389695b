#include "k3s/agent/join.h"

#include <unistd.h>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/crypto/csr.h"
#include "core/crypto/sha256.h"
#include "core/crypto/x509.h"
#include "core/fs/files.h"
#include "core/http/client.h"
#include "core/http/url.h"
#include "core/serde/json.h"
#include "k3s/apiserver/bootstrap_token.h"
#include "k3s/server/net.h"
#include "k3s/server/pki.h"

namespace k3s::agent {
namespace {

using core::Errc;
using json = nlohmann::json;

// Reads the file, or writes `fresh` (0600) when it does not exist yet.
core::Result<std::string> read_or_create(const std::string& path, const std::string& fresh) {
  if (core::path_exists(path)) return std::string(core::trim(K3A_TRY(core::read_file(path, 4096))));
  K3A_CHECK(core::make_dirs(core::dir_name(path), 0700));
  K3A_CHECK(core::write_file_atomic(path, fresh + "\n", 0600));
  return fresh;
}

// The server's answer, or an error from its status naming what was asked.
core::Result<std::string> body_of(core::Result<core::http::Response> r, const std::string& what) {
  if (!r) return std::unexpected(std::move(r.error()).context(what));
  std::string text(core::trim(r->body));
  if (r->status == 200) return r->body;
  Errc code = r->status == 401   ? Errc::kUnauthorized
              : r->status == 403 ? Errc::kForbidden
                                 : Errc::kUnavailable;
  return core::failf(code, "{}: {} {}", what, r->status, text.empty() ? "" : text);
}

std::string kubeconfig(const std::string& server, const std::string& ca, const std::string& cert,
                       const std::string& key) {
  return fmt::format(
      "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: {}\n"
      "    certificate-authority: {}\n  name: local\ncontexts:\n- context:\n    cluster: local\n"
      "    namespace: default\n    user: user\n  name: Default\ncurrent-context: Default\n"
      "users:\n- name: user\n  user:\n    client-certificate: {}\n    client-key: {}\n",
      server, ca, cert, key);
}

}  // namespace

std::string ca_hash(const std::string& pem) { return core::Sha256::hex_of(pem); }

core::Result<Joined> join(const config::AgentConfig& config) {
  if (config.server_url.empty())
    return core::fail(Errc::kInvalid, "--server (K3S_URL) is required to join a cluster");
  std::string token = config.token;
  if (token.empty() && !config.token_file.empty())
    token = std::string(core::trim(K3A_TRY(core::read_file(config.token_file, 4096))));
  if (token.empty()) return core::fail(Errc::kInvalid, "--token (K3S_TOKEN) is required");
  auto parsed = K3A_TRY(server::parse_token(token));
  std::string url = config.server_url;
  while (url.ends_with("/")) url.pop_back();

  // 1. The CA, checked against the token's hash.
  core::http::Client insecure({.insecure_skip_verify = true, .retries = 2, .proxy = ""});
  std::string ca = K3A_TRY(body_of(insecure.send({.url = url + "/cacerts"}), "GET /cacerts"));
  if (!parsed.ca_hash.empty() && parsed.ca_hash != ca_hash(ca)) {
    return core::failf(Errc::kIntegrity,
                       "token CA hash does not match the Cluster CA certificate hash: {} != {}",
                       parsed.ca_hash, ca_hash(ca));
  }
  if (parsed.ca_hash.empty())
    core::log::warn("Cluster CA certificate is not trusted by the token; trusting it on first use");
  core::http::Client client({.ca_pem = ca, .retries = 2, .proxy = ""});
  (void)K3A_TRY(body_of(client.send({.url = url + "/cacerts"}), "GET /cacerts"));
  core::http::Headers auth;
  if (apiserver::parse_bootstrap_token(parsed.password)) {
    auth.emplace_back("Authorization", "Bearer " + parsed.password);
  } else {
    std::string user = parsed.username.empty() ? "node" : parsed.username;
    auth.emplace_back("Authorization",
                      "Basic " + core::base64_encode(user + ":" + parsed.password));
  }
  auto get = [&](const std::string& path) {
    return body_of(client.send({.url = url + path, .headers = auth}), "GET " + path);
  };

  // 2, 3. Settings and CAs.
  Joined j{.server_url = url, .agent_dir = config.data_dir + "/agent"};
  auto cfg = core::parse_json(K3A_TRY(get("/v1-k3s/config")));
  if (!cfg) return core::failf(Errc::kInvalid, "/v1-k3s/config: {}", cfg.error().message());
  j.config = *cfg;
  K3A_CHECK(core::make_dirs(j.agent_dir, 0700));
  K3A_CHECK(core::write_file_atomic(j.agent_dir + "/client-ca.crt",
                                    K3A_TRY(get("/v1-k3s/client-ca.crt"))));
  K3A_CHECK(core::write_file_atomic(j.agent_dir + "/server-ca.crt",
                                    K3A_TRY(get("/v1-k3s/server-ca.crt"))));

  // 4. Name and password.
  j.node_name = config.node_name.empty() ? server::host_name() : core::to_lower(config.node_name);
  if (config.with_node_id) {
    j.node_name +=
        "-" + K3A_TRY(read_or_create(config.node_identity_dir + "/id", core::random_hex(4)));
  }
  std::string password =
      K3A_TRY(read_or_create(config.node_identity_dir + "/password", core::random_hex(16)));

  // 5, 6. Certificates from CSRs; keys stay on the node.
  std::string ips;
  for (const auto& ip : config.node_ip) ips += (ips.empty() ? "" : ",") + ip;
  if (ips.empty()) ips = server::node_ip();  // the address the kubelet is reached at
  for (const char* name :
       {"client-kubelet", "serving-kubelet", "client-kube-proxy", "client-k3s-controller"}) {
    std::string base = j.agent_dir + "/" + name;
    auto key = core::path_exists(base + ".key")
                   ? core::PrivateKey::from_pem(K3A_TRY(core::read_file(base + ".key")))
                   : core::PrivateKey::generate();
    if (!key) return std::unexpected(key.error());
    core::http::Request req{.method = "POST",
                            .url = url + "/v1-k3s/" + name + ".crt",
                            .headers = auth,
                            .body = K3A_TRY(core::make_csr(*key, name))};
    req.headers.emplace_back("Content-Type", "application/octet-stream");
    req.headers.emplace_back("k3s-Node-Name", j.node_name);
    req.headers.emplace_back("k3s-Node-Password", password);
    if (!ips.empty()) req.headers.emplace_back("k3s-Node-IP", ips);
    std::string cert =
        K3A_TRY(body_of(client.send(req), std::string("POST /v1-k3s/") + name + ".crt"));
    K3A_CHECK(core::write_file_atomic(base + ".key", key->to_pem(), 0600));
    K3A_CHECK(core::write_file_atomic(base + ".crt", cert, 0644));
  }
  j.kubelet_kubeconfig = j.agent_dir + "/kubelet.kubeconfig";

  // 7. The servers to balance over.
  auto servers = core::parse_json(K3A_TRY(get("/v1-k3s/apiservers")));
  if (servers && servers->is_array()) {
    for (const auto& s : *servers) {
      if (s.is_string()) j.apiservers.push_back(s);
    }
  }
  if (j.apiservers.empty()) {
    auto parsed = core::http::Url::parse(url);
    if (parsed) j.apiservers.push_back(parsed->host_port());
  }
  return j;
}

core::Result<void> write_kubeconfigs(const Joined& j, const std::string& server_url) {
  for (const auto& [file, cert] :
       {std::pair{"kubelet.kubeconfig", "client-kubelet"},
        std::pair{"kubeproxy.kubeconfig", "client-kube-proxy"},
        std::pair{"k3scontroller.kubeconfig", "client-k3s-controller"}}) {
    std::string base = j.agent_dir + "/" + cert;
    K3A_CHECK(core::write_file_atomic(
        j.agent_dir + "/" + file,
        kubeconfig(server_url, j.agent_dir + "/server-ca.crt", base + ".crt", base + ".key"),
        0600));
  }
  return {};
}

}  // namespace k3s::agent
