// The supervisor: k3s's own endpoints beside the API on the same port (k3s-facts.md 4.4),
// through which agents join. /v1-k3s/config (the cluster's settings), client-ca.crt and
// server-ca.crt, apiservers, readyz; and the certificates agents ask for with a CSR:
// serving-kubelet, client-kubelet (both checked against the node's password Secret),
// client-kube-proxy and client-k3s-controller. Callers authenticate as upstream's do: basic
// auth node:<agent password> or server:<server password>, a bootstrap or server token, or a
// client certificate of system:nodes. Immutable after creation; handlers run concurrently.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/crypto/keys.h"
#include "core/crypto/x509.h"
#include "core/http/server.h"
#include "k3s/apiserver/apiserver.h"
#include "k3s/controllers/local_api.h"

namespace k3s::server {

struct SupervisorOptions {
  std::string tls_dir;  // server/tls: the client and server CAs sign what agents ask for
  std::string server_password, agent_password;
  nlohmann::json config;                // the body of /v1-k3s/config
  std::vector<std::string> apiservers;  // "host:port" of every server
};

class Supervisor {
 public:
  // Fails when the CAs cannot be read.
  static core::Result<std::unique_ptr<Supervisor>> create(const apiserver::ApiServer& api,
                                                          SupervisorOptions options);
  // Answers requests for /v1-k3s/...; false (nothing written) for every other path.
  bool handle(const core::http::ServerRequest& req, core::http::ResponseWriter& w) const;

 private:
  struct Ca {
    core::Certificate cert;
    core::PrivateKey key;
    std::string pem;
  };
  Supervisor(const apiserver::ApiServer& api, SupervisorOptions options, Ca client, Ca server)
      : api_(api),
        local_(api),
        options_(std::move(options)),
        client_ca_(std::move(client)),
        server_ca_(std::move(server)) {}
  // "agent" or "server" for a caller that may join, "" otherwise.
  std::string role(const core::http::ServerRequest& req) const;
  void issue(const core::http::ServerRequest& req, const std::string& which,
             core::http::ResponseWriter& w) const;
  // "" when `password` is the node's (recording it for a node seen the first time), else why not.
  std::string check_node_password(const std::string& node, const std::string& password) const;

  const apiserver::ApiServer& api_;
  controllers::LocalApi local_;
  SupervisorOptions options_;
  Ca client_ca_, server_ca_;
};

}  // namespace k3s::server
