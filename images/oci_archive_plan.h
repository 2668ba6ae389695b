// Planning of write_oci_archive (internal to the images component): every image checked
// against the store, images grouped into index.json entries (one per reference; several
// platform manifests under one reference get an OCI index synthesised over exactly them), and
// the set of blobs to write, each once. Pure planning: nothing is written. Not thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "images/oci_archive.h"

namespace images {

struct PlannedImage {
  ArchiveImage image;
  Manifest manifest;
};

// One index.json entry.
struct PlannedEntry {
  Reference ref;
  std::optional<std::string> index_digest;  // the pinned upstream index, as given
  std::vector<PlannedImage> images;         // ordered by platform
  Descriptor target;                        // the manifest, or the synthesised index
  std::optional<std::string> index_json;    // the synthesised index's bytes
};

struct PlannedBlob {
  uint64_t size = 0;
  std::optional<std::string> data;  // in memory (synthesised); otherwise read from the store
};

struct ArchivePlan {
  std::vector<PlannedEntry> entries;         // ordered by reference
  std::map<std::string, PlannedBlob> blobs;  // ordered by digest: the archive's blob order
};

// Errors as documented for write_oci_archive.
core::Result<ArchivePlan> plan_archive(const std::vector<ArchiveImage>& images,
                                       const BlobStore& store);

// Drops the annotations that write_oci_archive sets itself.
void strip_archive_annotations(Descriptor& d);

}  // namespace images
