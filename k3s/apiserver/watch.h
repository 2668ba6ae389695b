// The watches the API serves: each one's stream, datastore subscription, deadline and bookmark
// schedule. A ticker thread ends streams at their deadline (timeoutSeconds, else upstream's
// randomised 30-60 minutes) and writes BOOKMARK events to those that asked for them. Writes to
// one stream are serialised, so a bookmark never reports a revision below an event already sent
// nor hides one not yet sent. Thread-safe; internal to k3s/apiserver.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/http/server.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver {

class WatchStream {
 public:
  using Clock = std::chrono::steady_clock;
  WatchStream(std::shared_ptr<core::http::ResponseStream> out, std::string api_version,
              std::string kind, int64_t revision, bool bookmarks, Clock::time_point deadline)
      : out_(std::move(out)),
        api_version_(std::move(api_version)),
        kind_(std::move(kind)),
        bookmarks_(bookmarks),
        deadline_(deadline),
        revision_(revision) {}
  // Sends encoded events that bring the stream to `revision`.
  void send(std::string chunk, int64_t revision);
  // A BOOKMARK at the revision reached; `initial_events_end` marks the end of the initial
  // events (sendInitialEvents) with upstream's annotation.
  void bookmark(bool initial_events_end);
  core::http::ResponseStream& out() { return *out_; }
  bool wants_bookmarks() const { return bookmarks_; }
  Clock::time_point deadline() const { return deadline_; }

 private:
  std::shared_ptr<core::http::ResponseStream> out_;
  const std::string api_version_, kind_;
  const bool bookmarks_;
  const Clock::time_point deadline_;
  std::mutex mu_;
  int64_t revision_;
};

class WatchRegistry {
 public:
  explicit WatchRegistry(std::chrono::milliseconds bookmark_interval);
  ~WatchRegistry();
  uint64_t add(std::shared_ptr<WatchStream> stream, std::unique_ptr<datastore::Subscription> sub);
  // Ends the subscription (outside the registry's lock).
  void remove(uint64_t id);
  // Ends every watch and stops the ticker; before the datastore goes away.
  void clear();

 private:
  struct Entry {
    std::shared_ptr<WatchStream> stream;
    std::unique_ptr<datastore::Subscription> sub;
    WatchStream::Clock::time_point next_bookmark;
  };
  void tick();

  const std::chrono::milliseconds bookmark_interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_ = 0;
  std::thread ticker_;
};

}  // namespace k3s::apiserver
