// The two steps of read_oci_archive (internal to the images component): scan_archive makes
// the single pass over the tar (entry rules, blob hashes, optional extraction) and
// check_archive_dag checks what the pass collected. Not thread-safe; one ScannedArchive per
// read.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "images/oci_archive.h"

namespace images {

struct ScannedBlob {
  uint64_t size = 0;
  std::optional<std::string> data;  // set for blobs up to ReadLimits::memory_blob_size
  bool referenced = false;          // set by the DAG check
};

struct ScannedArchive {
  std::optional<std::string> oci_layout;
  std::optional<std::string> index_json;
  std::optional<std::string> docker_manifest;
  std::map<std::string, ScannedBlob> blobs;  // by digest; each verified against its name
  uint64_t blob_bytes = 0;
};

core::Result<ScannedArchive> scan_archive(core::ByteSource& in, BlobStore* extract_to,
                                          const ReadLimits& limits);
core::Result<ArchiveContents> check_archive_dag(ScannedArchive& archive, BlobStore* extract_to);

}  // namespace images
