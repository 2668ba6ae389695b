#include "images/blob_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>
#include <vector>

#include "core/base/strings.h"
#include "core/fs/files.h"
#include "images/reference.h"

namespace images {

using core::Errc;
using core::Result;

// ---- BlobWriter ----

BlobWriter::BlobWriter(BlobWriter&& other) noexcept
    : blob_dir_(std::move(other.blob_dir_)),
      tmp_path_(std::exchange(other.tmp_path_, std::string())),
      fd_(std::move(other.fd_)),
      hash_(std::move(other.hash_)),
      size_(other.size_) {}

BlobWriter::~BlobWriter() {
  if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
}

Result<void> BlobWriter::write(std::string_view data) {
  if (tmp_path_.empty()) return core::fail(Errc::kInternal, "blob writer: write after commit");
  hash_->update(data);
  size_ += data.size();
  auto r = fd_.write_all(data);
  if (!r) return std::unexpected(std::move(r.error()).context(tmp_path_));
  return {};
}

Result<void> BlobWriter::publish(const std::string& hex) {
  std::string final_path = blob_dir_ + "/" + hex;
  if (auto r = fd_.fsync(); !r) return std::unexpected(std::move(r.error()).context(tmp_path_));
  if (auto r = fd_.close(); !r) return std::unexpected(std::move(r.error()).context(tmp_path_));
  if (::rename(tmp_path_.c_str(), final_path.c_str()) != 0) {
    return core::fail_errno(errno, final_path);
  }
  tmp_path_.clear();
  return core::fsync_dir(blob_dir_);
}

Result<std::string> BlobWriter::commit() {
  if (tmp_path_.empty()) return core::fail(Errc::kInternal, "blob writer: committed twice");
  std::string hex = hash_->finish_hex();
  K3A_CHECK(publish(hex));
  return sha256_digest(hex);
}

Result<void> BlobWriter::commit_expect(std::string_view digest, uint64_t size) {
  if (tmp_path_.empty()) return core::fail(Errc::kInternal, "blob writer: committed twice");
  K3A_CHECK(check_digest(digest, "blob"));
  if (size_ != size) {
    return core::failf(Errc::kIntegrity, "blob {}: size {} bytes, expected {}", digest, size_,
                       size);
  }
  std::string actual = sha256_digest(hash_->finish_hex());
  if (actual != digest) {
    return core::failf(Errc::kIntegrity, "blob {}: content has digest {}", digest, actual);
  }
  return publish(digest_hex(digest));
}

// ---- BlobStore ----

Result<BlobStore> BlobStore::open(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  BlobStore store(std::move(root));
  K3A_CHECK(core::make_dirs(store.blob_dir()));
  K3A_CHECK(core::make_dirs(store.root_ + "/.tmp", 0700));
  return store;
}

Result<std::string> BlobStore::path(std::string_view digest) const {
  K3A_CHECK(check_digest(digest, "blob"));
  return blob_dir() + "/" + digest_hex(digest);
}

bool BlobStore::has(std::string_view digest) const {
  auto p = path(digest);
  struct stat st;
  return p && ::lstat(p->c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<uint64_t> BlobStore::size(std::string_view digest) const {
  std::string p = K3A_TRY(path(digest));
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) {
    if (errno == ENOENT) return core::failf(Errc::kNotFound, "blob {}: not in the store", digest);
    return core::fail_errno(errno, p);
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<BlobReader> BlobStore::open_blob(std::string_view digest) const {
  std::string p = K3A_TRY(path(digest));
  auto fd = core::Fd::open(p, O_RDONLY | O_NOFOLLOW);
  if (!fd) {
    if (!core::path_exists(p))
      return core::failf(Errc::kNotFound, "blob {}: not in the store", digest);
    return std::unexpected(fd.error());
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return core::fail_errno(errno, p);
  if (!S_ISREG(st.st_mode)) return core::failf(Errc::kInvalid, "{}: not a regular file", p);
  return BlobReader(std::move(*fd), static_cast<uint64_t>(st.st_size));
}

Result<std::string> BlobStore::read(std::string_view digest, uint64_t max) const {
  BlobReader reader = K3A_TRY(open_blob(digest));
  if (reader.size() > max) {
    return core::failf(Errc::kTooLarge, "blob {}: {} bytes is over the limit of {}", digest,
                       reader.size(), max);
  }
  std::string data(reader.size(), '\0');
  size_t got = 0;
  while (got < data.size()) {
    size_t n = K3A_TRY(reader.read(data.data() + got, data.size() - got));
    if (n == 0) break;
    got += n;
  }
  data.resize(got);
  if (sha256_digest(core::Sha256::hex_of(data)) != digest) {
    return core::failf(Errc::kIntegrity, "blob {}: stored content does not match its digest",
                       digest);
  }
  return data;
}

Result<BlobWriter> BlobStore::writer() const {
  std::string tmp = root_ + "/.tmp/blob-XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return core::fail_errno(errno, tmp);
  core::Fd owned(fd);
  if (::fchmod(fd, 0644) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return core::fail_errno(err, tmp);
  }
  return BlobWriter(blob_dir(), std::move(tmp), std::move(owned));
}

Result<std::string> BlobStore::put(std::string_view data) const {
  std::string digest = sha256_digest(core::Sha256::hex_of(data));
  if (has(digest)) return digest;
  BlobWriter w = K3A_TRY(writer());
  K3A_CHECK(w.write(data));
  K3A_CHECK(w.commit_expect(digest, data.size()));
  return digest;
}

Result<void> BlobStore::put_stream(core::ByteSource& in, std::string_view expected_digest,
                                   uint64_t expected_size) const {
  K3A_CHECK(check_digest(expected_digest, "blob"));
  BlobWriter w = K3A_TRY(writer());
  std::vector<char> buf(1 << 20);
  while (true) {
    size_t n = K3A_TRY(in.read(buf.data(), buf.size()));
    if (n == 0) break;
    if (w.size() + n > expected_size) {
      return core::failf(Errc::kIntegrity, "blob {}: longer than the expected {} bytes",
                         expected_digest, expected_size);
    }
    K3A_CHECK(w.write(std::string_view(buf.data(), n)));
  }
  return w.commit_expect(expected_digest, expected_size);
}

Result<std::string> BlobStore::put_file(const std::string& file) const {
  auto fd = core::Fd::open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (!fd) return std::unexpected(fd.error());
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return core::fail_errno(errno, file);
  if (!S_ISREG(st.st_mode)) return core::failf(Errc::kInvalid, "{}: not a regular file", file);
  BlobWriter w = K3A_TRY(writer());
  core::FdSource src(*fd);
  auto copied = core::copy_stream(src, w);
  if (!copied) return std::unexpected(std::move(copied.error()).context(file));
  return w.commit();
}

}  // namespace images
