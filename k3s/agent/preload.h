// The agent's image preload (k3s-facts.md 2.3): every archive in <data-dir>/agent/images
// (.tar, .tar.zst/.tzst, .tar.gz/.tgz, .tar.lz4, .tar.bz2/.tbz) imported into containerd before
// the node is ready, and every image named in a .txt list (one reference per line, # comments)
// pulled through the CRI, so registries.yaml's mirrors apply, and pinned. An archive already
// imported with the same size and modification time, whose images containerd still has, is skipped
// without being read, so an unchanged restart costs almost nothing; the record lives in
// <data-dir>/agent/containerd/k3s-preload.json. A bad archive is reported and left out (and not
// read again until it changes); the others still load. Called again, it imports archives added
// since. Not thread-safe.
#pragma once

#include <string>

#include "core/base/error.h"
#include "core/grpc/grpc_client.h"

namespace k3s::agent {

struct PreloadReport {
  int imported = 0;  // archives read and imported
  int unchanged = 0;
  int failed = 0;  // refused now or before
};

PreloadReport preload_images(core::grpc::Client& containerd, const std::string& agent_dir);

}  // namespace k3s::agent
