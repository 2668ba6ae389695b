// Role-based access control as upstream's RBAC authorizer decides it: Roles and ClusterRoles
// (aggregated ClusterRoles resolved through their label selectors, transitively), RoleBindings
// in their namespace and ClusterRoleBindings everywhere, subjects by user, group or service
// account. Rules are read from the datastore into a snapshot that is rebuilt after any RBAC
// object changes (invalidate()). Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver {

// What a request asks to do, as upstream's RequestInfo describes it.
struct Attributes {
  std::string verb;  // get list watch create update patch delete deletecollection; or the
                     // lowercase HTTP method for non-resource paths
  bool resource_request = false;
  std::string group, resource, subresource, ns, name;
  std::string path;  // non-resource requests
};

// Attributes of an HTTP request: /api/v1/..., /apis/<group>/<version>/... are resource requests
// (also for resources this server does not know); everything else is a non-resource path.
Attributes request_attributes(const std::string& method, const std::string& path,
                              const std::string& query);

struct Decision {
  bool allowed = false;
  std::string reason;  // which binding allowed it; "" when denied
};

// Upstream's Forbidden message: `pods "x" is forbidden: User "alice" cannot get resource "pods"
// in API group "" in the namespace "default"`.
std::string forbidden_message(const std::string& user, const Attributes& a);

// What upstream's clusterrole-aggregation controller does: every ClusterRole with an
// aggregationRule gets the rules of the ClusterRoles its selectors match (transitively), written
// back to the datastore when they changed. Fails only when the datastore does.
core::Result<void> aggregate_cluster_roles(datastore::Backend& store);

// The default ClusterRoles and ClusterRoleBindings (rbac_defaults.yaml), ready to store.
std::vector<nlohmann::json> default_rbac_objects();

class Authorizer;

// Upstream's escalation check for a Role, ClusterRole or binding a user writes: why they may
// not ("" when they may): the rules (or the bound role's rules) must be ones they hold
// themselves, unless they may `escalate` (roles) or `bind` (bindings).
std::string escalation_problem(const Authorizer& authz, const std::string& user,
                               const std::vector<std::string>& groups, const Attributes& request,
                               const nlohmann::json& object, datastore::Backend& store);

class Authorizer {
 public:
  explicit Authorizer(datastore::Backend& store);
  ~Authorizer();
  // system:masters may do everything; others what their bindings grant. A datastore failure
  // denies, with the cause as the reason.
  Decision authorize(const std::string& user, const std::vector<std::string>& groups,
                     const Attributes& a) const;
  // The rules that apply to the user in a namespace (cluster-wide bindings included), as
  // SelfSubjectRulesReview reports them: {resourceRules, nonResourceRules}.
  nlohmann::json rules_for(const std::string& user, const std::vector<std::string>& groups,
                           const std::string& ns) const;
  // Called after a Role, ClusterRole or binding was written.
  void invalidate() const { generation_.fetch_add(1); }

  struct Snapshot;

 private:
  core::Result<std::shared_ptr<const Snapshot>> snapshot() const;
  datastore::Backend& store_;
  mutable std::atomic<uint64_t> generation_{1};
  mutable std::mutex mu_;
  mutable std::shared_ptr<const Snapshot> current_;
};

}  // namespace k3s::apiserver
