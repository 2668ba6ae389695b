// What every in-process controller shares: the informer's view of the store, the API it writes
// through, an event recorder, and the server's settings. A Controller reconciles keys from its
// queue on its own worker thread; the handlers it registers on the informer only queue keys.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/base/error.h"
#include "k3s/apiserver/catalog.h"
#include "k3s/controllers/informer.h"
#include "k3s/controllers/local_api.h"
#include "k3s/controllers/work_queue.h"

namespace k3s::controllers {

struct ControllerOptions {
  std::string server_ca_pem;  // published in every namespace as kube-root-ca.crt
  // Where the `kubernetes` Service's endpoints point: the server's advertised address.
  std::string api_address = "127.0.0.1";
  int api_port = 6443;
  // A node silent (no status, no lease renewal) for longer is Ready=Unknown and unreachable.
  int64_t node_monitor_grace_seconds = 40;
  // Nodes get their pod CIDRs (a /24 each) from it.
  std::string cluster_cidr = "10.42.0.0/16";
  bool service_lb = true;  // false with --disable servicelb
};

// Writes core/v1 Events about objects, as upstream's recorder does: one Event per object,
// reason and message, its count and lastTimestamp raised when it repeats. Thread-safe.
class EventRecorder {
 public:
  explicit EventRecorder(const LocalApi& api) : api_(api) {}
  // `component` is the reporter (e.g. "deployment-controller"), type "Normal" or "Warning".
  // Failures are logged, never returned: events are best effort.
  void record(const std::string& component, const nlohmann::json& object, const std::string& type,
              const std::string& reason, const std::string& message);

 private:
  struct Seen {
    std::string name;
    int count = 0;
  };
  const LocalApi& api_;
  std::mutex mu_;
  std::map<std::string, Seen> seen_;  // uid + reason + message -> the Event written
};

struct ControllerContext {
  Informer& informer;
  const LocalApi& api;
  const apiserver::Catalog& catalog;
  EventRecorder& events;
  const ControllerOptions& options;
};

class Controller {
 public:
  explicit Controller(std::string name) : name_(std::move(name)) {}
  virtual ~Controller() = default;
  const std::string& name() const { return name_; }
  // Reconciles what `key` names. An error is logged and the key retried with backoff.
  virtual core::Result<void> sync(const std::string& key) = 0;
  WorkQueue& queue() { return queue_; }

 protected:
  // Queues "<ns>/<name>" of the object's controller when it is of `kind`.
  void enqueue_controller(const nlohmann::json& o, const std::string& kind);

 private:
  std::string name_;
  WorkQueue queue_;
};

// The pods a controller created or deleted that its informer may not show yet, so that a stale
// view never makes it act twice (upstream's "expectations"). Keys are the owner's queue keys.
// Thread-safe.
class Expectations {
 public:
  void expect_create(const std::string& key, const std::string& pod);
  void expect_delete(const std::string& key, const std::string& pod);
  // True when every expected create shows among `owned` and every expected delete is gone from
  // it or marked for deletion (or five minutes have passed); the expectations are dropped then.
  bool settled(const std::string& key, const std::vector<ObjectPtr>& owned);
  void forget(const std::string& key);

 private:
  struct Pending {
    std::set<std::string> creating, deleting;
    std::chrono::steady_clock::time_point since;
  };
  std::mutex mu_;
  std::map<std::string, Pending> pending_;
};

// Success, or the call's error unless it is `tolerated` (a missing object often needs nothing
// more, an existing one nothing at all).
core::Result<void> unless(core::Result<nlohmann::json> r, core::Errc tolerated);
inline core::Result<void> unless_missing(core::Result<nlohmann::json> r) {
  return unless(std::move(r), core::Errc::kNotFound);
}
// Writes `status` through the object's /status subresource unless the object already has it;
// an object deleted meanwhile is not an error.
core::Result<void> write_status(const LocalApi& api, const std::string& path,
                                const nlohmann::json& object, const nlohmann::json& status);

// Helpers over objects as JSON.
const nlohmann::json& metadata(const nlohmann::json& o);
std::string name_of(const nlohmann::json& o);
std::string namespace_of(const nlohmann::json& o);
std::string uid_of(const nlohmann::json& o);
bool being_deleted(const nlohmann::json& o);
// "<ns>/<name>" or "<name>".
std::string queue_key(const nlohmann::json& o);
// The owner reference that marks `owner` as the controller of an object.
nlohmann::json controller_ref(const nlohmann::json& owner);
// The uid of the controller among `o`'s ownerReferences, "" when none.
std::string controller_uid(const nlohmann::json& o);

}  // namespace k3s::controllers
