// The datastore seen by the API server: etcd's model as kine implements it. Every write makes
// a new global revision; a key's value carries the revision that created it and the one that
// last modified it; writes can be conditional on that modification revision (compare and
// swap); reads can be served at a past revision until it is compacted; watches deliver every
// change after a revision, in order. Backends (SQLite here; PostgreSQL, MySQL and etcd later)
// implement this interface; all of its methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace k3s::datastore {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;  // TTL in seconds (0: none); the key is deleted that long after its write
};

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  bool created = false;  // a put that created the key
  KeyValue kv;           // for deletes: the key, the tombstone's revision, the last value
  std::optional<KeyValue> prev;
};

// [start, end): end "" means the single key `start`; prefix(p) gives the range of a prefix.
struct Range {
  std::string start;
  std::string end;
  static Range key(std::string k) { return {std::move(k), ""}; }
  static Range prefix(const std::string& p);
  bool contains(const std::string& k) const;
};

struct ListOptions {
  int64_t revision = 0;  // 0: current
  int64_t limit = 0;     // 0: no limit
  bool count_only = false;
  bool count = true;  // fill ListResult::count (a second pass over the range)
};

struct ListResult {
  int64_t revision = 0;  // the revision the list was served at
  std::vector<KeyValue> kvs;
  bool more = false;  // limit cut the list
  int64_t count = 0;  // keys in the whole range at that revision
};

// The outcome of a write: on success the new revision and the written (or deleted) kv; when a
// precondition fails, succeeded is false and `current` holds the key's live value if any.
struct WriteResult {
  bool succeeded = false;
  int64_t revision = 0;
  std::optional<KeyValue> current;
};

// A watch's deliveries: batches of events in revision order, on the backend's notifier thread;
// the callback must not block (hand the events to the consumer's own executor).
using EventSink = std::function<void(std::vector<Event>)>;

class Subscription {
 public:
  virtual ~Subscription() = default;  // destroying it stops deliveries
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual core::Result<int64_t> current_revision() = 0;
  virtual core::Result<int64_t> compact_revision() = 0;
  // kExpired below the compact revision; kInvalid for a future revision.
  virtual core::Result<std::optional<KeyValue>> get(const std::string& key,
                                                    int64_t revision = 0) = 0;
  virtual core::Result<ListResult> list(const Range& range, const ListOptions& options) = 0;

  // Fails (succeeded=false) when the key exists.
  virtual core::Result<WriteResult> create(const std::string& key, std::string value,
                                           int64_t lease = 0) = 0;
  // Fails unless the key's live mod revision equals expected_revision.
  virtual core::Result<WriteResult> update(const std::string& key, std::string value,
                                           int64_t expected_revision, int64_t lease = 0) = 0;
  // expected_revision 0: unconditional. Deleting a missing key succeeds with no revision.
  virtual core::Result<WriteResult> remove(const std::string& key, int64_t expected_revision) = 0;
  // Drops history at and below `revision` (never the newest kMinRetain revisions); returns the
  // compact revision reached.
  virtual core::Result<int64_t> compact(int64_t revision) = 0;

  // Events in `range` with revision > after_revision, then live ones. kExpired when
  // after_revision is below the compact revision.
  virtual core::Result<std::unique_ptr<Subscription>> watch(const Range& range,
                                                            int64_t after_revision,
                                                            EventSink sink) = 0;
};

inline constexpr int64_t kMinRetain = 1000;

}  // namespace k3s::datastore
