// BlobStore: content-addressed blobs in a directory laid out as an OCI image layout keeps them,
// <root>/blobs/sha256/<hex>. A blob appears under its name only complete and verified: writes
// go to a temporary file in <root>/.tmp (same filesystem), hashed while written, and are renamed
// into place only when digest (and, when expected, size) match; a failed or abandoned write
// leaves nothing behind. Digests are validated before any use as a path.
//
// Thread-safety: a BlobStore holds only its root path; every method may be called concurrently,
// also from several processes. Concurrent puts of the same blob are harmless (each writes its
// own temporary file and the rename is atomic). A BlobWriter or BlobReader belongs to one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/crypto/sha256.h"
#include "core/fs/fd.h"
#include "core/fs/stream.h"

namespace images {

// A blob being written. Data goes to a temporary file and is hashed; commit() publishes it.
// Destroyed without a successful commit, it removes the temporary file.
class BlobWriter : public core::ByteSink {
 public:
  BlobWriter(BlobWriter&& other) noexcept;
  BlobWriter& operator=(BlobWriter&&) = delete;
  ~BlobWriter() override;

  // kIo (naming the temporary file) when the write fails.
  core::Result<void> write(std::string_view data) override;
  uint64_t size() const { return size_; }
  // Publishes the blob under the digest of what was written and returns that digest; kIo when
  // fsync or rename fails (nothing is published then).
  core::Result<std::string> commit();
  // Publishes only if the content has exactly this size and digest; otherwise kIntegrity
  // naming the expected and the actual value, and nothing is published.
  core::Result<void> commit_expect(std::string_view digest, uint64_t size);

 private:
  friend class BlobStore;
  BlobWriter(std::string blob_dir, std::string tmp_path, core::Fd fd)
      : blob_dir_(std::move(blob_dir)), tmp_path_(std::move(tmp_path)), fd_(std::move(fd)) {}
  core::Result<void> publish(const std::string& hex);

  std::string blob_dir_;
  std::string tmp_path_;  // empty once published
  core::Fd fd_;
  std::unique_ptr<core::Sha256> hash_ = std::make_unique<core::Sha256>();
  uint64_t size_ = 0;
};

// A blob opened for reading; reads its bytes as stored (see BlobStore::open_blob).
class BlobReader : public core::ByteSource {
 public:
  core::Result<size_t> read(char* buf, size_t n) override { return fd_.read_some(buf, n); }
  uint64_t size() const { return size_; }

 private:
  friend class BlobStore;
  BlobReader(core::Fd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}
  core::Fd fd_;
  uint64_t size_;
};

class BlobStore {
 public:
  // Creates <root>/blobs/sha256 and <root>/.tmp if needed. kIo naming the path on failure.
  static core::Result<BlobStore> open(std::string root);

  const std::string& root() const { return root_; }
  // True when a valid digest names a blob present in the store.
  bool has(std::string_view digest) const;
  // The blob's path; kInvalid for an invalid digest (nothing is touched).
  core::Result<std::string> path(std::string_view digest) const;
  // The blob's size; kNotFound naming the digest when absent.
  core::Result<uint64_t> size(std::string_view digest) const;

  // The whole blob, re-hashed: kNotFound when absent, kTooLarge over max bytes, kIntegrity
  // when the stored bytes no longer match the digest.
  core::Result<std::string> read(std::string_view digest, uint64_t max = 64u << 20) const;
  // Opens a blob for streaming (not re-hashed: a consumer that needs proof hashes the stream).
  // kInvalid for an invalid digest, kNotFound when absent, kIo otherwise.
  core::Result<BlobReader> open_blob(std::string_view digest) const;

  // Starts a new blob. kIo when the temporary file cannot be created.
  core::Result<BlobWriter> writer() const;
  // Stores bytes; returns their digest.
  core::Result<std::string> put(std::string_view data) const;
  // Stores a stream that must have exactly expected_size bytes and the expected digest. Reading
  // stops with kIntegrity as soon as the stream is longer than expected; the size is checked
  // before the hash. kInvalid for an invalid expected digest. Nothing is published on failure.
  core::Result<void> put_stream(core::ByteSource& in, std::string_view expected_digest,
                                uint64_t expected_size) const;
  // Stores a copy of a regular file (symlinks are not followed); returns its digest.
  core::Result<std::string> put_file(const std::string& file) const;

 private:
  explicit BlobStore(std::string root) : root_(std::move(root)) {}
  std::string blob_dir() const { return root_ + "/blobs/sha256"; }
  std::string root_;
};

}  // namespace images
