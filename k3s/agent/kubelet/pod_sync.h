// One pod's reconciliation against the runtime, as the kubelet's pod worker does it: the
// runtime's view of the pod (its sandboxes and containers, found by the pod's uid label), the
// kubelet's memory of it between syncs (why a container waits, probe states, the prepared
// volumes), and sync(), which moves the runtime toward the pod's spec and writes the status
// (pod_sync.cc: sandboxes, deletion, status; pod_run.cc: containers, restarts, probes).
// A PodSyncer belongs to one worker thread; the shared state is locked inside.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/grpc/grpc_client.h"
#include "k3s/agent/kubelet/cri.h"
#include "k3s/agent/kubelet/pod_config.h"
#include "k3s/agent/kubelet/volumes.h"
#include "k3s/client/kube_client.h"

namespace k3s::agent::kubelet {

using Clock = std::chrono::steady_clock;

// What the runtime holds for one pod: sandboxes and container statuses, oldest first.
struct RuntimePod {
  std::vector<cri::v1::PodSandbox> sandboxes;
  std::vector<cri::v1::ContainerStatus> containers;
  // The newest instance of a container (nullptr when none), and the one before it.
  const cri::v1::ContainerStatus* latest(const std::string& name) const;
  const cri::v1::ContainerStatus* previous(const std::string& name) const;
  const cri::v1::PodSandbox* ready_sandbox() const;
};

struct ProbeState {
  std::string container_id;  // the instance it belongs to; reset when it changes
  Clock::time_point next{};
  int successes = 0, failures = 0;
  bool ok = false;
};

// The kubelet's memory of a pod between syncs.
struct PodMemory {
  std::map<std::string, std::pair<std::string, std::string>> waiting;  // reason, message
  std::map<std::string, ProbeState> probes;  // "<container>/<liveness|readiness|startup>"
  std::map<std::string, std::string> volumes;
  Clock::time_point volumes_refreshed{};
  std::string sandbox_id, pod_ip;
  nlohmann::json written;  // the status last written
};

// Image pulls, one at a time on the kubelet's puller thread as upstream's kubelet serializes
// them, so that a pull waiting on a registry that does not answer (an air-gapped node asked for
// an image its bundle lacks) holds up no other pod's sync.
struct ImagePulls {
  struct Done {
    std::string error;  // "" when the pull succeeded
    Clock::time_point at;
  };
  std::mutex mu;
  std::condition_variable wake;
  std::deque<std::string> queue;                         // the front one is being pulled
  std::map<std::string, std::set<std::string>> waiting;  // image → pod uids to sync when done
  std::map<std::string, Done> done;                      // image → how its last pull ended
};

struct SharedState {
  // Set once the first list of the node's pods is in: until then a sandbox without a pod is
  // not an orphan.
  std::atomic<bool> listed{false};
  std::mutex mu;
  std::map<std::string, nlohmann::json> pods;  // uid → the pod as the API has it
  std::map<std::string, PodMemory> memory;     // uid → ...
  ImagePulls pulls;
};

class PodSyncer {
 public:
  PodSyncer(SharedState& state, const NodeContext& node, const std::string& cri_socket,
            client::Endpoint api);
  // Reconciles the pod with this uid; returns how soon it wants to be synced again.
  Clock::duration sync(const std::string& uid);

 private:
  core::Result<RuntimePod> observe(const std::string& uid);
  Clock::duration run(const nlohmann::json& pod, RuntimePod& rt, PodMemory& mem);
  void kill(const std::string& uid, const RuntimePod& rt, int64_t grace_seconds);
  core::Result<void> ensure_sandbox(const nlohmann::json& pod, RuntimePod& rt, PodMemory& mem);
  // Starts instance `attempt` of a container; failures are kept in mem.waiting.
  bool start(const nlohmann::json& pod, const nlohmann::json& container, uint32_t attempt,
             PodMemory& mem);
  // Starts the next instance when its restart backoff allows (CrashLoopBackOff otherwise);
  // `next` is pulled in to when it wants another look.
  bool launch(const nlohmann::json& pod, const nlohmann::json& container,
              const cri::v1::ContainerStatus* last, PodMemory& mem, Clock::time_point& next);
  // Init containers in order; true once all have succeeded.
  bool run_init_containers(const nlohmann::json& pod, const RuntimePod& rt, PodMemory& mem,
                           Clock::time_point& next);
  // Containers started, restarted by policy, probed.
  void run_containers(const nlohmann::json& pod, const RuntimePod& rt, PodMemory& mem,
                      Clock::time_point& next);
  // True when the container's image is present as its pull policy wants (Always: pulled in
  // the last 10 s); false while the pull is queued (the pod is synced again once it ends). A
  // pull that failed in the last 10 s is that failure.
  core::Result<bool> ensure_image(const nlohmann::json& pod, const nlohmann::json& container);
  // Runs the container's due probes; false when liveness says to restart it.
  bool probe(const nlohmann::json& pod, const nlohmann::json& container,
             const cri::v1::ContainerStatus& status, PodMemory& mem, Clock::time_point& next);
  void write_status(const nlohmann::json& pod, const RuntimePod& rt, PodMemory& mem);
  core::Result<nlohmann::json> get_object(const std::string& resource, const std::string& ns,
                                          const std::string& name);
  core::Result<std::string> request_token(const nlohmann::json& pod, const std::string& audience,
                                          int64_t seconds);

  SharedState& state_;
  const NodeContext& node_;
  std::string cri_socket_;
  core::grpc::Client cri_;
  client::KubeClient kube_;
  ObjectGetter get_;      // get_object
  TokenRequester token_;  // request_token
};

// The puller thread's loop: pulls the queued images in order until `stopping` (which the caller
// sets, then wakes pulls.wake), and hands each pod that waited on an image to `sync`.
void pull_images(ImagePulls& pulls, const std::string& cri_socket,
                 const std::atomic<bool>& stopping,
                 const std::function<void(const std::string&)>& sync);

// The status the pod's runtime state amounts to (phase, conditions, container statuses, IPs).
nlohmann::json pod_status(const nlohmann::json& pod, const RuntimePod& rt, const PodMemory& mem,
                          const NodeContext& node);

// Backoff before restarting a container that has restarted `restarts` times: none the first
// time, then 10 s doubling to five minutes, as upstream's kubelet waits.
std::chrono::seconds restart_backoff(uint32_t restarts);

}  // namespace k3s::agent::kubelet
