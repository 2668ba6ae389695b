// `k3s agent`: joins the cluster (join.h), starts and supervises containerd (containerd.h),
// registers its Node with the kubelet's identity and keeps it Ready: the status with capacity,
// addresses and node info when it changes or every five minutes, the lease in kube-node-lease
// every ten seconds. Images in agent/images (preload.h) are imported before the node registers,
// and archives added later within seconds. Pods are not run yet: the CRI side of the kubelet is
// still to come. Runs until SIGTERM or SIGINT.
#pragma once

#include "core/base/error.h"
#include "k3s/config/agent_config.h"

namespace k3s::agent {

// Fails when the join is refused (wrong token, CA hash or node password) or the Node cannot be
// registered; a server that cannot be reached yet is retried every five seconds.
core::Result<void> run_agent(const config::AgentConfig& config);

}  // namespace k3s::agent
