// gzip streams over zlib, for image layers. GzipSink writes one gzip member with a fixed header
// (no file name, mtime 0, OS 255 "unknown" as Go's compress/gzip writes it): the output depends
// only on the input, the level and the zlib that is linked (statically, so one build always
// produces the same bytes). GzipSource decompresses one or more concatenated members and fails
// with kIntegrity on corrupt or truncated input. Neither class is thread-safe; each holds a
// reference to its underlying stream, which must outlive it.
#pragma once

#include <memory>
#include <vector>

#include "core/fs/stream.h"

namespace images {

class GzipSink : public core::ByteSink {
 public:
  static constexpr int kDefaultLevel = 6;
  // kInternal if zlib cannot be initialised.
  static core::Result<std::unique_ptr<GzipSink>> create(core::ByteSink& out,
                                                        int level = kDefaultLevel);
  ~GzipSink() override;
  // Compresses; the underlying sink's error, or kInternal after finish().
  core::Result<void> write(std::string_view data) override;
  // Flushes the compressor and writes the gzip trailer. Must be called once, at the end; the
  // underlying sink's error on failure.
  core::Result<void> finish();

 private:
  struct Impl;
  explicit GzipSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class GzipSource : public core::ByteSource {
 public:
  // kInternal if zlib cannot be initialised.
  static core::Result<std::unique_ptr<GzipSource>> create(core::ByteSource& in);
  ~GzipSource() override;
  // Decompressed bytes, 0 at the end of the last member; kIntegrity for corrupt, truncated or
  // empty input; the underlying source's error.
  core::Result<size_t> read(char* buf, size_t n) override;

 private:
  struct Impl;
  explicit GzipSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace images
