// A stand-in for the kubelets of nodes named "fake-*", for tests that run the controllers
// without agents: it keeps those nodes Ready (status and a lease in kube-node-lease, renewed
// every lease_seconds) unless the node carries the label fake-kubelet/stopped=true; marks the pods
// bound to them Running and Ready (a pod with restartPolicy Never or OnFailure finishes:
// Succeeded, or Failed when annotated fake-kubelet/exit-code other than "0"); and finishes
// their graceful deletion. Polls through `call` (the API in process, or a client over HTTPS for
// end-to-end tests); its thread stops with the object.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/base/error.h"

namespace k3s::controllers {

class FakeKubelet {
 public:
  // As LocalApi::call.
  using Call = std::function<core::Result<nlohmann::json>(
      const std::string& method, const std::string& path, const nlohmann::json* body,
      const std::string& content_type)>;
  explicit FakeKubelet(Call call, std::chrono::milliseconds period = std::chrono::milliseconds(50),
                       int lease_seconds = 1);
  ~FakeKubelet();

 private:
  void tick();
  void heartbeat(const nlohmann::json& node, const nlohmann::json& lease);
  void run_pod(const nlohmann::json& pod);

  core::Result<nlohmann::json> get(const std::string& path) {
    return call_("GET", path, nullptr, "");
  }
  core::Result<nlohmann::json> send(const std::string& method, const std::string& path,
                                    const nlohmann::json& body,
                                    const std::string& type = "application/json") {
    return call_(method, path, &body, type);
  }

  Call call_;
  std::chrono::milliseconds period_;
  int lease_seconds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace k3s::controllers
