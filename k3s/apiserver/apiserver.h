// The Kubernetes API's HTTP front: who is asking (client certificate or bearer token), whether
// they may, and the answer. This first part serves the unauthenticated health, version, CA and
// ping endpoints and answers every other path with upstream's Status errors; resources follow.
// Handlers run on the HTTP server's threads; the object is immutable after construction.
#pragma once

#include <string>
#include <vector>

#include "core/http/server.h"

namespace k3s::apiserver {

struct Identity {
  std::string user;
  std::vector<std::string> groups;
};

struct ApiOptions {
  std::string version;        // gitVersion, e.g. v1.32.4+k3s1
  std::string server_ca_pem;  // served at /cacerts
  std::string server_token_password;
  std::string agent_token_password;
};

class ApiServer {
 public:
  explicit ApiServer(ApiOptions options) : options_(std::move(options)) {}
  void handle(const core::http::ServerRequest& request, core::http::ResponseWriter& response) const;
  // nullopt: anonymous. Client certificates map CN to the user and O to the groups.
  std::optional<Identity> authenticate(const core::http::ServerRequest& request) const;

 private:
  ApiOptions options_;
};

// A metav1.Status body, as the API server writes errors.
std::string status_json(int code, const std::string& reason, const std::string& message);

}  // namespace k3s::apiserver
