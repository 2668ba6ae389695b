// The server's certificates, tokens and kubeconfig, laid out as upstream k3s lays them out
// (k3s-facts.md 4.3, 4.6, 4.7):
//   server/tls/{server-ca,client-ca,request-header-ca}.{crt,key}   CAs, 10 years, never renewed
//   server/tls/client-admin.{crt,key}             CN system:admin, O system:masters
//   server/tls/client-supervisor.{crt,key}        CN system:k3s-supervisor, O system:masters
//   server/tls/client-kube-apiserver.{crt,key}    CN system:apiserver, O system:masters
//   server/tls/serving-kube-apiserver.{crt,key}   the API's serving certificate and its SANs
//   server/tls/service.key                        signs service account tokens; a key from an
//                                                 upstream data dir that is not P-256 is kept,
//                                                 and service-ecdsa.key signs instead
//   server/token (K10<ca hash>::server:<password>), server/node-token -> token,
//   server/agent-token, server/cred/passwd
// CAs found on disk (custom CAs) are used as they are. Leaves are reissued at start when they
// expire within 90 days, no longer chain to their CA, or lack a wanted name. Secret files are
// 0600 in 0700 directories. Not thread-safe; run once at start.
#pragma once

#include <string>
#include <vector>

#include "core/base/error.h"
#include "k3s/config/server_config.h"

namespace k3s::server {

struct Pki {
  std::string tls_dir;
  std::string server_ca, client_ca;       // certificate paths
  std::string serving_cert, serving_key;  // for the HTTPS listener
  std::string admin_cert, admin_key;
  std::string kubelet_client_cert, kubelet_client_key;  // the API server to kubelets
  std::string service_key;   // signs service account tokens (ECDSA P-256)
  std::string server_token;  // full K10 token
  std::string agent_token;
  std::string ca_hash;                // sha256 hex of server-ca.crt's bytes
  std::vector<std::string> reissued;  // leaf names written this start
};

// The SANs of the serving certificate: upstream's names, the node name, the addresses given
// (bind, advertise, node and external IPs; the detected node IP when none is given), and
// --tls-san.
std::vector<std::string> serving_names(const config::ServerConfig& config);

core::Result<Pki> ensure_pki(const config::ServerConfig& config, int64_t now);

// Writes the admin kubeconfig (server URL, CA and admin certificate inline) to the path, with
// the mode (octal text; default 0600).
core::Result<void> write_kubeconfig(const Pki& pki, const std::string& path,
                                    const std::string& server_url, const std::string& mode);

// Splits a token: "K10<hash>::<user>:<password>" or a bare password. kInvalid for a K10 token
// with a malformed hash.
struct ParsedToken {
  std::string ca_hash;  // "" for a short token
  std::string username;
  std::string password;
};
core::Result<ParsedToken> parse_token(const std::string& token);

}  // namespace k3s::server
