// Streams that hash (SHA-256) and count what passes through them: a sink that forwards to
// another sink (or only hashes), and a source that reads from another source. Single-threaded.
#pragma once

#include <cstdint>
#include <string>

#include "core/crypto/sha256.h"
#include "core/fs/stream.h"

namespace core {

class HashingSink : public ByteSink {
 public:
  // next may be null: the bytes are hashed and counted, then dropped.
  explicit HashingSink(ByteSink* next = nullptr) : next_(next) {}
  Result<void> write(std::string_view data) override {
    hash_.update(data);
    size_ += data.size();
    return next_ ? next_->write(data) : Result<void>();
  }
  uint64_t size() const { return size_; }
  Sha256::Digest finish() { return hash_.finish(); }
  std::string finish_hex() { return hash_.finish_hex(); }

 private:
  ByteSink* next_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

class HashingSource : public ByteSource {
 public:
  explicit HashingSource(ByteSource& in) : in_(in) {}
  Result<size_t> read(char* buf, size_t n) override {
    size_t got = K3A_TRY(in_.read(buf, n));
    hash_.update(std::string_view(buf, got));
    size_ += got;
    return got;
  }
  uint64_t size() const { return size_; }
  Sha256::Digest finish() { return hash_.finish(); }
  std::string finish_hex() { return hash_.finish_hex(); }

 private:
  ByteSource& in_;
  Sha256 hash_;
  uint64_t size_ = 0;
};

}  // namespace core
