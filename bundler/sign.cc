#include "bundler/sign.h"

#include <fcntl.h>

#include "bundler/format/signatures.h"
#include "bundler/format/verifier.h"
#include "bundler/writer.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/hashing_stream.h"
#include "core/fs/atomic_file.h"
#include "core/fs/fd.h"

namespace bundler {
namespace {

// Copies each verified entry into the new bundle.
class CopyConsumer : public EntryConsumer {
 public:
  explicit CopyConsumer(BundleWriter& writer) : writer_(writer) {}
  core::Result<void> begin(const FileRecord& file) override { return writer_.begin(file); }
  core::Result<void> data(std::string_view bytes) override { return writer_.data(bytes); }
  core::Result<void> end(const FileRecord&) override { return {}; }

 private:
  BundleWriter& writer_;
};

}  // namespace

core::Result<SignResult> add_signature(const std::string& path, const core::PrivateKey& key,
                                       const core::ZstdParams& zstd) {
  core::Fd head_fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
  core::FdSource head_src(head_fd);
  BundleHeader header = K3A_TRY(read_bundle_header(head_src));
  BundleManifest manifest = K3A_TRY(parse_manifest(header.manifest_json));
  std::vector<Signature> sigs = K3A_TRY(parse_signatures(header.signatures_json));
  sigs.push_back({key.public_key().key_id(), K3A_TRY(key.sign(header.manifest_json))});
  std::string sig_json = serialize_signatures(std::move(sigs));

  core::AtomicFile out = K3A_TRY(core::AtomicFile::create(path, 0644));
  core::HashingSink sink(&out);
  auto writer =
      K3A_TRY(BundleWriter::open(sink, zstd, K3A_TRY(core::parse_rfc3339(manifest.created))));
  K3A_CHECK(writer->add_header(header.manifest_json, sig_json));
  CopyConsumer consumer(*writer);
  core::Fd fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
  core::FdSource src(fd);
  VerifyOptions options;
  options.skip_signatures = true;  // integrity only: the signer vouches for the content now
  options.allow_expired = true;
  K3A_CHECK(verify_bundle(src, options, &consumer));
  K3A_CHECK(writer->finish());

  core::Sha256::Digest digest = sink.finish();
  std::string detached = K3A_TRY(make_detached_signature(key, digest));
  core::AtomicFile sig = K3A_TRY(core::AtomicFile::create(path + ".sig", 0644));
  K3A_CHECK(sig.write(detached));
  K3A_CHECK(out.commit());
  K3A_CHECK(sig.commit());
  auto parsed = K3A_TRY(parse_signatures(sig_json));
  return SignResult{parsed.size(),
                    core::hex_encode(std::string_view(reinterpret_cast<const char*>(digest.data()),
                                                      digest.size()))};
}

}  // namespace bundler
