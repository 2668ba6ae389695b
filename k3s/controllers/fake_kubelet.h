// A stand-in for the kubelets of nodes named "fake-*", for tests that run the controllers
// without agents: it keeps those nodes Ready (status and a lease in kube-node-lease, renewed
// every second) unless the node carries the label fake-kubelet/stopped=true; marks the pods
// bound to them Running and Ready (a pod with restartPolicy Never or OnFailure finishes:
// Succeeded, or Failed when annotated fake-kubelet/exit-code other than "0"); and finishes
// their graceful deletion. Polls through the API in process; its thread stops with the object.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include "k3s/apiserver/apiserver.h"
#include "k3s/controllers/local_api.h"

namespace k3s::controllers {

class FakeKubelet {
 public:
  explicit FakeKubelet(const apiserver::ApiServer& api,
                       std::chrono::milliseconds period = std::chrono::milliseconds(50));
  ~FakeKubelet();

 private:
  void tick();
  void heartbeat(const nlohmann::json& node);
  void run_pod(const nlohmann::json& pod);

  LocalApi api_;
  std::chrono::milliseconds period_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace k3s::controllers
