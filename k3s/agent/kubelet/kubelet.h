// The kubelet's pod loop over CRI v1: watches the pods bound to this node, and for each runs
// its sandbox, init containers in order and containers (pod_sync.h), restarts them by
// restartPolicy with backoff, runs the probes (probes.h) and writes the pod's status; a pod
// being deleted is stopped within its grace period and then removed from the API. A relist of
// the runtime every second notices containers that exit; every pod is synced again every ten
// seconds. Pods are synced by several workers, never one pod by two at once; images are pulled
// one at a time on a thread of their own (upstream's serialized pulls), so a pull that hangs
// delays only the pods waiting for images. Sandboxes and
// containers are recognised by their io.kubernetes.* labels, so a restarted agent adopts what
// it started before and removes what belongs to no pod. start()/stop() from one thread; the
// lookups are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/base/error.h"
#include "k3s/agent/kubelet/pod_config.h"
#include "k3s/client/kube_client.h"

namespace k3s::agent::kubelet {

struct KubeletOptions {
  NodeContext node;
  std::string cri_socket = "/run/k3s/containerd/containerd.sock";
  int workers = 4;
};

// A container as the log and exec endpoints need it.
struct ContainerRef {
  std::string id;
  std::string log_path;  // the CRI log file
  bool running = false;
};

class Kubelet {
 public:
  Kubelet(client::Endpoint api, KubeletOptions options);
  ~Kubelet();
  Kubelet(const Kubelet&) = delete;
  Kubelet& operator=(const Kubelet&) = delete;

  void start();
  void stop();

  // The container of a pod on this node (its latest instance, or the one before with
  // `previous`); kNotFound naming what is missing, kInvalid when the pod has several containers
  // and none is named.
  core::Result<ContainerRef> find_container(const std::string& ns, const std::string& pod,
                                            const std::string& container, bool previous);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace k3s::agent::kubelet
