// Decompressing sources for the compressions k3s accepts on image archives beyond zstd
// (ZstdSource) and gzip: lz4 and bzip2, decoded by libarchive's filters. Owned by one thread.
#pragma once

#include <memory>

#include "core/base/error.h"
#include "core/fs/stream.h"

namespace core {

enum class Compression { kLz4, kBzip2 };

// A source of `in`'s decompressed bytes. Reads fail with kIntegrity (naming libarchive's message)
// for data that is not in the format, or with `in`'s own error.
Result<std::unique_ptr<ByteSource>> decompressing_source(ByteSource& in, Compression c);

}  // namespace core
