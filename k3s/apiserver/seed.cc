// The objects every cluster starts with: namespaces, the `kubernetes` Service, the built-in
// PriorityClasses, the default RBAC policy (Rest::seed).
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/base/time.h"
#include "core/serde/json.h"
#include "k3s/apiserver/rbac.h"
#include "k3s/apiserver/rest.h"
#include "k3s/apiserver/rest_helpers.h"

namespace k3s::apiserver {

using json = nlohmann::json;
using rest_detail::new_uid;

// Reads first: a restart finds everything in place without queueing writes.
core::Result<void> Rest::create_missing(const std::string& key, const json& object) const {
  if (K3A_TRY(store_.get(key))) return {};
  (void)K3A_TRY(store_.create(key, core::dump_json(object)));
  return {};
}

core::Result<void> Rest::seed(const std::string& service_ip, int https_port) const {
  std::string now = core::format_rfc3339(core::system_now());
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    json o = {{"apiVersion", "v1"},
              {"kind", "Namespace"},
              {"metadata",
               {{"name", ns},
                {"uid", new_uid()},
                {"creationTimestamp", now},
                {"labels", {{"kubernetes.io/metadata.name", ns}}}}},
              {"spec", {{"finalizers", {"kubernetes"}}}},
              {"status", {{"phase", "Active"}}}};
    K3A_CHECK(create_missing(std::string("/registry/namespaces/") + ns, o));
  }
  json svc = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata",
       {{"name", "kubernetes"},
        {"namespace", "default"},
        {"uid", new_uid()},
        {"creationTimestamp", now},
        {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
      {"spec",
       {{"type", "ClusterIP"},
        {"clusterIP", service_ip},
        {"clusterIPs", {service_ip}},
        {"ports",
         {{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", https_port}}}},
        {"sessionAffinity", "None"}}}};
  K3A_CHECK(create_missing("/registry/services/specs/default/kubernetes", svc));
  // The two built-in PriorityClasses the packaged components (and users' critical pods) name.
  for (const auto& [name, value, description] :
       {std::tuple{"system-node-critical", 2000001000,
                   "Used for system critical pods that must not be moved from their current node."},
        std::tuple{"system-cluster-critical", 2000000000,
                   "Used for system critical pods that must run in the cluster, but can be moved "
                   "to another node if necessary."}}) {
    json pc = {{"apiVersion", "scheduling.k8s.io/v1"},
               {"kind", "PriorityClass"},
               {"metadata", {{"name", name}, {"uid", new_uid()}, {"creationTimestamp", now}}},
               {"value", value},
               {"globalDefault", false},
               {"description", description},
               {"preemptionPolicy", "PreemptLowerPriority"}};
    K3A_CHECK(create_missing(std::string("/registry/priorityclasses/") + name, pc));
  }
  for (json o : default_rbac_objects()) {
    o["metadata"]["uid"] = new_uid();
    o["metadata"]["creationTimestamp"] = now;
    std::string kind = o["kind"], name = o["metadata"]["name"];
    std::string key = kind == "Role"
                          ? "/registry/roles/" + o["metadata"].value("namespace", "") + "/"
                      : kind == "ClusterRole" ? "/registry/clusterroles/"
                                              : "/registry/clusterrolebindings/";
    K3A_CHECK(create_missing(key + name, o));
  }
  return aggregate_cluster_roles(store_);
}

}  // namespace k3s::apiserver
