#include "core/fs/atomic_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/fs/files.h"

namespace core {

Result<AtomicFile> AtomicFile::create(std::string path, mode_t mode) {
  std::string tmp = join_path(dir_name(path), "." + base_name(path) + ".tmp.XXXXXX");
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, tmp);
  Fd owned(fd);
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, tmp);
  }
  return AtomicFile(std::move(path), std::move(tmp), std::move(owned));
}

AtomicFile::~AtomicFile() {
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

Result<void> AtomicFile::commit() {
  if (tmp_.empty()) return fail(Errc::kInternal, "AtomicFile committed twice");
  auto fail_with = [&](Error e) -> Result<void> {
    return std::unexpected(std::move(e).context(path_));
  };
  if (auto r = fd_.fsync(); !r) return fail_with(r.error());
  if (auto r = fd_.close(); !r) return fail_with(r.error());
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) return fail_errno(errno, path_);
  tmp_.clear();
  return fsync_dir(dir_name(path_));
}

}  // namespace core
