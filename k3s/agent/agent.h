// `k3s agent`: joins the cluster (join.h), starts and supervises containerd (containerd.h),
// registers its Node with the kubelet's identity and keeps it Ready: the status with capacity,
// addresses and node info when it changes or every five minutes, the lease in kube-node-lease
// every ten seconds. Images in agent/images (preload.h) are imported before the node registers,
// and archives added later within seconds; the node's pods run through the kubelet
// (kubelet/kubelet.h) on the bridge network of its pod CIDR (cni.h), with Service rules and
// routes to the other nodes' pods kept by proxy.h.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "core/base/error.h"
#include "k3s/config/agent_config.h"

namespace k3s::agent {

// Waits up to the given time; true when the agent is to shut down.
using StopWait = std::function<bool(std::chrono::milliseconds)>;

// Fails when the join is refused (wrong token, CA hash or node password) or the Node cannot be
// registered; a server that cannot be reached yet is retried every five seconds. Runs until
// `stop` says so.
core::Result<void> run_agent(const config::AgentConfig& config, const StopWait& stop);
// `k3s agent`: until SIGTERM or SIGINT.
core::Result<void> run_agent(const config::AgentConfig& config);

// How long k3s shuts down in order (the kubelet's workers, containerd, the API) after SIGTERM
// before it exits regardless (core::exit_after); containerd dies with it, the pods run on.
inline constexpr std::chrono::seconds kShutdownGrace{5};

// run_agent on a thread of its own (the server's embedded agent) until stop(), which returns
// the agent's result. A failure is logged and on_failure runs (the server stops itself).
class AgentThread {
 public:
  AgentThread(config::AgentConfig config, std::function<void()> on_failure);
  ~AgentThread() { (void)stop(); }
  AgentThread(const AgentThread&) = delete;
  AgentThread& operator=(const AgentThread&) = delete;
  core::Result<void> stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  core::Result<void> result_;
  std::thread thread_;
};

}  // namespace k3s::agent
