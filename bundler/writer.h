// Writes bundles: bundle.json first, bundle.json.sig second, then every file in path order,
// as one deterministic pax tar compressed with fixed zstd parameters. Entries carry mode from
// bundle.json, uid/gid 0, empty owner names and the bundle's creation time as mtime.
//
// BundleWriter is the streaming core (used by create and by sign); create_bundle_file() is the
// whole job for a local output: hashed inputs re-checked while copied, the output and its
// detached signature published atomically only when everything succeeded. Single-threaded
// apart from the compressor's workers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bundler/format/manifest.h"
#include "bundler/format/signatures.h"
#include "core/archive/tar.h"
#include "core/archive/zstd.h"
#include "core/base/progress.h"
#include "core/crypto/keys.h"

namespace bundler {

class BundleWriter {
 public:
  // out receives compressed bytes; mtime is every entry's modification time.
  static core::Result<std::unique_ptr<BundleWriter>> open(core::ByteSink& out,
                                                          const core::ZstdParams& zstd,
                                                          int64_t mtime);
  ~BundleWriter();

  core::Result<void> add_header(std::string_view manifest_json, std::string_view signatures_json);
  // Starts a file entry; exactly file.size bytes must follow through data().
  core::Result<void> begin(const FileRecord& file);
  core::Result<void> data(std::string_view bytes);
  core::Result<void> finish();

 private:
  BundleWriter() = default;
  std::unique_ptr<core::ZstdSink> zstd_;
  std::unique_ptr<core::TarWriter> tar_;
  int64_t mtime_ = 0;
};

// A file to put into a new bundle: its record (sha256 already computed) and where its bytes
// come from: a local file, content in memory, or a generator that writes the same bytes again
// each time it is called (an image archive assembled from the blob cache).
struct PlannedFile {
  FileRecord record;
  std::string source_path;
  std::string content;
  std::function<core::Result<void>(core::ByteSink&)> generate;
};

struct CreateOptions {
  core::ZstdParams zstd;
  std::vector<const core::PrivateKey*> keys;  // at least one
  core::Progress::Output progress = core::Progress::Output::kAuto;
};

struct CreateResult {
  uint64_t bytes = 0;
  std::string sha256;  // of the whole file
};

// Writes `path` and `path + ".sig"`. A source file that changed since it was hashed fails the
// whole write (kIntegrity naming it); nothing is published then.
core::Result<CreateResult> create_bundle_file(const std::string& path,
                                              const BundleManifest& manifest,
                                              const std::vector<PlannedFile>& files,
                                              const CreateOptions& options);

}  // namespace bundler
