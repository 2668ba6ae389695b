#include "core/fs/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "core/fs/atomic_file.h"
#include "core/fs/fd.h"

namespace core {

Result<std::string> read_file(const std::string& path, uint64_t max_size) {
  Fd fd = K3A_TRY(Fd::open(path, O_RDONLY | O_NONBLOCK));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail_errno(errno, path);
  if (!S_ISREG(st.st_mode)) return failf(Errc::kInvalid, "{}: not a regular file", path);
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    return failf(Errc::kTooLarge, "{}: {} bytes is over the limit of {}", path, st.st_size,
                 max_size);
  }
  // Read to the end: files under /proc and /sys report a size of 0, and a file may grow.
  std::string data;
  size_t have = 0;
  for (;;) {
    if (have == data.size())
      data.resize(std::max<size_t>(static_cast<size_t>(st.st_size) + 1, have * 2 + 4096));
    auto got = fd.read_some(data.data() + have, data.size() - have);
    if (!got) return std::unexpected(std::move(got.error()).context(path));
    if (*got == 0) break;
    have += *got;
    if (have > max_size) {
      return failf(Errc::kTooLarge, "{}: more than the limit of {} bytes", path, max_size);
    }
  }
  data.resize(have);
  return data;
}

Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  AtomicFile file = K3A_TRY(AtomicFile::create(path, mode));
  K3A_CHECK(file.write(data));
  return file.commit();
}

Result<void> make_dirs(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return failf(Errc::kAlreadyExists, "{}: exists and is not a directory", path);
  }
  std::string parent = dir_name(path);
  if (parent != path && parent != "." && parent != "/") K3A_CHECK(make_dirs(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return fail_errno(errno, path);
  return {};
}

Result<void> fsync_dir(const std::string& path) {
  Fd fd = K3A_TRY(Fd::open(path, O_RDONLY | O_DIRECTORY));
  auto r = fd.fsync();
  if (!r) return std::unexpected(std::move(r.error()).context(path));
  return {};
}

Result<void> remove_all(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);  // does not follow symlinks
  if (ec) return failf(Errc::kIo, "{}: {}", path, ec.message());
  return {};
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string dir_name(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t pos = path.rfind('/');
  if (pos == std::string_view::npos) return ".";
  if (pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

std::string base_name(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t pos = path.rfind('/');
  return std::string(pos == std::string_view::npos ? path : path.substr(pos + 1));
}

std::string join_path(std::string_view base, std::string_view rel) {
  if (!rel.empty() && rel.front() == '/') return std::string(rel);
  if (base.empty() || base == ".") return std::string(rel);
  std::string out(base);
  if (out.back() != '/') out.push_back('/');
  out += rel;
  return out;
}

}  // namespace core
