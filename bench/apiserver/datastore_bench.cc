// Durable writes per second of the SQLite datastore: N concurrent writers creating keys for a
// fixed time, every write acknowledged only after its transaction's fsync (group commit).
// Usage: k3s_datastore_bench DB_PATH [SECONDS] [WRITERS] [VALUE_BYTES]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "k3s/datastore/sqlite_backend.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DB_PATH [SECONDS] [WRITERS] [VALUE_BYTES]\n", argv[0]);
    return 2;
  }
  double seconds = argc > 2 ? std::atof(argv[2]) : 10;
  int writers = argc > 3 ? std::atoi(argv[3]) : 16;
  size_t value_bytes = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 256;
  auto db = k3s::datastore::open_sqlite({.path = argv[1]});
  if (!db) {
    std::fprintf(stderr, "%s\n", db.error().message().c_str());
    return 1;
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0}, failed{0};
  std::string value(value_bytes, 'v');
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < writers; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; !stop; ++i) {
        auto r =
            (*db)->create("/registry/bench/" + std::to_string(t) + "/" + std::to_string(i), value);
        (r && r->succeeded ? ok : failed)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto stats = k3s::datastore::sqlite_stats(**db);
  std::printf("writes %llu failed %llu seconds %.2f writes_per_second %.0f transactions %llu\n",
              static_cast<unsigned long long>(ok.load()),
              static_cast<unsigned long long>(failed.load()), elapsed, ok / elapsed,
              static_cast<unsigned long long>(stats.transactions));
  return failed ? 1 : 0;
}
