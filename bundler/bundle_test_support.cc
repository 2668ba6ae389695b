#include "bundler/bundle_test_support.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "bundler/format/signatures.h"
#include "bundler/writer.h"
#include "core/archive/zstd.h"
#include "core/crypto/sha256.h"
#include "core/fs/atomic_file.h"
#include "core/fs/fd.h"

namespace bundler::testing {

BundleManifest manifest_for(const std::map<std::string, std::string>& files,
                            const std::string& created) {
  BundleManifest m;
  m.name = "test";
  m.sequence = 1;
  m.created = created;
  m.k3s_version = "v1.32.4+k3s1";
  m.arch = {"amd64"};
  for (const auto& [path, data] : files) {
    m.files.push_back({.path = path,
                       .size = data.size(),
                       .sha256 = core::Sha256::hex_of(data),
                       .mode = 0755,
                       .role = FileRole::kArtifact});
  }
  return m;
}

std::string write_valid_bundle(const core::TempDir& dir, const core::PrivateKey& key,
                               const std::map<std::string, std::string>& files,
                               const std::string& name) {
  BundleManifest m = manifest_for(files);
  std::vector<PlannedFile> planned;
  for (const auto& rec : m.files) planned.push_back({rec, "", files.at(rec.path)});
  std::string path = dir.sub(name);
  auto r = create_bundle_file(path, m, planned,
                              {.keys = {&key}, .progress = core::Progress::Output::kNever});
  EXPECT_TRUE(r) << r.error().message();
  return path;
}

std::string sign_json(const core::PrivateKey& key, const std::string& manifest_json) {
  auto sig = key.sign(manifest_json);
  return serialize_signatures({{key.public_key().key_id(), *sig}});
}

std::string write_raw_bundle(const core::TempDir& dir, const std::string& name,
                             const std::string& manifest_json, const std::string& signatures_json,
                             const std::vector<RawEntry>& entries) {
  std::string path = dir.sub(name);
  auto fd = core::Fd::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  core::FdSink sink(*fd);
  auto zstd = core::ZstdSink::create(sink, {});
  auto tar = core::TarWriter::create(**zstd);
  if (!manifest_json.empty()) {
    EXPECT_TRUE((*tar)->add_file({.path = kManifestPath, .mode = 0644}, manifest_json));
  }
  if (!signatures_json.empty()) {
    EXPECT_TRUE((*tar)->add_file({.path = kSignaturesPath, .mode = 0644}, signatures_json));
  }
  for (const auto& e : entries) {
    core::TarEntry entry = e.entry;
    if (entry.type == core::TarType::kFile) entry.size = e.data.size();
    EXPECT_TRUE((*tar)->begin(entry));
    if (!e.data.empty()) {
      EXPECT_TRUE((*tar)->write_data(e.data));
    }
  }
  EXPECT_TRUE((*tar)->finish());
  EXPECT_TRUE((*zstd)->finish());
  return path;
}

core::Result<VerifyReport> verify_file(const std::string& path, const VerifyOptions& options) {
  core::Fd fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
  core::FdSource src(fd);
  return verify_bundle(src, options);
}

}  // namespace bundler::testing
