// A pod's volumes on the node, laid out as upstream's volume plugins do under
// <kubelet_root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>: emptyDir (a directory, or a
// tmpfs for medium Memory), hostPath (checked or created by its type), configMap, secret,
// downwardAPI and projected (service-account tokens requested for the pod, ConfigMaps,
// Secrets, the downward API) written as upstream's AtomicWriter does (files in a timestamped
// directory behind the `..data` symlink, swapped at once when their content changes), and
// persistentVolumeClaim through its bound PersistentVolume's hostPath or local path. Also the
// pod's /etc/hosts. Called at pod start and again to refresh; not thread-safe per pod.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/error.h"
#include "k3s/agent/kubelet/pod_config.h"

namespace k3s::agent::kubelet {

// A token for the pod's service account (TokenRequest bound to the pod), and its lifetime.
using TokenRequester = std::function<core::Result<std::string>(
    const nlohmann::json& pod, const std::string& audience, int64_t seconds)>;

// Volume name → host path. Errors name the volume: a missing ConfigMap, Secret, key or claim
// that is not optional, a hostPath that does not match its type, a token refused.
core::Result<std::map<std::string, std::string>> prepare_volumes(const nlohmann::json& pod,
                                                                 const NodeContext& node,
                                                                 const ObjectGetter& get,
                                                                 const TokenRequester& token);

// <pod dir>/etc-hosts: localhost, the pod's address and hostname, spec.hostAliases.
core::Result<void> write_hosts_file(const nlohmann::json& pod, const std::string& pod_ip,
                                    const NodeContext& node);

// Unmounts the pod's tmpfs volumes and removes its directory.
void remove_pod_dir(const std::string& uid, const NodeContext& node);

// Writes files (relative path → content) into dir atomically behind `..data`, with `mode`;
// unchanged content is left alone. For tests and the volume plugins.
core::Result<void> write_atomic_dir(const std::string& dir,
                                    const std::map<std::string, std::string>& files, int mode);

}  // namespace k3s::agent::kubelet
