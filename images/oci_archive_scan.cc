// The streaming pass of read_oci_archive: every entry is checked as it arrives and every blob
// is hashed (and optionally extracted) without seeking back.
#include "images/oci_archive_scan.h"

#include <set>

#include "core/archive/tar.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "images/oci_layout.h"

namespace images {
namespace {

using core::Errc;
using core::Result;
using core::TarEntry;
using core::TarType;

std::string_view type_name(TarType type) {
  switch (type) {
    case TarType::kSymlink:
      return "a symlink";
    case TarType::kHardlink:
      return "a hard link";
    case TarType::kDirectory:
      return "a directory";
    case TarType::kFile:
      return "a regular file";
    case TarType::kOther:
      break;
  }
  return "a special file";
}

bool looks_like_json_object(std::string_view data) {
  size_t first = data.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && data[first] == '{';
}

class Scanner {
 public:
  Scanner(core::TarReader& tar, BlobStore* extract_to, const ReadLimits& limits)
      : tar_(tar), extract_to_(extract_to), limits_(limits) {}

  Result<ScannedArchive> run() {
    while (true) {
      std::optional<TarEntry> entry = K3A_TRY(tar_.next());
      if (!entry) break;
      K3A_CHECK(on_entry(*entry));
    }
    K3A_CHECK(tar_.finish());
    return std::move(out_);
  }

 private:
  Result<void> on_entry(const TarEntry& entry) {
    std::string path = entry.path;
    if (entry.type == TarType::kDirectory && path.size() > 1 && path.back() == '/') {
      path.pop_back();
    }
    std::string what = "archive entry " + core::quote(path);
    if (auto r = core::validate_entry_path(path); !r) {
      return core::failf(Errc::kInvalid, "{}: unsafe path: {}", what, r.error().message());
    }
    if (!seen_.insert(path).second) return core::failf(Errc::kInvalid, "{}: appears twice", what);
    if (entry.type == TarType::kDirectory && (path == kBlobsDir || path == kBlobsSha256Dir)) {
      return {};
    }
    if (entry.type != TarType::kFile) {
      return core::failf(Errc::kInvalid, "{}: {} is not allowed", what, type_name(entry.type));
    }
    if (entry.sparse) return core::failf(Errc::kInvalid, "{}: sparse files are not allowed", what);
    if (path == kLayoutFile) return read_json(entry, what, out_.oci_layout);
    if (path == kIndexFile) return read_json(entry, what, out_.index_json);
    if (path == kDockerManifestFile) return read_json(entry, what, out_.docker_manifest);
    std::string prefix = std::string(kBlobsSha256Dir) + "/";
    if (!path.starts_with(prefix)) return core::failf(Errc::kInvalid, "{}: unexpected entry", what);
    std::string_view hex = std::string_view(path).substr(prefix.size());
    if (!core::is_sha256_hex(hex)) {
      return core::failf(Errc::kInvalid, "{}: blob name is not a sha256 digest", what);
    }
    return read_blob(entry, sha256_digest(hex));
  }

  Result<void> read_json(const TarEntry& entry, const std::string& what,
                         std::optional<std::string>& slot) {
    if (entry.size > kMaxJsonSize) {
      return core::failf(Errc::kTooLarge, "{}: {} bytes is over the JSON limit of {}", what,
                         entry.size, kMaxJsonSize);
    }
    std::string data;
    while (true) {
      std::string_view block = K3A_TRY(tar_.read_block());
      if (block.empty()) break;
      if (data.size() + block.size() > kMaxJsonSize) {
        return core::failf(Errc::kTooLarge, "{}: over the JSON limit", what);
      }
      data.append(block);
    }
    slot = std::move(data);
    return {};
  }

  Result<void> check_limits(const TarEntry& entry, const std::string& digest) {
    if (entry.size > limits_.max_blob_size) {
      return core::failf(Errc::kTooLarge, "blob {}: {} bytes is over the limit of {}", digest,
                         entry.size, limits_.max_blob_size);
    }
    if (out_.blobs.size() + 1 > limits_.max_blobs) {
      return core::failf(Errc::kTooLarge, "archive: more than {} blobs", limits_.max_blobs);
    }
    if (out_.blob_bytes + entry.size > limits_.max_total_size) {
      return core::failf(Errc::kTooLarge, "archive: blobs over the limit of {} bytes",
                         limits_.max_total_size);
    }
    return {};
  }

  Result<void> read_blob(const TarEntry& entry, const std::string& digest) {
    K3A_CHECK(check_limits(entry, digest));
    // A blob the store already holds is only hashed: the store re-hashes what it hands out.
    std::optional<BlobWriter> writer;
    if (extract_to_ && !extract_to_->has(digest)) writer.emplace(K3A_TRY(extract_to_->writer()));
    ScannedBlob blob;
    if (entry.size <= limits_.memory_blob_size &&
        kept_bytes_ + entry.size <= limits_.memory_total_size) {
      blob.data.emplace();
    }
    core::Sha256 hash;
    uint64_t got = 0;
    while (true) {
      std::string_view block = K3A_TRY(tar_.read_block());
      if (block.empty()) break;
      got += block.size();
      if (writer) {
        K3A_CHECK(writer->write(block));
      } else {
        hash.update(block);
      }
      if (blob.data) blob.data->append(block);
    }
    if (got != entry.size) {
      return core::failf(Errc::kIntegrity, "blob {}: {} bytes, the tar header says {}", digest, got,
                         entry.size);
    }
    if (writer) {
      K3A_CHECK(writer->commit_expect(digest, entry.size));
    } else if (std::string actual = sha256_digest(hash.finish_hex()); actual != digest) {
      return core::failf(Errc::kIntegrity, "blob {}: content has digest {}", digest, actual);
    }
    // Only JSON documents are needed later; layers never are.
    if (blob.data && !looks_like_json_object(*blob.data)) blob.data.reset();
    if (blob.data) kept_bytes_ += entry.size;
    blob.size = entry.size;
    out_.blob_bytes += entry.size;
    out_.blobs.emplace(digest, std::move(blob));
    return {};
  }

  core::TarReader& tar_;
  BlobStore* extract_to_;
  const ReadLimits& limits_;
  std::set<std::string> seen_;
  uint64_t kept_bytes_ = 0;
  ScannedArchive out_;
};

}  // namespace

Result<ScannedArchive> scan_archive(core::ByteSource& in, BlobStore* extract_to,
                                    const ReadLimits& limits) {
  auto tar = K3A_TRY(core::TarReader::open(in));
  Scanner scanner(*tar, extract_to, limits);
  return scanner.run();
}

Result<ArchiveContents> read_oci_archive(core::ByteSource& in, BlobStore* extract_to,
                                         const ReadLimits& limits) {
  ScannedArchive scanned = K3A_TRY(scan_archive(in, extract_to, limits));
  return check_archive_dag(scanned, extract_to);
}

}  // namespace images
