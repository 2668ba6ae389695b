// Byte streams: the seam between producers and consumers of bulk data (files, archives,
// compression, hashing, HTTP bodies). Implementations are single-threaded unless they say
// otherwise.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/base/progress.h"
#include "core/fs/fd.h"

namespace core {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to n bytes into buf; 0 means end of stream.
  virtual Result<size_t> read(char* buf, size_t n) = 0;
};

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Result<void> write(std::string_view data) = 0;
};

class FdSource : public ByteSource {
 public:
  explicit FdSource(const Fd& fd) : fd_(fd) {}
  Result<size_t> read(char* buf, size_t n) override { return fd_.read_some(buf, n); }

 private:
  const Fd& fd_;
};

class FdSink : public ByteSink {
 public:
  explicit FdSink(const Fd& fd) : fd_(fd) {}
  Result<void> write(std::string_view data) override { return fd_.write_all(data); }

 private:
  const Fd& fd_;
};

// In-memory streams (tests, small documents). StringSource hands out at most `chunk` bytes per
// read, like a pipe, so consumers cannot rely on getting whole buffers.
class StringSink : public ByteSink {
 public:
  Result<void> write(std::string_view data) override {
    out_.append(data);
    return {};
  }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

class StringSource : public ByteSource {
 public:
  explicit StringSource(std::string data, size_t chunk = 1 << 20)
      : data_(std::move(data)), chunk_(chunk) {}
  Result<size_t> read(char* buf, size_t n) override;
  size_t consumed() const { return pos_; }

 private:
  std::string data_;
  size_t chunk_;
  size_t pos_ = 0;
};

// Collects small writes (a tar writer hands over 10 KiB records) into large ones. flush() must
// be called at the end; the destructor does not write.
class BufferedSink : public ByteSink {
 public:
  explicit BufferedSink(ByteSink& out, size_t capacity = 1 << 20) : out_(out), capacity_(capacity) {
    buf_.reserve(capacity);
  }
  Result<void> write(std::string_view data) override;
  Result<void> flush();

 private:
  ByteSink& out_;
  size_t capacity_;
  std::string buf_;
};

// Reads a source to its end into a sink; returns the byte count.
Result<uint64_t> copy_stream(ByteSource& in, ByteSink& out);

// Advances a progress display as bytes are read through it.
class ProgressSource : public ByteSource {
 public:
  ProgressSource(ByteSource& in, Progress& progress) : in_(in), progress_(progress) {}
  Result<size_t> read(char* buf, size_t n) override {
    size_t got = K3A_TRY(in_.read(buf, n));
    progress_.advance(got);
    return got;
  }

 private:
  ByteSource& in_;
  Progress& progress_;
};

}  // namespace core
