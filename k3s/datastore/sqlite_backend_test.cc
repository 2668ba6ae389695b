#include "k3s/datastore/sqlite_backend.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "core/sqlite/sqlite.h"
#include "tests/support/test_support.h"

namespace k3s::datastore {
namespace {

class DatastoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Backend> open() {
    auto b = open_sqlite({.path = path_});
    EXPECT_TRUE(b) << b.error().message();
    return std::move(*b);
  }
  core::TempDir dir_ = testing_support::make_temp_dir();
  std::string path_ = dir_.sub("state.db");
};

// Collects watch events; waits for a count.
class Collector {
 public:
  EventSink sink() {
    return [this](std::vector<Event> batch) {
      std::lock_guard lock(mu_);
      for (auto& e : batch) events_.push_back(std::move(e));
      cv_.notify_all();
    };
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return events_.size();
  }
  std::vector<Event> wait_for(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return events_.size() >= n; });
    return events_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Event> events_;
};

TEST_F(DatastoreTest, CreateUpdateDeleteWithRevisions) {
  auto db = open();
  ASSERT_OK_AND_ASSIGN(int64_t r0, db->current_revision());
  ASSERT_OK_AND_ASSIGN(WriteResult c, db->create("/registry/a", "v1"));
  ASSERT_TRUE(c.succeeded);
  EXPECT_EQ(c.revision, r0 + 1);
  ASSERT_OK_AND_ASSIGN(WriteResult again, db->create("/registry/a", "v2"));
  EXPECT_FALSE(again.succeeded);
  ASSERT_TRUE(again.current);
  EXPECT_EQ(again.current->value, "v1");

  ASSERT_OK_AND_ASSIGN(WriteResult stale, db->update("/registry/a", "v2", c.revision + 5));
  EXPECT_FALSE(stale.succeeded);
  ASSERT_OK_AND_ASSIGN(WriteResult u, db->update("/registry/a", "v2", c.revision));
  ASSERT_TRUE(u.succeeded);
  ASSERT_OK_AND_ASSIGN(auto got, db->get("/registry/a"));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->value, "v2");
  EXPECT_EQ(got->create_revision, c.revision);
  EXPECT_EQ(got->mod_revision, u.revision);
  // The old value stays readable at its revision.
  ASSERT_OK_AND_ASSIGN(auto old, db->get("/registry/a", c.revision));
  EXPECT_EQ(old->value, "v1");

  ASSERT_OK_AND_ASSIGN(WriteResult wrong, db->remove("/registry/a", c.revision));
  EXPECT_FALSE(wrong.succeeded);
  ASSERT_OK_AND_ASSIGN(WriteResult d, db->remove("/registry/a", u.revision));
  ASSERT_TRUE(d.succeeded);
  ASSERT_OK_AND_ASSIGN(auto gone, db->get("/registry/a"));
  EXPECT_FALSE(gone);
  // Recreated after a tombstone: a new create revision.
  ASSERT_OK_AND_ASSIGN(WriteResult re, db->create("/registry/a", "v3"));
  ASSERT_TRUE(re.succeeded);
  ASSERT_OK_AND_ASSIGN(auto back, db->get("/registry/a"));
  EXPECT_EQ(back->create_revision, re.revision);
  EXPECT_FALSE(db->get("/registry/a", re.revision + 10));  // the future is an error
}

TEST_F(DatastoreTest, ListAtRevisionWithLimitAndCount) {
  auto db = open();
  for (const char* k : {"/registry/pods/ns/a", "/registry/pods/ns/b", "/registry/pods/ns/c",
                        "/registry/pods/other/d", "/registry/services/ns/s"}) {
    ASSERT_TRUE(db->create(k, std::string("x") + k)->succeeded);
  }
  ASSERT_OK_AND_ASSIGN(int64_t before, db->current_revision());
  ASSERT_TRUE(db->remove("/registry/pods/ns/b", 0)->succeeded);

  ASSERT_OK_AND_ASSIGN(ListResult all, db->list(Range::prefix("/registry/pods/"), {}));
  EXPECT_EQ(all.count, 3);
  ASSERT_EQ(all.kvs.size(), 3u);
  EXPECT_EQ(all.kvs[0].key, "/registry/pods/ns/a");
  EXPECT_EQ(all.kvs[1].key, "/registry/pods/ns/c");

  ASSERT_OK_AND_ASSIGN(ListResult then,
                       db->list(Range::prefix("/registry/pods/ns/"), {.revision = before}));
  EXPECT_EQ(then.count, 3);
  EXPECT_EQ(then.revision, before);

  ASSERT_OK_AND_ASSIGN(ListResult page, db->list(Range::prefix("/registry/pods/"), {.limit = 2}));
  EXPECT_TRUE(page.more);
  EXPECT_EQ(page.kvs.size(), 2u);
  EXPECT_EQ(page.count, 3);
  // The next page starts after the last key, at the same revision.
  Range rest{page.kvs.back().key + '\0', Range::prefix("/registry/pods/").end};
  ASSERT_OK_AND_ASSIGN(ListResult next, db->list(rest, {.revision = page.revision, .limit = 2}));
  EXPECT_FALSE(next.more);
  ASSERT_EQ(next.kvs.size(), 1u);
  EXPECT_EQ(next.kvs[0].key, "/registry/pods/other/d");
}

