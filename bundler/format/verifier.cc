#include "bundler/format/verifier.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <set>
#include <vector>

#include "bundler/format/image_check.h"
#include "bundler/format/signatures.h"
#include "core/archive/tar.h"
#include "core/archive/zstd.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/hashing_stream.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"

namespace bundler {
namespace {

using core::Errc;

// Supplies a file's bytes block by block; an empty block marks its end.
using BlockReader = std::function<core::Result<std::string_view>()>;

// One file's data: hashed, size-limited and forwarded to the consumer as it is read, either
// pulled through read() by a nested parser or drained whole.
class EntryStream : public core::ByteSource {
 public:
  EntryStream(BlockReader next, const FileRecord& file, EntryConsumer* consumer)
      : next_(std::move(next)), file_(file), consumer_(consumer) {}

  core::Result<size_t> read(char* buf, size_t n) override {
    if (pos_ == block_.size()) {
      block_ = K3A_TRY(next_block());
      pos_ = 0;
    }
    size_t k = std::min(n, block_.size() - pos_);
    std::copy_n(block_.data() + pos_, k, buf);
    pos_ += k;
    return k;
  }

  core::Result<void> drain() {
    pos_ = block_.size();
    while (!K3A_TRY(next_block()).empty()) {
    }
    return {};
  }

  core::Result<void> check() {
    if (seen_ != file_.size) {
      return core::failf(Errc::kIntegrity, "{}: {} bytes, bundle.json says {}",
                         core::quote(file_.path), seen_, file_.size);
    }
    std::string actual = hash_.finish_hex();
    if (actual != file_.sha256) {
      return core::failf(Errc::kIntegrity, "{}: sha256 {} does not match bundle.json ({})",
                         core::quote(file_.path), actual, file_.sha256);
    }
    return {};
  }

 private:
  core::Result<std::string_view> next_block() {
    std::string_view block = K3A_TRY(next_());
    seen_ += block.size();
    if (seen_ > file_.size) {
      return core::failf(Errc::kIntegrity, "{}: longer than the {} bytes bundle.json lists",
                         core::quote(file_.path), file_.size);
    }
    hash_.update(block);
    if (consumer_ && !block.empty()) K3A_CHECK(consumer_->data(block));
    return block;
  }

