#include "k3s/server/supervisor.h"

#include <openssl/crypto.h>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/base64.h"
#include "core/crypto/csr.h"
#include "core/fs/files.h"
#include "k3s/server/net.h"
#include "k3s/server/node_password.h"

namespace k3s::server {
namespace {

using json = nlohmann::json;
constexpr int64_t kLeafLifetime = 365LL * 24 * 3600;
constexpr char kPasswordRejected[] =
    "Node password rejected, duplicate hostname or contents of '/etc/rancher/node/password' may "
    "not match server node-passwd entry, try enabling a unique node name with the --with-node-id "
    "flag";

bool same(const std::string& a, const std::string& b) {
  return !b.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void text(core::http::ResponseWriter& w, int code, const std::string& body,
          const std::string& type = "text/plain; charset=utf-8") {
  w.set_status(code);
  w.add_header("Content-Type", type);
  w.send(body);
}

}  // namespace

core::Result<std::unique_ptr<Supervisor>> Supervisor::create(const apiserver::ApiServer& api,
                                                             SupervisorOptions options) {
  auto load = [&](const std::string& name) -> core::Result<Ca> {
    std::string base = options.tls_dir + "/" + name;
    std::string pem = K3A_TRY(core::read_file(base + ".crt"));
    auto cert = K3A_TRY(core::Certificate::from_pem(pem));
    auto key = K3A_TRY(core::PrivateKey::from_pem(K3A_TRY(core::read_file(base + ".key"))));
    return Ca{std::move(cert), std::move(key), std::move(pem)};
  };
  Ca client = K3A_TRY(load("client-ca"));
  Ca server = K3A_TRY(load("server-ca"));
  return std::unique_ptr<Supervisor>(
      new Supervisor(api, std::move(options), std::move(client), std::move(server)));
}

std::string Supervisor::role(const core::http::ServerRequest& req) const {
  std::string auth = req.header("Authorization").value_or("");
  if (core::starts_with_ci(auth, "Basic ")) {
    auto decoded = core::base64_decode(core::trim(std::string_view(auth).substr(6)));
    if (!decoded) return "";
    size_t colon = decoded->find(':');
    if (colon == std::string::npos) return "";
    std::string user = decoded->substr(0, colon), password = decoded->substr(colon + 1);
    if (user == "node" && same(password, options_.agent_password)) return "agent";
    if (user == "server" && same(password, options_.server_password)) return "server";
    return "";
  }
  auto who = api_.authenticate(req);
  if (!who) return "";
  for (const auto& g : who->groups) {
    if (g == "system:masters") return "server";
  }
  for (const auto& g : who->groups) {
    if (g == "system:nodes" || g == "system:bootstrappers") return "agent";
  }
  return "";
}

bool Supervisor::handle(const core::http::ServerRequest& req, core::http::ResponseWriter& w) const {
  const std::string& path = req.path;
  if (!path.starts_with("/v1-k3s/")) return false;
  std::string what = path.substr(8);
  if (role(req).empty()) {
    text(w, 401, "Unauthorized\n");
    return true;
  }
  if (req.method == "GET") {
    if (what == "config") {
      text(w, 200, options_.config.dump(), "application/json");
    } else if (what == "client-ca.crt") {
      text(w, 200, client_ca_.pem);
    } else if (what == "server-ca.crt") {
      text(w, 200, server_ca_.pem);
    } else if (what == "apiservers") {
      text(w, 200, json(options_.apiservers).dump(), "application/json");
    } else if (what == "readyz") {
      text(w, 200, "ok");
    } else {
      text(w, 404, "404 page not found\n");
    }
    return true;
  }
  if (req.method == "POST" &&
      (what == "serving-kubelet.crt" || what == "client-kubelet.crt" ||
       what == "client-kube-proxy.crt" || what == "client-k3s-controller.crt")) {
    issue(req, what.substr(0, what.size() - 4), w);
    return true;
  }
  text(w, 404, "404 page not found\n");
  return true;
}

void Supervisor::issue(const core::http::ServerRequest& req, const std::string& which,
                       core::http::ResponseWriter& w) const {
  auto key = core::csr_public_key(req.body);
  if (!key) return text(w, 400, key.error().message() + "\n");
  std::string node = core::to_lower(req.header("k3s-Node-Name").value_or(""));
  bool kubelet = which == "serving-kubelet" || which == "client-kubelet";
  if (kubelet) {
    if (node.empty()) return text(w, 400, "missing k3s-Node-Name header\n");
    std::string why = check_node_password(node, req.header("k3s-Node-Password").value_or(""));
    if (why == kPasswordRejected) return text(w, 403, why + "\n");
    if (!why.empty()) return text(w, 500, why + "\n");
  }
  int64_t now = core::system_now();
  core::CertSpec spec{
      .client_auth = true, .not_before = now - 60, .not_after = now + kLeafLifetime};
  const Ca* ca = &client_ca_;
  if (which == "client-kubelet") {
    spec.common_name = "system:node:" + node;
    spec.organizations = {"system:nodes"};
  } else if (which == "client-kube-proxy") {
    spec.common_name = "system:kube-proxy";
  } else if (which == "client-k3s-controller") {
    spec.common_name = "system:k3s-controller";
  } else {
    ca = &server_ca_;
    spec.common_name = node;
    spec.client_auth = false;
    spec.server_auth = true;
    spec.dns_names = {node, "localhost"};
    spec.ip_addresses = {"127.0.0.1"};
    std::string node_ips = req.header("k3s-Node-IP").value_or("");
    for (auto ip : core::split(node_ips, ',')) {
      if (auto parsed = parse_ip(std::string(core::trim(ip)))) spec.ip_addresses.push_back(*parsed);
    }
  }
  auto cert = core::Certificate::issue(spec, *key, ca->key, &ca->cert);
  if (!cert) return text(w, 500, cert.error().message() + "\n");
  text(w, 200, cert->to_pem() + ca->pem);
}

std::string Supervisor::check_node_password(const std::string& node,
                                            const std::string& password) const {
  if (password.empty()) return kPasswordRejected;
  std::string name = node + ".node-password.k3s";
  std::string path = controllers::object_path("v1", "secrets", "kube-system", name);
  auto secret = local_.get(path);
  if (secret) {
    auto hash = core::base64_decode((*secret)["data"].value("hash", ""));
    return hash && verify_node_password(password, *hash) ? "" : kPasswordRejected;
  }
  if (secret.error().code() != core::Errc::kNotFound) return secret.error().message();
  json fresh = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", name}, {"namespace", "kube-system"}}},
                {"type", "k3s.cattle.io/node-password"},
                {"immutable", true},
                {"data", {{"hash", core::base64_encode(hash_node_password(password))}}}};
  auto made = local_.create(controllers::object_path("v1", "secrets", "kube-system"), fresh);
  // Two first requests at once: the second must match what the first recorded.
  if (!made && made.error().code() == core::Errc::kAlreadyExists)
    return check_node_password(node, password);
  return made ? "" : made.error().message();
}

}  // namespace k3s::server
