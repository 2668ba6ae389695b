// The Kubernetes API's HTTP front: who is asking (client certificate or bearer token), whether
// RBAC lets them (rbac.h; access reviews answered here), and the answer: the unauthenticated
// health, version, CA and ping endpoints; discovery and OpenAPI; the resources (rest.h). Errors are
// upstream's Status objects. Handlers run on the HTTP server's threads; the object is immutable
// after construction.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/crypto/keys.h"
#include "core/http/client.h"
#include "core/http/server.h"
#include "k3s/apiserver/rbac.h"
#include "k3s/apiserver/rest.h"
#include "k3s/datastore/backend.h"

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
  std::chrono::milliseconds bookmark_interval = std::chrono::seconds(60);
  std::string service_key_pem;  // signs service account tokens; "" = none issued or accepted
  std::string service_cidr = "10.43.0.0/16";  // Services' ClusterIPs come from here
  // How kubelets are reached for pods/log, exec, attach and portforward: the server CA and the
  // API server's kubelet client certificate.
  core::http::ClientOptions kubelet_client;
};

class ApiServer {
 public:
  ApiServer(ApiOptions options, datastore::Backend& store)
      : options_(std::move(options)),
        store_(store),
        service_key_(load_service_key(options_.service_key_pem)),
        authorizer_(store),
        catalog_(store),
        rest_(store, catalog_, options_.service_cidr, options_.bookmark_interval) {}
  const Rest& rest() const { return rest_; }
  const Catalog& catalog() const { return catalog_; }
  void handle(const core::http::ServerRequest& request, core::http::ResponseWriter& response) const;
  // nullopt: anonymous or not recognised. Client certificates map CN to the user and O to the
  // groups; bearer tokens are the server token (system:masters), the agent token (system:nodes)
  // a bootstrap token (system:bootstrap:<id>, system:bootstrappers and its extra groups) or a
  // service account token (system:serviceaccount:<ns>:<name>) whose account still exists.
  std::optional<Identity> authenticate(const core::http::ServerRequest& request) const;

 private:
  void discovery(const core::http::ServerRequest& request, const ResourceTypes& types,
                 core::http::ResponseWriter& w) const;
  static std::optional<core::PrivateKey> load_service_key(const std::string& pem);
  // POST serviceaccounts/<name>/token: a TokenRequest answered with a signed token.
  void token_request(const core::http::ServerRequest& request, const Attributes& a,
                     core::http::ResponseWriter& w) const;
  // TokenReview (is this token valid, for whom) and SelfSubjectReview (who am I).
  void token_review(const core::http::ServerRequest& request, const Identity& who,
                    const Attributes& a, core::http::ResponseWriter& w) const;
  // SelfSubjectAccessReview, SubjectAccessReview and LocalSubjectAccessReview.
  void access_review(const core::http::ServerRequest& request, const Identity& who,
                     const Attributes& a, core::http::ResponseWriter& w) const;
  ApiOptions options_;
  datastore::Backend& store_;
  std::optional<core::PrivateKey> service_key_;
  Authorizer authorizer_;
  Catalog catalog_;
  Rest rest_;
};

// A metav1.Status body, as the API server writes errors.
std::string status_json(int code, const std::string& reason, const std::string& message);

}  // namespace k3s::apiserver
