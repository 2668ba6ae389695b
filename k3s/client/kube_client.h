// A small Kubernetes API client for k3s's own commands (`k3s token` ...): reads a kubeconfig
// (its current context: server URL, CA, client certificate or bearer token, inline or as
// files) and sends JSON requests. Not thread-safe; one per command.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/error.h"
#include "core/http/client.h"

namespace k3s::client {

struct Endpoint {
  std::string server;  // "https://127.0.0.1:6443"
  core::http::ClientOptions tls;
  std::string bearer_token;  // "" when a client certificate authenticates
};

// Reads the kubeconfig's current context. Fails with kNotFound (no file, no such context,
// cluster or user) or kInvalid (not YAML, bad base64), naming the file.
core::Result<Endpoint> load_kubeconfig(const std::string& path);

// The kubeconfig a command uses: the given path, else $KUBECONFIG, else
// /etc/rancher/k3s/k3s.yaml (upstream's order for k3s subcommands).
std::string kubeconfig_path(const std::string& given);

// An API answer as a result: the JSON body of a 2xx, else the Status message with a code from
// the HTTP status (404 kNotFound, 409 kAlreadyExists or kConflict, 400 and 422 kInvalid, 401
// kUnauthorized, 403 kForbidden, else kUnavailable).
core::Result<nlohmann::json> parse_answer(const std::string& method, const std::string& path,
                                          int status, const std::string& body);

class KubeClient {
 public:
  explicit KubeClient(Endpoint endpoint);
  // Sends the request and parses the answer (parse_answer).
  core::Result<nlohmann::json> call(const std::string& method, const std::string& path,
                                    const nlohmann::json* body = nullptr,
                                    const std::string& content_type = "application/json");
  // Streams a watch (`path` with ?watch=1 ...): each event object goes to on_event until the
  // server ends the stream (ok) or on_event returns false (kConflict). Errors as for call().
  core::Result<void> watch(const std::string& path,
                           const std::function<bool(const nlohmann::json&)>& on_event);
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  Endpoint endpoint_;
  std::unique_ptr<core::http::Client> http_;
};

}  // namespace k3s::client
