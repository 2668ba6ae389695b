#include "core/fs/fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace core {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> Fd::close() {
  int fd = release();
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) return fail_errno(errno, "close");
  return {};
}

Result<Fd> Fd::open(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return fail_errno(errno, path);
  return Fd(fd);
}

Result<size_t> Fd::read_some(char* buf, size_t n) const {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd_, buf + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "read");
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

Result<void> Fd::read_exact(char* buf, size_t n) const {
  size_t got = K3A_TRY(read_some(buf, n));
  if (got != n) return failf(Errc::kIntegrity, "unexpected end of file after {} bytes", got);
  return {};
}

Result<void> Fd::write_all(std::string_view data) const {
  while (!data.empty()) {
    ssize_t w = ::write(fd_, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail_errno(errno, "write");
    }
    data.remove_prefix(static_cast<size_t>(w));
  }
  return {};
}

Result<void> Fd::fsync() const {
  if (::fsync(fd_) != 0) return fail_errno(errno, "fsync");
  return {};
}

Result<uint64_t> Fd::size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return fail_errno(errno, "fstat");
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace core
