#include "k3s/datastore/sqlite_backend.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "core/sqlite/sqlite.h"

namespace k3s::datastore {

using core::Errc;
using core::sqlite::Db;
using core::sqlite::Stmt;

Range Range::prefix(const std::string& p) {
  std::string end = p;
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (end.empty()) return {p, std::string(1, '\0')};  // no upper bound representable: all
  end.back() = static_cast<char>(end.back() + 1);
  return {p, end};
}

bool Range::contains(const std::string& k) const {
  if (end.empty()) return k == start;
  if (end == std::string(1, '\0')) return k >= start;
  return k >= start && k < end;
}

namespace {

constexpr char kCompactKey[] = "compact_rev_key";

// kine's schema (SQLite driver), byte for byte where it matters: an upstream state.db opens.
constexpr char kSchema[] = R"(
CREATE TABLE IF NOT EXISTS kine
(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT,
  created INTEGER,
  deleted INTEGER,
  create_revision INTEGER,
  prev_revision INTEGER,
  lease INTEGER,
  value BLOB,
  old_value BLOB
);
CREATE INDEX IF NOT EXISTS kine_name_index ON kine (name);
CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name,id);
CREATE INDEX IF NOT EXISTS kine_id_deleted_index ON kine (id,deleted);
CREATE INDEX IF NOT EXISTS kine_prev_revision_index ON kine (prev_revision);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision);
CREATE INDEX IF NOT EXISTS kine_id_compact_rev_key_with_prev_revision_index
  ON kine (id, name, prev_revision) WHERE name != 'compact_rev_key' AND prev_revision != 0;
)";

constexpr char kRowColumns[] =
    "id, name, created, deleted, create_revision, prev_revision, lease, value, old_value";

// One row of the table.
struct Row {
  int64_t id = 0;
  std::string name;
  bool created = false;
  bool deleted = false;
  int64_t create_revision = 0;
  int64_t prev_revision = 0;
  int64_t lease = 0;
  std::string value;
  std::optional<std::string> old_value;

  static Row read(const Stmt& s) {
    Row r;
    r.id = s.column_int(0);
    r.name = s.column_text(1);
    r.created = s.column_int(2) != 0;
    r.deleted = s.column_int(3) != 0;
    r.create_revision = s.column_int(4);
    r.prev_revision = s.column_int(5);
    r.lease = s.column_int(6);
    r.value = s.column_text(7);
    if (!s.column_null(8)) r.old_value = s.column_text(8);
    return r;
  }
  // Create rows store 0 as their create revision; readers substitute the row's id.
  KeyValue kv() const {
    return {name, value, created || create_revision == 0 ? id : create_revision, id, lease};
  }
  Event event() const {
    Event e;
    e.type = deleted ? Event::Type::kDelete : Event::Type::kPut;
    e.created = created;
    e.kv = kv();
    if (prev_revision != 0 && old_value) {
      e.prev = KeyValue{name, *old_value, e.kv.create_revision, prev_revision, 0};
    }
    return e;
  }
};

bool internal_key(const std::string& name) {
  return name == kCompactKey || name.starts_with("gap-");
}

enum class OpKind { kCreate, kUpdate, kRemove, kCompact };

struct WriteOp {
  OpKind kind;
  std::string key;
  std::string value;
  int64_t expected = 0;
  int64_t lease = 0;
  std::promise<core::Result<WriteResult>> done;
};

class SqliteBackend;

class Watcher : public Subscription {
 public:
  Watcher(SqliteBackend* owner, Range range, int64_t after, EventSink sink)
      : owner_(owner), range_(std::move(range)), after_(after), sink_(std::move(sink)) {}
  ~Watcher() override;

