#include "k3s/apiserver/watch.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "core/serde/json.h"

namespace k3s::apiserver {

void WatchStream::send(std::string chunk, int64_t revision) {
  std::lock_guard lock(mu_);
  if (!chunk.empty()) out_->write(std::move(chunk));
  revision_ = std::max(revision_, revision);
}

void WatchStream::bookmark(bool initial_events_end) {
  std::lock_guard lock(mu_);
  nlohmann::json md = {{"resourceVersion", std::to_string(revision_)}};
  if (initial_events_end) md["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  nlohmann::json event = {
      {"type", "BOOKMARK"},
      {"object", {{"kind", kind_}, {"apiVersion", api_version_}, {"metadata", md}}}};
  out_->write(core::dump_json(event) + "\n");
}

WatchRegistry::WatchRegistry(std::chrono::milliseconds bookmark_interval)
    : bookmark_interval_(bookmark_interval), ticker_([this] { tick(); }) {}

WatchRegistry::~WatchRegistry() { clear(); }

uint64_t WatchRegistry::add(std::shared_ptr<WatchStream> stream,
                            std::unique_ptr<datastore::Subscription> sub) {
  std::lock_guard lock(mu_);
  entries_[++next_] = {std::move(stream), std::move(sub),
                       WatchStream::Clock::now() + bookmark_interval_};
  wake_.notify_one();
  return next_;
}

void WatchRegistry::remove(uint64_t id) {
  Entry gone;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    gone = std::move(it->second);
    entries_.erase(it);
  }
}

void WatchRegistry::clear() {
  std::map<uint64_t, Entry> all;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    all.swap(entries_);
  }
  wake_.notify_one();
  if (ticker_.joinable() && ticker_.get_id() != std::this_thread::get_id()) ticker_.join();
}

// Wakes at the nearest deadline or bookmark; closes and writes outside the lock, since a
// closing stream removes itself from the registry.
void WatchRegistry::tick() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = WatchStream::Clock::now();
    auto next = now + std::chrono::seconds(60);
    std::vector<std::shared_ptr<WatchStream>> due;
    std::vector<Entry> expired;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now >= it->second.stream->deadline()) {
        expired.push_back(std::move(it->second));
        it = entries_.erase(it);
        continue;
      }
      Entry& e = (it++)->second;
      next = std::min(next, e.stream->deadline());
      if (!e.stream->wants_bookmarks()) continue;
      if (now >= e.next_bookmark) {
        due.push_back(e.stream);
        e.next_bookmark = now + bookmark_interval_;
      }
      next = std::min(next, e.next_bookmark);
    }
    if (!expired.empty() || !due.empty()) {
      lock.unlock();
      for (auto& s : due) s->bookmark(false);
      for (auto& e : expired) e.stream->out().close();
      expired.clear();  // ends the subscriptions
      lock.lock();
      continue;
    }
    wake_.wait_until(lock, next);
  }
}

}  // namespace k3s::apiserver
