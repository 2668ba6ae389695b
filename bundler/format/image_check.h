// Checks one image archive entry of a bundle while it streams: every blob against its digest,
// the OCI layout's graph, and that it holds exactly the single-platform manifests that
// bundle.json pins for that architecture. Single-threaded.
#pragma once

#include <cstddef>
#include <string>

#include "bundler/format/manifest.h"
#include "core/fs/stream.h"

namespace bundler {

// Returns the number of blobs checked. kIntegrity names the blob or image on any mismatch.
core::Result<size_t> check_image_archive(core::ByteSource& in, const BundleManifest& manifest,
                                         const FileRecord& file);

}  // namespace bundler
