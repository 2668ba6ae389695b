// Fd: an owning file descriptor. The destructor closes silently; close() reports the error
// (on NFS and some filesystems a write error surfaces only at close). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace core {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  Result<void> close();

  // Opens with O_CLOEXEC added. Errors name the path.
  static Result<Fd> open(const std::string& path, int flags, mode_t mode = 0644);

  // Reads up to n bytes (fewer only at end of file); retries on EINTR.
  Result<size_t> read_some(char* buf, size_t n) const;
  // Reads exactly n bytes or fails with kIntegrity at a premature end.
  Result<void> read_exact(char* buf, size_t n) const;
  Result<void> write_all(std::string_view data) const;
  Result<void> fsync() const;
  Result<uint64_t> size() const;

 private:
  int fd_ = -1;
};

}  // namespace core
