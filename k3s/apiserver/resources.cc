#include "k3s/apiserver/resources.h"

#include <algorithm>

namespace k3s::apiserver {

std::string ResourceType::key_prefix() const {
  // Upstream keeps Services under specs/ (their IP allocations sit beside them) and
  // groups some resources by their API group's storage name.
  if (group.empty() && resource == "services") return "/registry/services/specs/";
  if (group.empty() && resource == "endpoints") return "/registry/services/endpoints/";
  if (group == "apiextensions.k8s.io") return "/registry/apiextensions.k8s.io/" + resource + "/";
  if (custom) return "/registry/" + group + "/" + resource + "/";
  return "/registry/" + resource + "/";
}

std::string ResourceType::key(std::string_view ns, std::string_view name) const {
  std::string k = key_prefix();
  if (namespaced) k += std::string(ns) + "/";
  return k + std::string(name);
}

const std::vector<ResourceType>& builtin_resources() {
  static const std::vector<ResourceType> kTypes = [] {
    using S = std::vector<std::string>;
    std::vector<ResourceType> t;
    auto add = [&](std::string g, std::string v, std::string res, std::string sing,
                   std::string kind, bool ns, S shorts = {}, S cats = {}, S subs = {}) {
      t.push_back({std::move(g), std::move(v), std::move(res), std::move(sing), std::move(kind), ns,
                   std::move(shorts), std::move(cats), std::move(subs)});
    };
    const S all = {"all"};
    add("", "v1", "bindings", "binding", "Binding", true);
    add("", "v1", "componentstatuses", "componentstatus", "ComponentStatus", false, {"cs"});
    add("", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"});
    add("", "v1", "endpoints", "endpoints", "Endpoints", true, {"ep"});
    add("", "v1", "events", "event", "Event", true, {"ev"});
    add("", "v1", "limitranges", "limitrange", "LimitRange", true, {"limits"});
    add("", "v1", "namespaces", "namespace", "Namespace", false, {"ns"}, {},
        {"finalize", "status"});
    add("", "v1", "nodes", "node", "Node", false, {"no"}, {}, {"status"});
    add("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true,
        {"pvc"}, {}, {"status"});
    add("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", false, {"pv"}, {},
        {"status"});
    add("", "v1", "pods", "pod", "Pod", true, {"po"}, all, {"binding", "status"});
    add("", "v1", "podtemplates", "podtemplate", "PodTemplate", true);
    add("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", true,
        {"rc"}, all, {"scale", "status"});
    add("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, {"quota"}, {},
        {"status"});
    add("", "v1", "secrets", "secret", "Secret", true);
    add("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, {"sa"});
    add("", "v1", "services", "service", "Service", true, {"svc"}, all, {"status"});
    add("apiregistration.k8s.io", "v1", "apiservices", "apiservice", "APIService", false, {}, {},
        {"status"});
    add("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true);
    add("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, {"ds"}, all, {"status"});
    add("apps", "v1", "deployments", "deployment", "Deployment", true, {"deploy"}, all,
        {"scale", "status"});
    add("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, {"rs"}, all,
        {"scale", "status"});
    add("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, {"sts"}, all,
        {"scale", "status"});
    add("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
        "HorizontalPodAutoscaler", true, {"hpa"}, all, {"status"});
    add("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler",
        "HorizontalPodAutoscaler", true, {"hpa"}, {}, {"status"});
    add("batch", "v1", "cronjobs", "cronjob", "CronJob", true, {"cj"}, all, {"status"});
    add("batch", "v1", "jobs", "job", "Job", true, {}, all, {"status"});
    add("coordination.k8s.io", "v1", "leases", "lease", "Lease", true);
    add("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true);
    add("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", false);
    add("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, {"ing"}, {},
        {"status"});
    add("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true,
        {"netpol"});
    add("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", false);
    add("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true,
        {"pdb"}, {}, {"status"});
    add("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
        "ClusterRoleBinding", false);
    add("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false);
    add("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true);
    add("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true);
    add("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", false,
        {"pc"});
    add("storage.k8s.io", "v1", "csidrivers", "csidriver", "CSIDriver", false);
    add("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", false);
    add("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false, {"sc"});
    add("storage.k8s.io", "v1", "volumeattachments", "volumeattachment", "VolumeAttachment", false,
        {}, {}, {"status"});
    add("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
        "CustomResourceDefinition", false, {"crd", "crds"}, {}, {"status"});
    return t;
  }();
  return kTypes;
}

const ResourceType* find_resource(const ResourceTypes& types, std::string_view group,
                                  std::string_view version, std::string_view resource) {
  for (const auto& t : types) {
    if (t.group == group && t.version == version && t.resource == resource) return &t;
  }
  return nullptr;
}

std::vector<std::pair<std::string, std::vector<std::string>>> api_groups(
    const ResourceTypes& types) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const auto& t : types) {
    auto it =
        std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == t.group; });
    if (it == out.end()) {
      out.push_back({t.group, {t.version}});
    } else if (std::find(it->second.begin(), it->second.end(), t.version) == it->second.end()) {
      it->second.push_back(t.version);
    }
  }
  return out;
}

}  // namespace k3s::apiserver