TEST_F(DatastoreTest, ConcurrentWritersShareTransactions) {
  auto db = open();
  constexpr int kThreads = 16, kEach = 40;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = db->create("/registry/k/" + std::to_string(t) + "-" + std::to_string(i), "v");
        if (r && r->succeeded) ok++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  SqliteStats stats = sqlite_stats(*db);
  EXPECT_EQ(stats.writes, static_cast<uint64_t>(kThreads * kEach));
  EXPECT_LT(stats.transactions, stats.writes) << "no write shared a transaction";
  // Compare-and-swap under contention: exactly one of many updates based on one revision wins.
  ASSERT_OK_AND_ASSIGN(auto base, db->get("/registry/k/0-0"));
  std::atomic<int> winners{0};
  threads.clear();
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = db->update("/registry/k/0-0", "by " + std::to_string(t), base->mod_revision);
      if (r && r->succeeded) winners++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

// Readers share pooled connections: many threads reading while others write must neither crash
// nor see a value other than one that was written.
TEST_F(DatastoreTest, ConcurrentReadersAndWriters) {
  auto db = open();
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(db->create("/registry/r/" + std::to_string(i), "0")->succeeded);
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::string key = "/registry/r/" + std::to_string((i * 7 + t) % 50);
        auto cur = db->get(key);
        if (!cur || !*cur) {
          bad = true;
          continue;
        }
        (void)db->update(key, std::to_string(i), (*cur)->mod_revision);
      }
    });
  }
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1500; ++i) {
        auto l = db->list(Range::prefix("/registry/r/"), {.limit = 20});
        auto g = db->get("/registry/r/" + std::to_string(i % 50));
        if (!l || l->kvs.size() != 20 || !g || !*g) bad = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(bad.load());
}

TEST_F(DatastoreTest, CompactionKeepsRecentRevisionsAndExpiresOldOnes) {
  auto db = open();
  ASSERT_TRUE(db->create("/registry/c", "0")->succeeded);
  int64_t first = db->get("/registry/c").value()->mod_revision;
  int64_t rev = first;
  for (int i = 1; i <= 1200; ++i) {
    auto r = db->update("/registry/c", std::to_string(i), rev);
    ASSERT_TRUE(r && r->succeeded);
    rev = r->revision;
  }
  ASSERT_OK_AND_ASSIGN(int64_t reached, db->compact(rev));
  EXPECT_EQ(reached, rev - kMinRetain);  // the newest 1,000 revisions stay
  auto old = db->get("/registry/c", first);
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code(), core::Errc::kExpired);
  ASSERT_OK_AND_ASSIGN(auto recent, db->get("/registry/c", reached + 1));
  ASSERT_TRUE(recent);
  ASSERT_OK_AND_ASSIGN(auto now, db->get("/registry/c"));
  EXPECT_EQ(now->value, "1200");
  EXPECT_EQ(now->create_revision, first);
  Collector c;
  auto w = db->watch(Range::key("/registry/c"), first, c.sink());
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), core::Errc::kExpired);
  // The compact revision survives a restart.
  db.reset();
  auto again = open();
  EXPECT_EQ(again->compact_revision().value(), reached);
}

TEST_F(DatastoreTest, WatchCatchesUpThenFollows) {
  auto db = open();
  ASSERT_TRUE(db->create("/registry/w/a", "1")->succeeded);
  ASSERT_OK_AND_ASSIGN(int64_t start, db->current_revision());
  ASSERT_TRUE(db->create("/registry/w/b", "2")->succeeded);
  ASSERT_TRUE(db->create("/registry/other", "x")->succeeded);
  Collector c;
  ASSERT_OK_AND_ASSIGN(auto sub, db->watch(Range::prefix("/registry/w/"), start, c.sink()));
  auto a = db->get("/registry/w/a").value();
  ASSERT_TRUE(db->update("/registry/w/a", "1b", a->mod_revision)->succeeded);
  ASSERT_TRUE(db->remove("/registry/w/b", 0)->succeeded);
  auto events = c.wait_for(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.key, "/registry/w/b");
  EXPECT_TRUE(events[0].created);
  EXPECT_EQ(events[1].kv.value, "1b");
  ASSERT_TRUE(events[1].prev);
  EXPECT_EQ(events[1].prev->value, "1");
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "/registry/w/b");
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_GT(events[i].kv.mod_revision, events[i - 1].kv.mod_revision);
  }
  sub.reset();  // no more deliveries
  // Deliveries happen before a write is acknowledged, so none can still be on its way.
  ASSERT_TRUE(db->create("/registry/w/c", "3")->succeeded);
  EXPECT_EQ(c.size(), 3u);
}

