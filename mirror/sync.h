// `k3s-airgap mirror sync`: on a connected host, fetches the releases that channels point at
// from an upstream (GitHub's release tree and update.k3s.io's channels, or another mirror
// given with --upstream): sha256sum-<arch>.txt first, then every asset it lists (the k3s binary,
// the airgap image archives), each checked against its hash before it is stored (files the
// list does not hash are not fetched). The images of the image archives are stored too, so the
// registry serves them. Blobs already held are not fetched again, so a
// second sync transfers only the channel lookups, and a download a broken sync left unfinished
// is resumed with a Range request. The index changes once, at the end.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace mirror {

struct SyncOptions {
  std::string root;
  std::vector<std::string> channels = {"stable"};
  std::string upstream;  // "" = github.com and update.k3s.io
  std::string arch = "amd64";
};

struct SyncReport {
  std::vector<std::string> versions;
  size_t assets = 0, fetched = 0;
  uint64_t bytes = 0;
};

core::Result<SyncReport> sync(const SyncOptions& options);

}  // namespace mirror
