// Adds a signature to an existing bundle: the bundle is verified for integrity while it is
// copied, bundle.json.sig gains (or replaces) the new key's signature, and every other entry
// is carried over byte for byte. The result replaces the file atomically, with a new detached
// signature by the same key. Single-threaded apart from compression workers.
#pragma once

#include <string>

#include "core/archive/zstd.h"
#include "core/crypto/keys.h"

namespace bundler {

struct SignResult {
  size_t signatures = 0;  // now in bundle.json.sig
  std::string sha256;     // of the new file
};

// Errors: those of verify_bundle (the input must be intact), and I/O errors naming the file.
core::Result<SignResult> add_signature(const std::string& path, const core::PrivateKey& key,
                                       const core::ZstdParams& zstd);

}  // namespace bundler
