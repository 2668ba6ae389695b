// write_oci_archive: writes the layout's JSON files from the plan (oci_archive_plan.h), then
// every blob once, streamed from the store and re-hashed on the way.
#include <map>
#include <nlohmann/json.hpp>

#include "core/archive/tar.h"
#include "core/crypto/sha256.h"
#include "core/serde/json.h"
#include "images/oci_archive.h"
#include "images/oci_archive_plan.h"
#include "images/oci_layout.h"

namespace images {
namespace {

using core::Errc;
using core::Json;
using core::Result;

// Passes bytes through while hashing them.
class HashingSource : public core::ByteSource {
 public:
  explicit HashingSource(core::ByteSource& in) : in_(in) {}
  Result<size_t> read(char* buf, size_t n) override {
    size_t got = K3A_TRY(in_.read(buf, n));
    hash_.update(std::string_view(buf, got));
    return got;
  }
  std::string digest() { return sha256_digest(hash_.finish_hex()); }

 private:
  core::ByteSource& in_;
  core::Sha256 hash_;
};

std::string index_json(const ArchivePlan& plan) {
  Index index;
  index.media_type = kOciIndex;
  for (const PlannedEntry& e : plan.entries) {
    Descriptor d = e.target;
    strip_archive_annotations(d);
    d.annotations[std::string(kAnnotationImageName)] = e.ref.str();
    if (!e.ref.tag.empty()) d.annotations[std::string(kAnnotationRefName)] = e.ref.tag;
    if (e.index_digest) d.annotations[std::string(kAnnotationIndexDigest)] = *e.index_digest;
    index.manifests.push_back(std::move(d));
  }
  return to_json(index);
}

// Docker's manifest.json: one entry per distinct manifest, with the tags of the references
// that name only it (docker load has no form for a tag over several platforms).
std::string docker_manifest_json(const ArchivePlan& plan) {
  Json entries = Json::array();
  std::map<std::string, size_t> entry_of;  // manifest digest → position in entries
  for (const PlannedEntry& e : plan.entries) {
    for (const PlannedImage& p : e.images) {
      auto [it, added] = entry_of.try_emplace(p.image.manifest.digest, entries.size());
      if (added) {
        Json layers = Json::array();
        for (const Descriptor& l : p.manifest.layers) layers.push_back(blob_path(l.digest));
        entries.push_back({{"Config", blob_path(p.manifest.config.digest)},
                           {"RepoTags", Json::array()},
                           {"Layers", std::move(layers)}});
      }
      if (!e.ref.tag.empty() && e.images.size() == 1) {
        entries[it->second]["RepoTags"].push_back(e.ref.name() + ":" + e.ref.tag);
      }
    }
  }
  return core::dump_json(entries);
}

Result<void> write_blob(core::TarWriter& tar, const BlobStore& store, const std::string& digest,
                        const PlannedBlob& blob, int64_t mtime) {
  core::TarEntry entry{.path = blob_path(digest), .size = blob.size, .mode = 0644, .mtime = mtime};
  if (blob.data) return tar.add_file(std::move(entry), *blob.data);
  BlobReader reader = K3A_TRY(store.open_blob(digest));
  if (reader.size() != blob.size) {
    return core::failf(Errc::kIntegrity, "blob {}: {} bytes in the store, expected {}", digest,
                       reader.size(), blob.size);
  }
  HashingSource hashed(reader);
  K3A_CHECK(tar.add_from(std::move(entry), hashed));
  if (std::string actual = hashed.digest(); actual != digest) {
    return core::failf(Errc::kIntegrity, "blob {}: stored content has digest {}", digest, actual);
  }
  return {};
}

}  // namespace

Result<void> write_oci_archive(const std::vector<ArchiveImage>& images, BlobStore& store,
                               core::ByteSink& out, int64_t mtime) {
  ArchivePlan plan = K3A_TRY(plan_archive(images, store));
  auto tar = K3A_TRY(core::TarWriter::create(out));
  auto file = [&](std::string_view path, std::string_view data) {
    return tar->add_file({.path = std::string(path), .mode = 0644, .mtime = mtime}, data);
  };
  auto dir = [&](std::string_view path) {
    return tar->begin({.path = std::string(path),
                       .type = core::TarType::kDirectory,
                       .mode = 0755,
                       .mtime = mtime});
  };
  K3A_CHECK(file(kLayoutFile, kLayoutJson));
  K3A_CHECK(file(kIndexFile, index_json(plan)));
  K3A_CHECK(file(kDockerManifestFile, docker_manifest_json(plan)));
  K3A_CHECK(dir(kBlobsDir));
  K3A_CHECK(dir(kBlobsSha256Dir));
  for (const auto& [digest, blob] : plan.blobs) {
    K3A_CHECK(write_blob(*tar, store, digest, blob, mtime));
  }
  return tar->finish();
}

}  // namespace images
