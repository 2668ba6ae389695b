// The SQLite backend: kine's table and semantics, so an upstream k3s `state.db` opens as it is
// (docs/formats/datastore.md). One writer thread applies writes in batches, one transaction
// and one fsync per batch (group commit: concurrent writers share fsyncs; WAL with
// synchronous=FULL, so an acknowledged write survives power loss). Readers use a pool of
// connections reading WAL snapshots. Watches fan out in process from the writer's commits, no
// polling. Leased keys are deleted by a timer thread when their TTL runs out.
#pragma once

#include <memory>
#include <string>

#include "k3s/datastore/backend.h"

namespace k3s::datastore {

struct SqliteOptions {
  std::string path;        // the database file (created when missing)
  size_t max_batch = 256;  // writes per transaction at most
};

core::Result<std::unique_ptr<Backend>> open_sqlite(const SqliteOptions& options);

// Counters for tests and benchmarks.
struct SqliteStats {
  uint64_t writes = 0;
  uint64_t transactions = 0;  // write transactions committed (≈ fsyncs of the WAL)
};
SqliteStats sqlite_stats(Backend& backend);

}  // namespace k3s::datastore
