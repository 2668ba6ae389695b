// Deterministic image layers from a local directory. The layer is a pax tar of the directory's
// contents (the directory itself is not an entry), gzip-compressed (gzip.h) and streamed into a
// BlobStore while two hashes are taken: the blob digest (compressed) and the diff_id
// (uncompressed tar).
//
// What goes in and what does not: entries in byte order of names within each directory, depth
// first; uid/gid 0 with no owner names; mtime = the given time for every entry; permission bits
// (including setuid/setgid/sticky) kept exactly as on disk, because they are content; symlinks
// kept with their target; hard links stored as independent files. Source mtimes, atimes,
// owners, inode order and the umask of the building process do not change the bytes. Devices,
// FIFOs and sockets are refused. Symlinks are never followed. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "core/base/error.h"
#include "images/blob_store.h"
#include "images/manifest.h"

namespace images {

struct LayerInfo {
  Descriptor descriptor;  // kOciLayerGzip, digest and size of the compressed blob
  std::string diff_id;    // "sha256:…" of the uncompressed tar
};

// Writes the layer for dir into the store. kNotFound/kInvalid naming dir when it is not a
// directory; kUnsupported naming the entry for a device, FIFO or socket; kInvalid naming an
// entry whose path breaks core::validate_entry_path; kIo for read or write failures.
core::Result<LayerInfo> write_layer_from_dir(const std::string& dir, int64_t mtime,
                                             BlobStore& store);

}  // namespace images
