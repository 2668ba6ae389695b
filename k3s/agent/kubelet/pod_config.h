// What a Pod asks of the runtime, as the kubelet translates it into CRI messages: the sandbox
// (metadata, hostname, DNS by dnsPolicy and dnsConfig, host ports, log directory
// /var/log/pods/<ns>_<name>_<uid>, host network/PID/IPC namespaces, sysctls) and each container
// (image, command and args with $(VAR) expansion, environment from values, the downward API,
// ConfigMaps and Secrets, envFrom, the kubernetes Service's variables; mounts of the prepared
// volumes with subPath, /etc/hosts and the termination log; cpu and memory limits as cgroup
// limits; the security context). Labels and annotations carry upstream's io.kubernetes.* keys,
// so a restarted agent recognises its sandboxes and containers. Pure but for the getter.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/error.h"
#include "k3s/agent/kubelet/cri.h"

namespace k3s::agent::kubelet {

// Labels on sandboxes and containers.
inline constexpr char kPodUidLabel[] = "io.kubernetes.pod.uid";
inline constexpr char kPodNameLabel[] = "io.kubernetes.pod.name";
inline constexpr char kPodNamespaceLabel[] = "io.kubernetes.pod.namespace";
inline constexpr char kContainerNameLabel[] = "io.kubernetes.container.name";

struct NodeContext {
  std::string node_name, node_ip;
  std::string cluster_dns, cluster_domain = "cluster.local";
  std::string resolv_conf = "/etc/resolv.conf";  // the host's, for dnsPolicy Default
  std::string kubelet_root = "/var/lib/kubelet";
  std::string log_root = "/var/log/pods";
  std::string kubernetes_service_ip;  // the `kubernetes` Service's ClusterIP ("" = unknown)
};

// Reads an object a pod refers to: ("configmaps" | "secrets" | ..., namespace, name).
// kNotFound when it does not exist.
using ObjectGetter = std::function<core::Result<nlohmann::json>(
    const std::string& resource, const std::string& ns, const std::string& name)>;

// <kubelet_root>/pods/<uid> and the pod's log directory.
std::string pod_dir(const nlohmann::json& pod, const NodeContext& node);
std::string pod_log_dir(const nlohmann::json& pod, const NodeContext& node);

cri::v1::PodSandboxConfig sandbox_config(const nlohmann::json& pod, uint32_t attempt,
                                         const NodeContext& node);

// `volumes` maps the pod's volume names to host paths (volumes.h). Fails (kNotFound, kInvalid)
// when a referenced ConfigMap, Secret or key is missing and not optional, or a mount names a
// volume the pod lacks; the message is what the pod's status shows.
core::Result<cri::v1::ContainerConfig> container_config(
    const nlohmann::json& pod, const nlohmann::json& container, uint32_t attempt,
    const std::string& pod_ip, const NodeContext& node, const ObjectGetter& get,
    const std::map<std::string, std::string>& volumes);

// $(VAR) replaced from env, $$(VAR) left as $(VAR), unknown references kept as written.
std::string expand_vars(const std::string& text, const std::map<std::string, std::string>& env);

// A quantity in base units ("500m" → 0.5, "64Mi" → 67108864); 0 when unreadable.
double quantity(const nlohmann::json& q);

}  // namespace k3s::agent::kubelet
