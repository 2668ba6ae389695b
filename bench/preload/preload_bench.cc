// k3s_preload_bench SOCKET AGENT_DIR: runs the agent's preload of AGENT_DIR/images against the
// containerd on SOCKET and prints what it did and how long it took, as one line of
// "key value" pairs (bench/preload/run.sh).
#include <chrono>
#include <cstdio>

#include "core/grpc/grpc_client.h"
#include "k3s/agent/preload.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: k3s_preload_bench SOCKET AGENT_DIR\n");
    return 2;
  }
  core::grpc::Client client(argv[1], std::chrono::minutes(10));
  auto start = std::chrono::steady_clock::now();
  auto report = k3s::agent::preload_images(client, argv[2]);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                  .count();
  std::printf("ms %.1f imported %d unchanged %d failed %d\n", ms, report.imported,
              report.unchanged, report.failed);
  return report.failed == 0 ? 0 : 1;
}
