// The controllers' shared view of the datastore: every object under /registry/, listed once and
// then kept current from one watch, parsed, with metadata.resourceVersion filled in. Handlers
// registered for a key prefix hear of every change (and of every object present at start, as
// created) on the informer's own thread; they must be quick (enqueue a key). Reads (get, list)
// are thread-safe and return immutable shared objects.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/error.h"
#include "k3s/datastore/backend.h"

namespace k3s::controllers {

using ObjectPtr = std::shared_ptr<const nlohmann::json>;

struct Change {
  const std::string& key;
  ObjectPtr before;  // null: created
  ObjectPtr after;   // null: deleted
};

class Informer {
 public:
  explicit Informer(datastore::Backend& store) : store_(store) {}
  ~Informer() { stop(); }

  // Before start() only.
  void on_change(std::string prefix, std::function<void(const Change&)> handler);
  // Lists and delivers the objects found to every handler (on the calling thread, before it
  // returns), then watches. Fails when the datastore cannot be read.
  core::Result<void> start();
  void stop();

  ObjectPtr get(const std::string& key) const;
  // Objects whose keys start with `prefix`, in key order.
  std::vector<ObjectPtr> list(const std::string& prefix) const;
  // The revision the view reflects.
  int64_t revision() const;
  // Blocks until the view reflects `revision` (or the informer stops); false on timeout.
  bool wait_for(int64_t revision, std::chrono::milliseconds timeout) const;

 private:
  void run();
  void apply(std::vector<datastore::Event> events);
  void deliver(const std::string& key, ObjectPtr before, ObjectPtr after);

  datastore::Backend& store_;
  std::vector<std::pair<std::string, std::function<void(const Change&)>>> handlers_;

  mutable std::shared_mutex view_mu_;
  std::map<std::string, ObjectPtr> objects_;
  int64_t revision_ = 0;
  mutable std::condition_variable_any advanced_;

  std::mutex queue_mu_;
  std::condition_variable queued_;
  std::deque<std::vector<datastore::Event>> pending_;
  bool stopping_ = false;
  std::unique_ptr<datastore::Subscription> subscription_;
  std::thread thread_;
};

}  // namespace k3s::controllers
