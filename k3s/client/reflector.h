// A local copy of one API collection, kept as client-go's reflector keeps it: a list, then a
// watch from its resourceVersion, listed again when the watch expires or fails (after 2 s). Each
// change (the list, every event) runs on_change on the reflector's thread; copy() may be called
// from any thread. stop() returns within about a second.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "k3s/client/kube_client.h"

namespace k3s::client {

class Reflector {
 public:
  // `path` is a collection: "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices".
  Reflector(Endpoint api, std::string path, std::function<void()> on_change);
  ~Reflector() { stop(); }
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  void stop();
  // The objects by "namespace/name" ("name" for cluster-scoped ones); false until listed once.
  bool synced() const { return synced_; }
  std::map<std::string, nlohmann::json> copy() const;

 private:
  void run();
  bool list(KubeClient& kube, std::string& rv);

  Endpoint api_;
  std::string path_;
  std::function<void()> on_change_;
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> objects_;
  std::atomic<bool> synced_{false}, stopping_{false};
  std::thread thread_;
};

}  // namespace k3s::client