  BlockReader next_;
  const FileRecord& file_;
  EntryConsumer* consumer_;
  core::Sha256 hash_;
  uint64_t seen_ = 0;
  std::string_view block_;
  size_t pos_ = 0;
};

// Checks one file's bytes against its record (and, for image archives, every blob) while
// handing them to the consumer.
core::Result<void> verify_file(BlockReader next, const FileRecord& file, VerifyReport& report,
                               EntryConsumer* consumer) {
  if (consumer) K3A_CHECK(consumer->begin(file));
  EntryStream stream(std::move(next), file, consumer);
  if (file.role == FileRole::kImages) {
    report.image_blobs += K3A_TRY(check_image_archive(stream, report.manifest, file));
  }
  K3A_CHECK(stream.drain());
  K3A_CHECK(stream.check());
  if (consumer) K3A_CHECK(consumer->end(file));
  report.file_bytes += file.size;
  return {};
}

core::Result<std::string> read_small_entry(core::TarReader& reader, const char* expected_path,
                                           uint64_t limit) {
  auto entry = K3A_TRY(reader.next());
  if (!entry || entry->path != expected_path || entry->type != core::TarType::kFile) {
    return core::failf(Errc::kIntegrity, "not a bundle: entry {} must be {}",
                       entry ? core::quote(entry->path) : std::string("(end)"), expected_path);
  }
  if (entry->size > limit) {
    return core::failf(Errc::kTooLarge, "{} is {} bytes, over the limit of {}", expected_path,
                       entry->size, limit);
  }
  std::string out;
  while (true) {
    std::string_view block = K3A_TRY(reader.read_block());
    if (block.empty()) break;
    out.append(block);
  }
  return out;
}

core::Result<void> check_header(const core::TarEntry& entry, const BundleManifest& manifest,
                                std::set<std::string>& seen, const FileRecord** out) {
  if (auto r = core::validate_entry_path(entry.path); !r) {
    return core::fail(Errc::kIntegrity, "unsafe entry: " + r.error().message());
  }
  if (entry.type != core::TarType::kFile || entry.sparse) {
    return core::failf(Errc::kIntegrity, "{}: only regular files are allowed in a bundle",
                       core::quote(entry.path));
  }
  const FileRecord* file = manifest.find_file(entry.path);
  if (!file) {
    return core::failf(Errc::kIntegrity, "{}: not listed in bundle.json", core::quote(entry.path));
  }
  if (!seen.insert(entry.path).second) {
    return core::failf(Errc::kIntegrity, "{}: duplicate entry", core::quote(entry.path));
  }
  if (entry.size != file->size) {
    return core::failf(Errc::kIntegrity, "{}: {} bytes, bundle.json says {}",
                       core::quote(entry.path), entry.size, file->size);
  }
  if ((entry.mode & 07777) != file->mode) {
    return core::failf(Errc::kIntegrity, "{}: mode {} differs from bundle.json's {}",
                       core::quote(entry.path), mode_string(entry.mode), mode_string(file->mode));
  }
  *out = file;
  return {};
}

core::Result<void> check_manifest_header(const BundleManifest& m, const VerifyOptions& options,
                                         VerifyReport& report) {
  if (m.expires && options.now > K3A_TRY(core::parse_rfc3339(*m.expires))) {
    if (!options.allow_expired) {
      return core::failf(Errc::kExpired, "bundle {} (sequence {}) expired at {}", m.name,
                         m.sequence, *m.expires);
    }
    report.expired = true;
  }
  return {};
}

// Signatures over bundle.json first, then its contents.
core::Result<void> check_manifest(const VerifyOptions& options, VerifyReport& report) {
  if (!options.skip_signatures) {
    auto sigs = K3A_TRY(parse_signatures(report.signatures_bytes));
    report.signed_by =
        K3A_TRY(check_signatures(report.manifest_bytes, sigs, options.trusted, options.threshold));
  }
  report.manifest = K3A_TRY(parse_manifest(report.manifest_bytes));
  return check_manifest_header(report.manifest, options, report);
}

// Opens a regular file below dirfd without following any symlink on the way.
core::Result<core::Fd> open_beneath(int dirfd, const std::string& dir, const std::string& rel) {
  struct open_how how {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
  if (fd < 0) {
    if (errno == ELOOP || errno == EXDEV) {
      return core::failf(Errc::kIntegrity, "{}: a symlink on the way; refused", core::quote(rel));
    }
    return core::fail_errno(errno, "open " + core::join_path(dir, rel));
  }
  core::Fd out(static_cast<int>(fd));
  struct stat st {};
  if (::fstat(out.get(), &st) != 0) return core::fail_errno(errno, "stat " + rel);
  if (!S_ISREG(st.st_mode)) {
    return core::failf(Errc::kIntegrity, "{}: not a regular file", core::quote(rel));
  }
  return out;
}

core::Result<std::string> read_small_file(int dirfd, const std::string& dir, const char* rel,
                                          uint64_t limit) {
  core::Fd fd = K3A_TRY(open_beneath(dirfd, dir, rel));
  uint64_t size = K3A_TRY(fd.size());
  if (size > limit) {
    return core::failf(Errc::kTooLarge, "{} is {} bytes, over the limit of {}", rel, size, limit);
  }
  std::string out(size, '\0');
  K3A_CHECK(fd.read_exact(out.data(), size));
  return out;
}

core::Result<void> verify_entries(core::TarReader& reader, VerifyReport& report,
                                  EntryConsumer* consumer) {
  const BundleManifest& m = report.manifest;
  std::set<std::string> seen;
  while (auto entry = K3A_TRY(reader.next())) {
    const FileRecord* file = nullptr;
    K3A_CHECK(check_header(*entry, m, seen, &file));
    K3A_CHECK(verify_file([&reader] { return reader.read_block(); }, *file, report, consumer));
  }
  for (const auto& f : m.files) {
    if (!seen.count(f.path)) {
      return core::failf(Errc::kIntegrity, "{}: listed in bundle.json but missing from the bundle",
                         core::quote(f.path));
    }
  }
  return reader.finish();
}

}  // namespace

core::Result<BundleHeader> read_bundle_header(core::ByteSource& compressed) {
  auto zstd = K3A_TRY(core::ZstdSource::create(compressed));
  auto reader = K3A_TRY(core::TarReader::open(*zstd));
  BundleHeader header;
  header.manifest_json = K3A_TRY(read_small_entry(*reader, kManifestPath, kMaxManifestSize));
  header.signatures_json = K3A_TRY(read_small_entry(*reader, kSignaturesPath, kMaxSignaturesSize));
  return header;
}

core::Result<VerifyReport> verify_bundle(core::ByteSource& compressed, const VerifyOptions& options,
                                         EntryConsumer* consumer) {
  core::HashingSource hashing(compressed);
  auto zstd = K3A_TRY(core::ZstdSource::create(hashing));
  auto reader = K3A_TRY(core::TarReader::open(*zstd));
  VerifyReport report;
  report.manifest_bytes = K3A_TRY(read_small_entry(*reader, kManifestPath, kMaxManifestSize));
  report.signatures_bytes = K3A_TRY(read_small_entry(*reader, kSignaturesPath, kMaxSignaturesSize));
  K3A_CHECK(check_manifest(options, report));
  K3A_CHECK(verify_entries(*reader, report, consumer));
  report.compressed_bytes = hashing.size();
  report.compressed_digest = hashing.finish();
  return report;
}

core::Result<VerifyReport> verify_bundle_dir(const std::string& dir, const VerifyOptions& options,
                                             EntryConsumer* consumer) {
  core::Fd root = K3A_TRY(core::Fd::open(dir, O_RDONLY | O_DIRECTORY));
  VerifyReport report;
  report.manifest_bytes =
      K3A_TRY(read_small_file(root.get(), dir, kManifestPath, kMaxManifestSize));
  report.signatures_bytes =
      K3A_TRY(read_small_file(root.get(), dir, kSignaturesPath, kMaxSignaturesSize));
  K3A_CHECK(check_manifest(options, report));
  std::string buf(1u << 20, '\0');
  for (const FileRecord& file : report.manifest.files) {
    core::Fd fd = K3A_TRY(open_beneath(root.get(), dir, file.path));
    if (uint64_t size = K3A_TRY(fd.size()); size != file.size) {
      return core::failf(Errc::kIntegrity, "{}: {} bytes, bundle.json says {}",
                         core::quote(file.path), size, file.size);
    }
    auto next = [&]() -> core::Result<std::string_view> {
      size_t got = K3A_TRY(fd.read_some(buf.data(), buf.size()));
      return std::string_view(buf.data(), got);
    };
    K3A_CHECK(verify_file(next, file, report, consumer));
  }
  return report;
}

}  // namespace bundler
