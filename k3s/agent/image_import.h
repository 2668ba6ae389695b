// Importing image archives into containerd's k8s.io namespace, as the agent preloads
// agent/images: the archive (OCI layout; .tar, .tar.zst/.tzst, .tar.gz/.tgz, .tar.lz4 or
// .tar.bz2/.tbz) is verified whole into a staging blob store before containerd sees a byte of
// it, then each blob containerd does not hold yet is written through the content service (its
// digest checked again by containerd at commit), manifests labelled with their
// garbage-collection references, the host platform's layers unpacked into overlayfs snapshots
// (each checked against its diff_id), and every image created or updated with the CRI's labels and
// pinned, so garbage collection never removes it. All writes happen under a lease that protects
// them until the images exist. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/grpc/grpc_client.h"

namespace k3s::agent {

struct ImportReport {
  std::vector<std::string> images;  // full references
  size_t blobs_written = 0;
  size_t blobs_present = 0;  // already in containerd: skipped
  uint64_t bytes_written = 0;
  size_t layers_unpacked = 0;  // snapshots made; layers already unpacked are kept
};

// Errors: the archive's verification errors (kIntegrity naming a blob whose bytes do not match
// its digest, kInvalid for a malformed layout), kUnsupported for an archive format it cannot
// read, containerd's errors (kUnavailable ...). Nothing is imported from an archive that fails
// verification.
core::Result<ImportReport> import_archive(core::grpc::Client& containerd,
                                          const std::string& archive,
                                          const std::string& staging_dir);

}  // namespace k3s::agent