TEST_F(DatastoreTest, LeasedKeysExpire) {
  auto db = open();
  Collector c;
  ASSERT_OK_AND_ASSIGN(auto sub, db->watch(Range::prefix("/registry/events/"), 0, c.sink()));
  ASSERT_TRUE(db->create("/registry/events/e1", "x", 1)->succeeded);
  ASSERT_TRUE(db->create("/registry/events/e2", "y", 3600)->succeeded);
  auto events = c.wait_for(3);  // two creates, then the expiry of e1
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[2].kv.key, "/registry/events/e1");
  EXPECT_FALSE(db->get("/registry/events/e1").value());
  EXPECT_TRUE(db->get("/registry/events/e2").value());
}

TEST_F(DatastoreTest, WritesPersistAcrossReopen) {
  {
    auto db = open();
    ASSERT_TRUE(db->create("/registry/p", "persisted")->succeeded);
  }
  auto db = open();
  ASSERT_OK_AND_ASSIGN(auto kv, db->get("/registry/p"));
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->value, "persisted");
  ASSERT_OK_AND_ASSIGN(auto conn, core::sqlite::Db::open(path_));
  ASSERT_OK_AND_ASSIGN(auto mode, conn.prepare("PRAGMA journal_mode"));
  ASSERT_TRUE(mode.step().value());
  EXPECT_EQ(mode.column_text(0), "wal");
}

// A database as kine writes it (its DDL, create rows with create_revision 0, an update, a
// tombstone, its compact and health keys) opens and reads as kine would serve it.
TEST_F(DatastoreTest, OpensAnUpstreamStateDb) {
  {
    ASSERT_OK_AND_ASSIGN(auto raw, core::sqlite::Db::open(path_));
    ASSERT_OK(raw.exec(R"(
CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, name INTEGER, created INTEGER,
  deleted INTEGER, create_revision INTEGER, prev_revision INTEGER, lease INTEGER, value BLOB,
  old_value BLOB);
CREATE INDEX kine_name_index ON kine (name);
CREATE INDEX kine_name_id_index ON kine (name,id);
CREATE INDEX kine_id_deleted_index ON kine (id,deleted);
CREATE INDEX kine_prev_revision_index ON kine (prev_revision);
CREATE UNIQUE INDEX kine_name_prev_revision_uindex ON kine (name, prev_revision);
INSERT INTO kine VALUES (1, 'compact_rev_key', 1, 0, 0, 0, 0, '', '');
INSERT INTO kine VALUES (2, '/registry/health', 1, 0, 0, 0, 0, '{"health":"true"}', NULL);
INSERT INTO kine VALUES (3, '/registry/namespaces/default', 1, 0, 0, 0, 0, 'ns-v1', NULL);
INSERT INTO kine VALUES (4, '/registry/namespaces/default', 0, 0, 3, 3, 0, 'ns-v2', 'ns-v1');
INSERT INTO kine VALUES (5, '/registry/configmaps/default/x', 1, 0, 0, 0, 0, 'cm', NULL);
INSERT INTO kine VALUES (6, '/registry/configmaps/default/x', 0, 1, 5, 5, 0, 'cm', 'cm');
)"));
  }
  auto db = open();
  EXPECT_EQ(db->current_revision().value(), 6);
  ASSERT_OK_AND_ASSIGN(auto ns, db->get("/registry/namespaces/default"));
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->value, "ns-v2");
  EXPECT_EQ(ns->create_revision, 3);
  EXPECT_EQ(ns->mod_revision, 4);
  EXPECT_FALSE(db->get("/registry/configmaps/default/x").value());
  ASSERT_OK_AND_ASSIGN(ListResult l, db->list(Range::prefix("/registry/"), {}));
  EXPECT_EQ(l.count, 2);  // health and the namespace
  ASSERT_OK_AND_ASSIGN(WriteResult u, db->update("/registry/namespaces/default", "ns-v3", 4));
  EXPECT_TRUE(u.succeeded);
  EXPECT_EQ(u.revision, 7);
}

}  // namespace
}  // namespace k3s::datastore
