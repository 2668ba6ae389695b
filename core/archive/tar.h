// Deterministic pax tar writing and hardened tar reading over libarchive (tar format only, no
// filters: compression is the job of the streams in zstd.h).
//
// TarWriter writes exactly what it is told: uid/gid 0, empty owner names, the given mode and
// mtime, no atime/ctime, no xattrs. Same calls give the same bytes.
// TarReader yields entries as the archive states them; policy (which paths, types and sizes are
// acceptable) belongs to the caller, with validate_entry_path() as the shared path rule. After
// the last entry, finish() proves that nothing but zero padding follows the end-of-archive
// marker. Neither class is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/fs/stream.h"

struct archive;
struct archive_entry;

namespace core {

enum class TarType { kFile, kDirectory, kSymlink, kHardlink, kOther };

struct TarEntry {
  std::string path;
  TarType type = TarType::kFile;
  uint64_t size = 0;
  uint32_t mode = 0644;
  int64_t mtime = 0;
  std::string link_target;  // symlink or hard-link target
  bool sparse = false;
};

class TarWriter {
 public:
  static Result<std::unique_ptr<TarWriter>> create(ByteSink& out);
  ~TarWriter();

  // Starts an entry; for files, exactly entry.size bytes must follow through write_data().
  Result<void> begin(const TarEntry& entry);
  Result<void> write_data(std::string_view data);
  // Convenience: a whole file entry from memory.
  Result<void> add_file(TarEntry entry, std::string_view data);
  // Copies a file entry's data from a source of exactly entry.size bytes.
  Result<void> add_from(TarEntry entry, ByteSource& data);
  // Writes the end-of-archive marker and padding.
  Result<void> finish();

 private:
  struct Impl;
  explicit TarWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class TarReader {
 public:
  static Result<std::unique_ptr<TarReader>> open(ByteSource& in);
  ~TarReader();

  // The next entry, or nullopt at the end of the archive. The previous entry's unread data is
  // skipped.
  Result<std::optional<TarEntry>> next();
  // Reads the current entry's data; 0 at its end. Returns a view into an internal buffer valid
  // until the next call.
  Result<std::string_view> read_block();
  // Checks that only zero bytes follow the end-of-archive marker, to the end of the source.
  Result<void> finish();

 private:
  struct Impl;
  explicit TarReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The path rule for entries: relative, UTF-8 without control characters, no empty, "." or ".."
// components, at most 1024 bytes and 32 components. kInvalid names the problem.
Result<void> validate_entry_path(std::string_view path);

}  // namespace core
