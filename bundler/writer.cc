#include "bundler/writer.h"

#include <fcntl.h>

#include <algorithm>
#include <thread>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/hashing_stream.h"
#include "core/fs/atomic_file.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"

namespace bundler {
namespace {

using core::Errc;

// Forwards a generated entry into the bundle, hashing and counting it.
class EntrySink : public core::ByteSink {
 public:
  EntrySink(BundleWriter& writer, const PlannedFile& file, core::Progress& progress)
      : writer_(writer), file_(file), progress_(progress) {}
  core::Result<void> write(std::string_view data) override {
    if (size + data.size() > file_.record.size) return changed(file_);
    hash.update(data);
    size += data.size();
    progress_.advance(data.size());
    return writer_.data(data);
  }
  static core::Result<void> changed(const PlannedFile& file) {
    return core::failf(Errc::kIntegrity, "{} changed while the bundle was written",
                       core::quote(file.source_path.empty() ? file.record.path : file.source_path));
  }
  core::Sha256 hash;
  uint64_t size = 0;

 private:
  BundleWriter& writer_;
  const PlannedFile& file_;
  core::Progress& progress_;
};

core::Result<void> copy_source_file(const PlannedFile& file, EntrySink& sink) {
  core::Fd fd = K3A_TRY(core::Fd::open(file.source_path, O_RDONLY | O_NOFOLLOW));
  std::vector<char> buf(1 << 20);
  while (sink.size < file.record.size) {
    size_t want = std::min<uint64_t>(buf.size(), file.record.size - sink.size);
    size_t n = K3A_TRY(fd.read_some(buf.data(), want));
    if (n == 0) break;
    K3A_CHECK(sink.write(std::string_view(buf.data(), n)));
  }
  char extra;
  if (K3A_TRY(fd.read_some(&extra, 1)) != 0) return EntrySink::changed(file);
  return {};
}

core::Result<void> copy_file_entry(BundleWriter& writer, const PlannedFile& file,
                                   core::Progress& progress) {
  const FileRecord& rec = file.record;
  K3A_CHECK(writer.begin(rec));
  EntrySink sink(writer, file, progress);
  if (file.generate) {
    K3A_CHECK(file.generate(sink));
  } else if (!file.source_path.empty()) {
    K3A_CHECK(copy_source_file(file, sink));
  } else {
    K3A_CHECK(sink.write(file.content));
  }
  if (sink.size != rec.size || sink.hash.finish_hex() != rec.sha256)
    return EntrySink::changed(file);
  return {};
}

core::Result<std::string> sign_manifest(const std::string& manifest_json,
                                        const std::vector<const core::PrivateKey*>& keys) {
  if (keys.empty()) return core::fail(Errc::kInvalid, "a bundle needs at least one signing key");
  std::vector<Signature> sigs;
  for (const auto* key : keys) {
    sigs.push_back({key->public_key().key_id(), K3A_TRY(key->sign(manifest_json))});
  }
  return serialize_signatures(std::move(sigs));
}

}  // namespace

BundleWriter::~BundleWriter() = default;

core::Result<std::unique_ptr<BundleWriter>> BundleWriter::open(core::ByteSink& out,
                                                               const core::ZstdParams& zstd,
                                                               int64_t mtime) {
  std::unique_ptr<BundleWriter> w(new BundleWriter());
  w->zstd_ = K3A_TRY(core::ZstdSink::create(out, zstd));
  w->tar_ = K3A_TRY(core::TarWriter::create(*w->zstd_));
  w->mtime_ = mtime;
  return w;
}

core::Result<void> BundleWriter::add_header(std::string_view manifest_json,
                                            std::string_view signatures_json) {
  K3A_CHECK(tar_->add_file({.path = kManifestPath, .mode = 0644, .mtime = mtime_}, manifest_json));
  return tar_->add_file({.path = kSignaturesPath, .mode = 0644, .mtime = mtime_}, signatures_json);
}

core::Result<void> BundleWriter::begin(const FileRecord& file) {
  return tar_->begin({.path = file.path,
                      .type = core::TarType::kFile,
                      .size = file.size,
                      .mode = file.mode,
                      .mtime = mtime_});
}

core::Result<void> BundleWriter::data(std::string_view bytes) { return tar_->write_data(bytes); }

core::Result<void> BundleWriter::finish() {
  K3A_CHECK(tar_->finish());
  return zstd_->finish();
}

core::Result<CreateResult> create_bundle_file(const std::string& path,
                                              const BundleManifest& manifest,
                                              const std::vector<PlannedFile>& files,
                                              const CreateOptions& options) {
  std::string manifest_json = serialize_manifest(manifest);
  std::string sig_json = K3A_TRY(sign_manifest(manifest_json, options.keys));
  int64_t mtime = K3A_TRY(core::parse_rfc3339(manifest.created));

  core::AtomicFile out = K3A_TRY(core::AtomicFile::create(path, 0644));
  core::HashingSink sink(&out);
  auto writer = K3A_TRY(BundleWriter::open(sink, options.zstd, mtime));
  K3A_CHECK(writer->add_header(manifest_json, sig_json));
  std::vector<const PlannedFile*> sorted;
  for (const auto& f : files) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(),
            [](auto* a, auto* b) { return a->record.path < b->record.path; });
  core::Progress progress("compressing " + core::base_name(path), manifest.total_file_bytes(),
                          options.progress);
  for (const PlannedFile* f : sorted) K3A_CHECK(copy_file_entry(*writer, *f, progress));
  K3A_CHECK(writer->finish());
  progress.finish();

  core::Sha256::Digest digest = sink.finish();
  std::string detached = K3A_TRY(make_detached_signature(*options.keys.front(), digest));
  core::AtomicFile sig = K3A_TRY(core::AtomicFile::create(path + ".sig", 0644));
  K3A_CHECK(sig.write(detached));
  K3A_CHECK(out.commit());
  K3A_CHECK(sig.commit());
  return CreateResult{
      sink.size(), core::hex_encode(std::string_view(reinterpret_cast<const char*>(digest.data()),
                                                      digest.size()))};
}

}  // namespace bundler
