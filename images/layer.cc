#include "images/layer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

#include "core/archive/tar.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "images/gzip.h"
#include "images/reference.h"

namespace images {
namespace {

using core::Errc;
using core::Result;

// Passes bytes on while hashing and counting them.
class HashingSink : public core::ByteSink {
 public:
  explicit HashingSink(core::ByteSink& next) : next_(next) {}
  Result<void> write(std::string_view data) override {
    hash_.update(data);
    return next_.write(data);
  }
  std::string digest() { return sha256_digest(hash_.finish_hex()); }

 private:
  core::ByteSink& next_;
  core::Sha256 hash_;
};

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

Result<std::vector<std::string>> sorted_names(const std::string& dir) {
  DirPtr d(::opendir(dir.c_str()));
  if (!d) return core::fail_errno(errno, dir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d.get())) {
    std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  if (errno != 0) return core::fail_errno(errno, dir);
  std::sort(names.begin(), names.end());
  return names;
}

class LayerWalker {
 public:
  LayerWalker(core::TarWriter& tar, int64_t mtime) : tar_(tar), mtime_(mtime) {}

  Result<void> walk(const std::string& abs, const std::string& rel) {
    for (const std::string& name : K3A_TRY(sorted_names(abs))) {
      std::string child_abs = abs + "/" + name;
      std::string child_rel = rel.empty() ? name : rel + "/" + name;
      K3A_CHECK(add(child_abs, child_rel));
    }
    return {};
  }

 private:
  Result<void> add(const std::string& abs, const std::string& rel) {
    if (auto r = core::validate_entry_path(rel); !r) {
      return std::unexpected(std::move(r.error()).context(abs));
    }
    struct stat st;
    if (::lstat(abs.c_str(), &st) != 0) return core::fail_errno(errno, abs);
    core::TarEntry entry{.path = rel, .mode = st.st_mode & 07777u, .mtime = mtime_};
    if (S_ISDIR(st.st_mode)) {
      entry.type = core::TarType::kDirectory;
      K3A_CHECK(tar_.begin(entry));
      return walk(abs, rel);
    }
    if (S_ISLNK(st.st_mode)) {
      entry.type = core::TarType::kSymlink;
      entry.link_target = K3A_TRY(read_link(abs, st));
      return tar_.begin(entry);
    }
    if (S_ISREG(st.st_mode)) return add_file(abs, std::move(entry));
    return core::failf(Errc::kUnsupported, "{}: devices, FIFOs and sockets cannot go in a layer",
                       abs);
  }

  Result<void> add_file(const std::string& abs, core::TarEntry entry) {
    core::Fd fd = K3A_TRY(core::Fd::open(abs, O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return core::fail_errno(errno, abs);
    if (!S_ISREG(st.st_mode)) return core::failf(Errc::kConflict, "{}: changed while read", abs);
    entry.type = core::TarType::kFile;
    entry.size = static_cast<uint64_t>(st.st_size);
    core::FdSource src(fd);
    auto r = tar_.add_from(std::move(entry), src);
    if (!r) return std::unexpected(std::move(r.error()).context(abs));
    return {};
  }

  static Result<std::string> read_link(const std::string& abs, const struct stat& st) {
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlink(abs.c_str(), target.data(), target.size());
    if (n < 0) return core::fail_errno(errno, abs);
    if (static_cast<size_t>(n) >= target.size()) {
      return core::failf(Errc::kConflict, "{}: symlink changed while read", abs);
    }
    target.resize(static_cast<size_t>(n));
    return target;
  }

  core::TarWriter& tar_;
  int64_t mtime_;
};

}  // namespace

Result<LayerInfo> write_layer_from_dir(const std::string& dir, int64_t mtime, BlobStore& store) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) return core::failf(Errc::kNotFound, "{}: no such directory", dir);
    return core::fail_errno(errno, dir);
  }
  if (!S_ISDIR(st.st_mode)) return core::failf(Errc::kInvalid, "{}: not a directory", dir);
  BlobWriter blob = K3A_TRY(store.writer());
  auto gzip = K3A_TRY(GzipSink::create(blob));
  HashingSink tar_bytes(*gzip);
  auto tar = K3A_TRY(core::TarWriter::create(tar_bytes));
  LayerWalker walker(*tar, mtime);
  K3A_CHECK(walker.walk(dir, ""));
  K3A_CHECK(tar->finish());
  K3A_CHECK(gzip->finish());
  LayerInfo info;
  info.descriptor.media_type = kOciLayerGzip;
  info.descriptor.size = static_cast<int64_t>(blob.size());
  info.descriptor.digest = K3A_TRY(blob.commit());
  info.diff_id = tar_bytes.digest();
  return info;
}

}  // namespace images
