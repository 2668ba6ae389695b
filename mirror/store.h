// The mirror's content: every file and image blob of the bundles added, stored once by digest
// (<root>/blobs/sha256/<hex>, images::BlobStore), and an index (<root>/index.json) of releases
// (k3s version → asset name → digest and size, as upstream's release pages name them),
// channels (name → version) and image repositories (path without registry → tag → manifest,
// and the registry each came from). A tag held for several platforms (a bundle's per-arch
// image archives, or bundles of different architectures) names an OCI index of them that the
// mirror makes and stores, so that clients of any architecture pull it by tag.
// A bundle is verified whole (signatures, every byte, every image blob) before the index
// changes, and the index changes by one atomic rename. One writer at a time; readers load the
// index.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "bundler/format/verifier.h"
#include "core/base/error.h"

namespace mirror {

struct Asset {
  std::string digest;  // sha256:<hex>
  uint64_t size = 0;
};

struct Manifest {
  std::string digest;
  std::string media_type;
};

struct Index {
  std::map<std::string, std::map<std::string, Asset>> releases;
  std::map<std::string, std::string> channels;
  std::map<std::string, std::map<std::string, Manifest>> repositories;
  std::map<std::string, std::string> origins;  // repository → the registry it came from
};

// An empty index when the root has none yet; kInvalid for a damaged one.
core::Result<Index> load_index(const std::string& root);
// Replaces <root>/index.json in one rename.
core::Result<void> save_index(const std::string& root, const Index& index);

struct AddReport {
  std::string version;
  size_t files = 0, files_stored = 0;  // listed; not held before
  size_t images = 0;
  std::vector<std::string> channels;  // moved to this version
};

core::Result<AddReport> add_bundle(const std::string& root, const std::string& bundle,
                                   const bundler::VerifyOptions& options);

// Orders k3s versions: v1.32.4+k3s1 < v1.32.10+k3s1 < v1.33.0+k3s1.
bool version_less(const std::string& a, const std::string& b);

}  // namespace mirror
