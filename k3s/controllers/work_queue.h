// A controller's queue of keys to reconcile, with client-go's guarantees: a key queued several
// times before it is taken is handled once; a key being handled is not handed to another worker
// until done(), and if it was queued meanwhile it comes back after. Keys can be queued for
// later (add_after) and retried with per-key exponential backoff (retry, forget). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace k3s::controllers {

class WorkQueue {
 public:
  using Clock = std::chrono::steady_clock;

  void add(const std::string& key);
  void add_after(const std::string& key, Clock::duration delay);
  // Queues the key after its backoff (10 ms, doubling per failure up to 30 s).
  void retry(const std::string& key);
  // Resets the key's backoff after a success.
  void forget(const std::string& key);
  // Blocks until a key is due; nullopt once shut down.
  std::optional<std::string> take();
  void done(const std::string& key);
  void shutdown();
  // Keys queued or delayed (for tests and idle checks).
  size_t size() const;

 private:
  void add_locked(const std::string& key);

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::string> ready_;
  std::set<std::string> dirty_;       // queued, not yet taken
  std::set<std::string> processing_;  // taken, not yet done
  std::multimap<Clock::time_point, std::string> delayed_;
  std::map<std::string, int> failures_;
  bool shutdown_ = false;
};

}  // namespace k3s::controllers
