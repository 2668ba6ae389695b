// Verifies a bundle (`.tar.zst`) in one streaming pass and optionally hands every verified
// entry's bytes to a consumer (the installer writes them into its staging directory).
//
// Order of checks: the first entry must be bundle.json and the second bundle.json.sig; the
// signatures are checked against the trusted keys before bundle.json is parsed. Every later
// entry must be a regular file listed in bundle.json, appear once, have the listed size and
// mode, and hash to the listed sha256; image archives are also opened and every blob checked
// against its digest and the pinned images. After the last entry: nothing missing, nothing but
// zero padding after the tar end, nothing after the last zstd frame.
//
// A consumer sees data before the entry's hash is known to match: it must treat everything as
// provisional until verify_bundle() returns success (abort on error). Single-threaded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bundler/format/manifest.h"
#include "core/crypto/keys.h"
#include "core/fs/stream.h"

namespace bundler {

struct VerifyOptions {
  std::vector<core::PublicKey> trusted;
  int threshold = 1;
  bool skip_signatures = false;  // --insecure-skip-verify: integrity still checked
  bool allow_expired = false;
  int64_t now = 0;  // seconds since the epoch, for `expires`
};

class EntryConsumer {
 public:
  virtual ~EntryConsumer() = default;
  virtual core::Result<void> begin(const FileRecord& file) = 0;
  virtual core::Result<void> data(std::string_view bytes) = 0;
  // Called once the entry's size and sha256 matched.
  virtual core::Result<void> end(const FileRecord& file) = 0;
};

struct VerifyReport {
  BundleManifest manifest;
  std::string manifest_bytes;
  std::string signatures_bytes;
  std::vector<std::string> signed_by;  // trusted key ids with valid signatures
  bool expired = false;                // only with allow_expired
  uint64_t compressed_bytes = 0;
  core::Sha256::Digest compressed_digest{};  // of the whole .tar.zst, for the detached signature
  uint64_t file_bytes = 0;
  size_t image_blobs = 0;
};

struct BundleHeader {
  std::string manifest_json;
  std::string signatures_json;
};

// Reads only the first two entries (bundle.json and bundle.json.sig), for inspection; nothing
// is verified. kIntegrity when the file does not start like a bundle.
core::Result<BundleHeader> read_bundle_header(core::ByteSource& compressed);

// Errors: kIntegrity (tampering, truncation, mismatches, unexpected entries), kUnauthorized
// (signatures), kExpired, kInvalid (malformed bundle.json), kTooLarge (limits); the message
// names the entry or key.
core::Result<VerifyReport> verify_bundle(core::ByteSource& compressed, const VerifyOptions& options,
                                         EntryConsumer* consumer = nullptr);

// The same checks on an unpacked bundle (`tar -xf site.tar.zst`): bundle.json and its
// signatures, then every listed file, opened without following symlinks and read once (the
// bytes checked are the bytes handed to the consumer). Files not listed are ignored; modes are
// not compared (extraction applies the umask). No detached signature or tar-level checks.
core::Result<VerifyReport> verify_bundle_dir(const std::string& dir, const VerifyOptions& options,
                                             EntryConsumer* consumer = nullptr);

}  // namespace bundler