  // Under the hub's lock.
  void deliver(const std::vector<Event>& events) {
    std::vector<Event> mine;
    for (const auto& e : events) {
      if (e.kv.mod_revision > after_ && range_.contains(e.kv.key)) mine.push_back(e);
    }
    if (mine.empty()) return;
    after_ = mine.back().kv.mod_revision;
    if (catching_up_) {
      buffered_.insert(buffered_.end(), mine.begin(), mine.end());
    } else {
      sink_(std::move(mine));
    }
  }

  SqliteBackend* owner_;
  Range range_;
  int64_t after_;
  EventSink sink_;
  bool catching_up_ = true;
  std::vector<Event> buffered_;
};

class SqliteBackend : public Backend {
 public:
  SqliteBackend(SqliteOptions options, Db writer)
      : options_(std::move(options)), writer_db_(std::move(writer)) {}

  ~SqliteBackend() override {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard lock(ttl_mu_);
      ttl_stop_ = true;
    }
    ttl_cv_.notify_all();
    if (ttl_thread_.joinable()) ttl_thread_.join();
  }

  core::Result<void> start() {
    Db& db = writer_db_;
    K3A_CHECK(db.exec(kSchema));
    auto compact =
        K3A_TRY(db.prepare("SELECT prev_revision FROM kine WHERE name = ? ORDER BY id "
                           "DESC LIMIT 1"));
    compact.bind(1, std::string_view(kCompactKey));
    if (K3A_TRY(compact.step())) {
      compact_rev_ = compact.column_int(0);
    } else {
      compact.reset();
      auto ins = K3A_TRY(db.prepare(
          "INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, "
          "old_value) VALUES(?, 1, 0, 0, 0, 0, '', '')"));
      ins.bind(1, std::string_view(kCompactKey));
      K3A_CHECK(ins.run());
    }
    auto max = K3A_TRY(db.prepare("SELECT COALESCE(MAX(id), 0) FROM kine"));
    (void)K3A_TRY(max.step());
    current_rev_ = max.column_int(0);
    K3A_CHECK(load_leases());
    writer_ = std::thread([this] { write_loop(); });
    ttl_thread_ = std::thread([this] { ttl_loop(); });
    return {};
  }

  // --- reads -----------------------------------------------------------------------------

  core::Result<int64_t> current_revision() override { return current_rev_.load(); }
  core::Result<int64_t> compact_revision() override { return compact_rev_.load(); }

  core::Result<std::optional<KeyValue>> get(const std::string& key, int64_t revision) override {
    int64_t rev = K3A_TRY(read_revision(revision));
    auto conn = K3A_TRY(reader());
    auto s = K3A_TRY(conn->prepare(std::string("SELECT ") + kRowColumns +
                                   " FROM kine WHERE name = ? AND id <= ? ORDER BY id DESC "
                                   "LIMIT 1"));
    s.bind(1, key).bind(2, rev);
    std::optional<KeyValue> out;
    if (K3A_TRY(s.step())) {
      Row r = Row::read(s);
      if (!r.deleted) out = r.kv();
    }
    return out;
  }

  core::Result<ListResult> list(const Range& range, const ListOptions& options) override {
    if (range.end.empty()) {
      ListResult one;
      one.revision = K3A_TRY(read_revision(options.revision));
      auto kv = K3A_TRY(get(range.start, one.revision));
      one.count = kv ? 1 : 0;
      if (kv && !options.count_only) one.kvs.push_back(std::move(*kv));
      return one;
    }
    ListResult out;
    out.revision = K3A_TRY(read_revision(options.revision));
    auto conn = K3A_TRY(reader());
    std::string latest =
        "SELECT MAX(id) AS mid FROM kine WHERE name >= ?1 AND name < ?2 AND id <= ?3 "
        "GROUP BY name";
    if (options.count || options.count_only) {
      auto c = K3A_TRY(conn->prepare("SELECT COUNT(*) FROM kine k JOIN (" + latest +
                                     ") m ON k.id = m.mid WHERE k.deleted = 0"));
      bind_range(c, range, out.revision);
      (void)K3A_TRY(c.step());
      out.count = c.column_int(0);
    }
    if (!options.count_only) {
      std::string sql = std::string("SELECT ") +
                        "k.id, k.name, k.created, k.deleted, "
                        "k.create_revision, k.prev_revision, k.lease, k.value, k.old_value "
                        "FROM kine k JOIN (" +
                        latest +
                        ") m ON k.id = m.mid WHERE k.deleted = 0 "
                        "ORDER BY k.name";
      if (options.limit > 0) sql += " LIMIT " + std::to_string(options.limit + 1);
      auto s = K3A_TRY(conn->prepare(sql));
      bind_range(s, range, out.revision);
      while (K3A_TRY(s.step())) {
        Row r = Row::read(s);
        if (internal_key(r.name)) continue;
        out.kvs.push_back(r.kv());
      }
      if (options.limit > 0 && static_cast<int64_t>(out.kvs.size()) > options.limit) {
        out.kvs.resize(options.limit);
        out.more = true;
      }
    }
    return out;
  }

  // --- writes ----------------------------------------------------------------------------

  core::Result<WriteResult> create(const std::string& key, std::string value,
                                   int64_t lease) override {
    return submit({OpKind::kCreate, key, std::move(value), 0, lease, {}});
  }
  core::Result<WriteResult> update(const std::string& key, std::string value, int64_t expected,
                                   int64_t lease) override {
    return submit({OpKind::kUpdate, key, std::move(value), expected, lease, {}});
  }
  core::Result<WriteResult> remove(const std::string& key, int64_t expected) override {
    return submit({OpKind::kRemove, key, "", expected, 0, {}});
  }
  core::Result<int64_t> compact(int64_t revision) override {
    auto r = K3A_TRY(submit({OpKind::kCompact, "", "", revision, 0, {}}));
    return r.revision;
  }

  // --- watches ---------------------------------------------------------------------------

  core::Result<std::unique_ptr<Subscription>> watch(const Range& range, int64_t after,
                                                    EventSink sink) override {
    if (after < compact_rev_.load()) {
      return core::failf(Errc::kExpired,
                         "required revision {} has been compacted (compact revision {})", after,
                         compact_rev_.load());
    }
    auto w = std::make_unique<Watcher>(this, range, after, std::move(sink));
    {
      std::lock_guard lock(hub_mu_);
      watchers_.push_back(w.get());
    }
    // Catch up from the table; live events committed meanwhile wait in the buffer.
    std::vector<Event> history;
    {
      auto conn = K3A_TRY(reader());
      std::string sql = std::string("SELECT ") + kRowColumns + " FROM kine WHERE id > ?1 AND " +
                        (range.end.empty() ? "name = ?2" : "name >= ?2 AND name < ?3") +
                        " ORDER BY id";
      auto s = K3A_TRY(conn->prepare(sql));
      s.bind(1, after).bind(2, range.start);
      if (!range.end.empty()) s.bind(3, range.end);
      while (K3A_TRY(s.step())) {
        Row r = Row::read(s);
        if (!internal_key(r.name) && range.contains(r.name)) history.push_back(r.event());
      }
    }
    std::lock_guard lock(hub_mu_);
    std::vector<Event> all;
    int64_t last = after;
    for (auto& e : history) {
      last = e.kv.mod_revision;
      all.push_back(std::move(e));
    }
    for (auto& e : w->buffered_) {
      if (e.kv.mod_revision > last) all.push_back(std::move(e));
    }
    w->buffered_.clear();
    w->catching_up_ = false;
    if (!all.empty()) {
      w->after_ = std::max(w->after_, all.back().kv.mod_revision);
      w->sink_(std::move(all));
    }
    return std::unique_ptr<Subscription>(std::move(w));
  }

  void unsubscribe(Watcher* w) {
    std::lock_guard lock(hub_mu_);
    watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), w), watchers_.end());
  }

  SqliteStats stats() const { return {writes_.load(), transactions_.load()}; }

 private:
  core::Result<int64_t> read_revision(int64_t revision) {
    int64_t current = current_rev_.load();
    if (revision == 0) return current;
    if (revision > current) {
      return core::failf(Errc::kInvalid, "revision {} is in the future (current {})", revision,
                         current);
    }
    if (revision < compact_rev_.load()) {
      return core::failf(Errc::kExpired,
                         "required revision {} has been compacted (compact revision {})", revision,
                         compact_rev_.load());
    }
    return revision;
  }

  static void bind_range(Stmt& s, const Range& range, int64_t rev) {
    s.bind(1, range.start);
    if (range.end == std::string(1, '\0')) {
      s.bind(2, std::string_view("\xff\xff\xff\xff"));
    } else {
      s.bind(2, range.end);
    }
    s.bind(3, rev);
  }

  // A pooled read connection, returned to the pool when the lease ends. Declare it before the
  // statements prepared on it: they must be finalized before another thread gets the
  // connection (a connection serves one thread at a time).
  struct ReturnToPool {
    SqliteBackend* owner;
    void operator()(Db* db) const {
      std::unique_ptr<Db> owned(db);
      std::lock_guard lock(owner->pool_mu_);
      if (owner->pool_.size() < 8) owner->pool_.push_back(std::move(owned));
    }
  };
  using Lease = std::unique_ptr<Db, ReturnToPool>;

  core::Result<Lease> reader() {
    {
      std::lock_guard lock(pool_mu_);
      if (!pool_.empty()) {
        Lease db(pool_.back().release(), ReturnToPool{this});
        pool_.pop_back();
        return db;
      }
    }
    auto db = std::make_unique<Db>(K3A_TRY(Db::open(options_.path)));
    K3A_CHECK(db->exec("PRAGMA busy_timeout=30000; PRAGMA query_only=1;"));
    return Lease(db.release(), ReturnToPool{this});
  }

  core::Result<WriteResult> submit(WriteOp op) {
    auto fut = op.done.get_future();
    {
      std::lock_guard lock(queue_mu_);
      if (stopping_) return core::fail(Errc::kUnavailable, "datastore is closing");
      queue_.push_back(std::move(op));
    }
    queue_cv_.notify_one();
    return fut.get();
  }

  // --- the writer thread ---------------------------------------------------------------------

  void write_loop() {
    while (true) {
      std::vector<WriteOp> batch;
      {
        std::unique_lock lock(queue_mu_);
        queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        while (!queue_.empty() && batch.size() < options_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      run_batch(batch);
    }
  }

  void run_batch(std::vector<WriteOp>& batch) {
    std::vector<core::Result<WriteResult>> results;
    std::vector<Event> events;
    int64_t compacted_to = -1;
    auto committed = [&]() -> core::Result<void> {
      auto tx = K3A_TRY(core::sqlite::Transaction::begin(writer_db_));
      for (auto& op : batch) {
        if (op.kind == OpKind::kCompact) {
          auto r = do_compact(op.expected);
          if (r) compacted_to = r->revision;
          results.push_back(std::move(r));
        } else {
          results.push_back(apply(op, events));
        }
        if (!results.back() && results.back().error().code() != Errc::kConflict) {
          return std::unexpected(results.back().error());
        }
      }
      return tx.commit();
    }();
    if (!committed) {
      for (auto& op : batch) op.done.set_value(std::unexpected(committed.error()));
      return;
    }
    transactions_++;
    writes_ += events.size();
    if (!events.empty()) current_rev_ = events.back().kv.mod_revision;
    if (compacted_to >= 0) compact_rev_ = compacted_to;
    schedule_leases(events);
    {
      std::lock_guard lock(hub_mu_);
      for (Watcher* w : watchers_) w->deliver(events);
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done.set_value(std::move(results[i]));
  }

  core::Result<std::optional<Row>> latest(const std::string& key) {
    if (!latest_stmt_) {
      latest_stmt_ = std::make_unique<Stmt>(
          K3A_TRY(writer_db_.prepare(std::string("SELECT ") + kRowColumns +
                                     " FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1")));
    }
    Stmt& s = *latest_stmt_;
    s.bind(1, key);
    std::optional<Row> out;
    auto has = s.step();
    if (!has) {
      s.reset();
      return std::unexpected(has.error());
    }
    if (*has) out = Row::read(s);
    s.reset();
    return out;
  }

  core::Result<Row> insert(Row row) {
    if (!insert_stmt_) {
      insert_stmt_ = std::make_unique<Stmt>(K3A_TRY(writer_db_.prepare(
          "INSERT INTO kine(name, created, deleted, create_revision, prev_revision, lease, value, "
          "old_value) VALUES(?, ?, ?, ?, ?, ?, ?, ?)")));
    }
    Stmt& s = *insert_stmt_;
    s.bind(1, row.name).bind(2, int64_t{row.created}).bind(3, int64_t{row.deleted});
    s.bind(4, row.create_revision).bind(5, row.prev_revision).bind(6, row.lease);
    s.bind_blob(7, row.value);
    if (row.old_value) {
      s.bind_blob(8, *row.old_value);
    } else {
      s.bind_null(8);
    }
    K3A_CHECK(s.run());
    row.id = writer_db_.last_insert_id();
    return row;
  }

  core::Result<WriteResult> apply(WriteOp& op, std::vector<Event>& events) {
    std::optional<Row> last = K3A_TRY(latest(op.key));
    bool live = last && !last->deleted;
    WriteResult out;
    if (live) out.current = last->kv();
    Row row;
    row.name = op.key;
    row.lease = op.lease;
    switch (op.kind) {
      case OpKind::kCreate:
        if (live) return out;
        row.created = true;
        row.prev_revision = last ? last->id : 0;
        row.value = std::move(op.value);
        if (last) row.old_value = last->value;
        break;
      case OpKind::kUpdate:
        if (!live || last->id != op.expected) return out;
        row.create_revision = last->kv().create_revision;
        row.prev_revision = last->id;
        row.value = std::move(op.value);
        row.old_value = last->value;
        break;
      case OpKind::kRemove:
        if (!live || (op.expected != 0 && last->id != op.expected)) return out;
        row.deleted = true;
        row.create_revision = last->kv().create_revision;
        row.prev_revision = last->id;
        row.lease = 0;
        row.value = last->value;
        row.old_value = last->value;
        break;
      case OpKind::kCompact:
        return core::fail(Errc::kInternal, "compaction is not a key write");
    }
    Row written = K3A_TRY(insert(std::move(row)));
    out.succeeded = true;
    out.revision = written.id;
    out.current = written.deleted ? std::nullopt : std::optional<KeyValue>(written.kv());
    events.push_back(written.event());
    return out;
  }

  // Drops superseded rows and tombstones at or below the target, keeping kMinRetain revisions.
  core::Result<WriteResult> do_compact(int64_t target) {
    int64_t current = current_rev_.load();
    target = std::min(target, current - kMinRetain);
    WriteResult out;
    out.succeeded = true;
    out.revision = compact_rev_.load();
    if (target <= out.revision) return out;
    auto superseded = K3A_TRY(writer_db_.prepare(
        "DELETE FROM kine WHERE id IN (SELECT prev_revision FROM kine WHERE name != "
        "'compact_rev_key' AND prev_revision != 0 AND id <= ?)"));
    superseded.bind(1, target);
    K3A_CHECK(superseded.run());
    auto tombstones = K3A_TRY(writer_db_.prepare(
        "DELETE FROM kine WHERE deleted = 1 AND id <= ? AND name != 'compact_rev_key'"));
    tombstones.bind(1, target);
    K3A_CHECK(tombstones.run());
    auto mark = K3A_TRY(
        writer_db_.prepare("UPDATE kine SET prev_revision = ? WHERE name = 'compact_rev_key'"));
    mark.bind(1, target);
    K3A_CHECK(mark.run());
    out.revision = target;
    return out;
  }

  // --- leases --------------------------------------------------------------------------------

  using Clock = std::chrono::steady_clock;

  core::Result<void> load_leases() {
    auto s = K3A_TRY(writer_db_.prepare(
        "SELECT k.name, k.id, k.lease FROM kine k JOIN (SELECT MAX(id) AS mid FROM kine GROUP BY "
        "name) m ON k.id = m.mid WHERE k.deleted = 0 AND k.lease > 0"));
    auto now = Clock::now();
    std::lock_guard lock(ttl_mu_);
    while (K3A_TRY(s.step())) {
      leases_[s.column_text(0)] = {now + std::chrono::seconds(s.column_int(2)), s.column_int(1)};
    }
    return {};
  }

  void schedule_leases(const std::vector<Event>& events) {
    bool any = false;
    auto now = Clock::now();
    std::lock_guard lock(ttl_mu_);
    for (const auto& e : events) {
      if (e.type == Event::Type::kPut && e.kv.lease > 0) {
        leases_[e.kv.key] = {now + std::chrono::seconds(e.kv.lease), e.kv.mod_revision};
        any = true;
      } else {
        leases_.erase(e.kv.key);
      }
    }
    if (any) ttl_cv_.notify_all();
  }

  void ttl_loop() {
    std::unique_lock lock(ttl_mu_);
    while (!ttl_stop_) {
      auto next = Clock::time_point::max();
      std::vector<std::pair<std::string, int64_t>> due;
      auto now = Clock::now();
      for (const auto& [key, lease] : leases_) {
        if (lease.first <= now) {
          due.emplace_back(key, lease.second);
        } else {
          next = std::min(next, lease.first);
        }
      }
      if (!due.empty()) {
        lock.unlock();
        for (const auto& [key, rev] : due) (void)remove(key, rev);  // conditional on the write
        lock.lock();
        for (const auto& [key, rev] : due) {
          auto it = leases_.find(key);
          if (it != leases_.end() && it->second.second == rev) leases_.erase(it);
        }
        continue;
      }
      if (next == Clock::time_point::max()) {
        ttl_cv_.wait(lock);
      } else {
        ttl_cv_.wait_until(lock, next);
      }
    }
  }

  SqliteOptions options_;
  Db writer_db_;
  std::unique_ptr<Stmt> latest_stmt_;
  std::unique_ptr<Stmt> insert_stmt_;
  std::atomic<int64_t> current_rev_{0};
  std::atomic<int64_t> compact_rev_{0};
  std::atomic<uint64_t> writes_{0};
  std::atomic<uint64_t> transactions_{0};

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<WriteOp> queue_;
  bool stopping_ = false;
  std::thread writer_;

  std::mutex pool_mu_;
  std::vector<std::unique_ptr<Db>> pool_;

  std::mutex hub_mu_;
  std::vector<Watcher*> watchers_;

  std::mutex ttl_mu_;
  std::condition_variable ttl_cv_;
  std::map<std::string, std::pair<Clock::time_point, int64_t>> leases_;
  bool ttl_stop_ = false;
  std::thread ttl_thread_;
};

Watcher::~Watcher() { owner_->unsubscribe(this); }

}  // namespace

core::Result<std::unique_ptr<Backend>> open_sqlite(const SqliteOptions& options) {
  Db db = K3A_TRY(Db::open(options.path));
  K3A_CHECK(
      db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;"));
  auto backend = std::make_unique<SqliteBackend>(options, std::move(db));
  auto started = backend->start();
  if (!started) return std::unexpected(std::move(started.error()).context(options.path));
  return std::unique_ptr<Backend>(std::move(backend));
}

SqliteStats sqlite_stats(Backend& backend) { return static_cast<SqliteBackend&>(backend).stats(); }

}  // namespace k3s::datastore
