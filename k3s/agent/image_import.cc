#include "k3s/agent/image_import.h"

#include <fcntl.h>

#include <map>
#include <memory>
#include <set>

#include "core/archive/decompress.h"
#include "core/archive/zstd.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/sha256.h"
#include "core/crypto/x509.h"
#include "core/fs/fd.h"
#include "core/fs/stream.h"
#include "images/blob_store.h"
#include "images/gzip.h"
#include "images/oci_archive.h"
#include "k3s/agent/proto/containerd.pb.h"

namespace k3s::agent {
namespace {

using core::Errc;
namespace pb = k3s::containerd;
constexpr char kContent[] = "/containerd.services.content.v1.Content/";
constexpr char kImages[] = "/containerd.services.images.v1.Images/";
constexpr char kLeases[] = "/containerd.services.leases.v1.Leases/";
constexpr char kSnapshots[] = "/containerd.services.snapshots.v1.Snapshots/";
constexpr char kDiff[] = "/containerd.services.diff.v1.Diff/";
constexpr char kSnapshotter[] = "overlayfs";
constexpr size_t kChunk = 1 << 20;

// Verifies the archive into `store`.
core::Result<images::ArchiveContents> verify(const std::string& archive, images::BlobStore& store) {
  int fd = ::open(archive.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return core::fail_errno(errno, archive);
  core::Fd file(fd);
  core::FdSource raw(file);
  std::string lower = core::to_lower(archive);
  std::unique_ptr<core::ByteSource> decoded;
  if (lower.ends_with(".tar.zst") || lower.ends_with(".tzst")) {
    decoded = K3A_TRY(core::ZstdSource::create(raw));
  } else if (lower.ends_with(".tar.gz") || lower.ends_with(".tgz")) {
    decoded = K3A_TRY(images::GzipSource::create(raw));
  } else if (lower.ends_with(".tar.lz4")) {
    decoded = K3A_TRY(core::decompressing_source(raw, core::Compression::kLz4));
  } else if (lower.ends_with(".tar.bz2") || lower.ends_with(".tbz")) {
    decoded = K3A_TRY(core::decompressing_source(raw, core::Compression::kBzip2));
  } else if (!lower.ends_with(".tar")) {
    return core::failf(Errc::kUnsupported,
                       "{}: not a .tar, .tar.zst, .tar.gz, .tar.lz4 or .tar.bz2 archive", archive);
  }
  auto contents = images::read_oci_archive(decoded ? *decoded : raw, &store);
  if (!contents) return std::unexpected(std::move(contents.error()).context(archive));
  return contents;
}

class Importer {
 public:
  Importer(core::grpc::Client& c, images::BlobStore& store, core::grpc::Metadata md)
      : c_(c), store_(store), md_(std::move(md)) {}

  // Writes a blob containerd lacks; `labels` go on its content record.
  core::Result<void> put_blob(const images::Descriptor& d,
                              const std::map<std::string, std::string>& labels,
                              ImportReport& report) {
    pb::InfoRequest info;
    info.set_digest(d.digest);
    if (c_.call(std::string(kContent) + "Info", info.SerializeAsString(), md_)) {
      report.blobs_present++;
      return {};
    }
    auto reader = K3A_TRY(store_.open_blob(d.digest));
    std::string ref = "k3s-import-" + d.digest;
    int64_t offset = 0;
    bool committed = false;
    auto next = [&]() -> core::Result<std::optional<std::string>> {
      if (committed) return std::optional<std::string>();
      pb::WriteContentRequest req;
      req.set_ref(ref);
      req.set_total(d.size);
      std::string chunk(kChunk, '\0');
      size_t got = offset < d.size ? K3A_TRY(reader.read(chunk.data(), chunk.size())) : 0;
      if (got > 0) {
        req.set_action(pb::WRITE);
        req.set_offset(offset);
        req.set_data(chunk.data(), got);
        offset += static_cast<int64_t>(got);
      } else {
        if (offset != d.size)
          return core::failf(Errc::kIntegrity, "{}: {} bytes staged, {} expected", d.digest, offset,
                             d.size);
        req.set_action(pb::COMMIT);
        req.set_offset(offset);
        req.set_expected(d.digest);
        for (const auto& [k, v] : labels) (*req.mutable_labels())[k] = v;
        committed = true;
      }
      return std::optional<std::string>(req.SerializeAsString());
    };
    (void)K3A_TRY(c_.stream(std::string(kContent) + "Write", next, md_));
    report.blobs_written++;
    report.bytes_written += static_cast<uint64_t>(d.size);
    return {};
  }

  // Unpacks the layers into snapshots named by their chain IDs (those present are kept), each
  // applied layer checked against the config's diff_id, and labels the config blob with the top
  // snapshot so garbage collection keeps the chain.
  core::Result<void> unpack(const images::Manifest& manifest, const images::ImageConfig& config,
                            ImportReport& report) {
    std::string chain;
    for (size_t i = 0; i < manifest.layers.size(); ++i) {
      std::string parent = chain;
      chain = i == 0 ? config.diff_ids[0]
                     : "sha256:" + core::Sha256::hex_of(chain + " " + config.diff_ids[i]);
      pb::StatSnapshotRequest stat;
      stat.set_snapshotter(kSnapshotter);
      stat.set_key(chain);
      if (c_.call(std::string(kSnapshots) + "Stat", stat.SerializeAsString(), md_)) continue;
      K3A_CHECK(apply_layer(manifest.layers[i], config.diff_ids[i], parent, chain));
      report.layers_unpacked++;
    }
    pb::UpdateRequest label;
    label.mutable_info()->set_digest(manifest.config.digest);
    std::string key = std::string("containerd.io/gc.ref.snapshot.") + kSnapshotter;
    (*label.mutable_info()->mutable_labels())[key] = chain;
    label.mutable_update_mask()->add_paths("labels." + key);
    (void)K3A_TRY(c_.call(std::string(kContent) + "Update", label.SerializeAsString(), md_));
    return {};
  }

  // Creates the image, or points an existing one at this target with the CRI's labels.
  core::Result<void> put_image(const std::string& name, const images::Descriptor& target) {
    pb::Image image;
    image.set_name(name);
    (*image.mutable_labels())["io.cri-containerd.image"] = "managed";
    (*image.mutable_labels())["io.cri-containerd.pinned"] = "pinned";
    pb::Descriptor* t = image.mutable_target();
    t->set_media_type(target.media_type);
    t->set_digest(target.digest);
    t->set_size(target.size);
    pb::CreateImageRequest create;
    *create.mutable_image() = image;
    auto made = c_.call(std::string(kImages) + "Create", create.SerializeAsString(), md_);
    if (made || made.error().code() != Errc::kAlreadyExists)
      return made ? core::Result<void>{} : std::unexpected(made.error());
    pb::UpdateImageRequest update;
    *update.mutable_image() = image;
    update.mutable_update_mask()->add_paths("target");
    update.mutable_update_mask()->add_paths("labels.io.cri-containerd.image");
    update.mutable_update_mask()->add_paths("labels.io.cri-containerd.pinned");
    (void)K3A_TRY(c_.call(std::string(kImages) + "Update", update.SerializeAsString(), md_));
    return {};
  }

 private:
  core::Result<void> apply_layer(const images::Descriptor& layer, const std::string& diff_id,
                                 const std::string& parent, const std::string& chain) {
    std::string key = "k3s-extract-" + core::random_hex(8) + "-" + chain;
    pb::PrepareSnapshotRequest prepare;
    prepare.set_snapshotter(kSnapshotter);
    prepare.set_key(key);
    prepare.set_parent(parent);
    (*prepare.mutable_labels())["containerd.io/snapshot.ref"] = chain;
    pb::PrepareSnapshotResponse prepared;
    prepared.ParseFromString(
        K3A_TRY(c_.call(std::string(kSnapshots) + "Prepare", prepare.SerializeAsString(), md_)));
    auto applied = [&]() -> core::Result<void> {
      pb::ApplyRequest apply;
      apply.mutable_diff()->set_media_type(layer.media_type);
      apply.mutable_diff()->set_digest(layer.digest);
      apply.mutable_diff()->set_size(layer.size);
      *apply.mutable_mounts() = prepared.mounts();
      pb::ApplyResponse done;
      done.ParseFromString(
          K3A_TRY(c_.call(std::string(kDiff) + "Apply", apply.SerializeAsString(), md_)));
      if (done.applied().digest() != diff_id)
        return core::failf(Errc::kIntegrity, "layer {}: unpacked to {}, the config says {}",
                           layer.digest, done.applied().digest(), diff_id);
      pb::CommitSnapshotRequest commit;
      commit.set_snapshotter(kSnapshotter);
      commit.set_name(chain);
      commit.set_key(key);
      (*commit.mutable_labels())["containerd.io/snapshot.ref"] = chain;
      auto committed = c_.call(std::string(kSnapshots) + "Commit", commit.SerializeAsString(), md_);
      if (!committed && committed.error().code() != Errc::kAlreadyExists)
        return std::unexpected(committed.error());
      return {};
    }();
    if (!applied) {
      pb::RemoveSnapshotRequest remove;
      remove.set_snapshotter(kSnapshotter);
      remove.set_key(key);
      (void)c_.call(std::string(kSnapshots) + "Remove", remove.SerializeAsString(), md_);
    }
    return applied;
  }

  core::grpc::Client& c_;
  images::BlobStore& store_;
  core::grpc::Metadata md_;
};

}  // namespace

core::Result<ImportReport> import_archive(core::grpc::Client& containerd,
                                          const std::string& archive,
                                          const std::string& staging_dir) {
  auto store = K3A_TRY(images::BlobStore::open(staging_dir));
  auto contents = K3A_TRY(verify(archive, store));
  // A lease keeps what is written from garbage collection until the images reference it.
  core::grpc::Metadata md = {{"containerd-namespace", "k8s.io"}};
  pb::CreateLeaseRequest lease;
  lease.set_id("k3s-import-" + core::random_hex(8));
  (*lease.mutable_labels())["containerd.io/gc.expire"] =
      core::format_rfc3339(core::system_now() + 3600);
  (void)K3A_TRY(containerd.call(std::string(kLeases) + "Create", lease.SerializeAsString(), md));
  core::grpc::Metadata leased = md;
  leased.emplace_back("containerd-lease", lease.id());
  Importer importer(containerd, store, leased);
  ImportReport report;
  std::set<std::string> done, unpacked;
  auto result = [&]() -> core::Result<void> {
    for (const auto& image : contents.images) {
      const images::Descriptor& m = image.manifest;
      if (!done.count(m.digest)) {
        auto manifest = K3A_TRY(images::parse_manifest(K3A_TRY(store.read(m.digest))));
        std::map<std::string, std::string> refs = {
            {"containerd.io/gc.ref.content.config", manifest.config.digest}};
        K3A_CHECK(importer.put_blob(manifest.config, {}, report));
        for (size_t i = 0; i < manifest.layers.size(); ++i) {
          refs["containerd.io/gc.ref.content.l." + std::to_string(i)] = manifest.layers[i].digest;
          K3A_CHECK(importer.put_blob(manifest.layers[i], {}, report));
        }
        K3A_CHECK(importer.put_blob(m, refs, report));
        done.insert(m.digest);
      }
      // One platform per name: the host's (amd64) when the archive carries several.
      bool host = !m.platform || m.platform->architecture == "amd64";
      std::string name = image.ref.str();
      if (host &&
          std::find(report.images.begin(), report.images.end(), name) == report.images.end()) {
        if (!unpacked.count(m.digest)) {
          auto manifest = K3A_TRY(images::parse_manifest(K3A_TRY(store.read(m.digest))));
          auto config =
              K3A_TRY(images::parse_image_config(K3A_TRY(store.read(manifest.config.digest))));
          K3A_CHECK(importer.unpack(manifest, config, report));
          unpacked.insert(m.digest);
        }
        K3A_CHECK(importer.put_image(name, m));
        report.images.push_back(name);
      }
    }
    return {};
  }();
  pb::DeleteLeaseRequest drop;
  drop.set_id(lease.id());
  (void)containerd.call(std::string(kLeases) + "Delete", drop.SerializeAsString(), md);
  if (!result) return std::unexpected(result.error());
  return report;
}

}  // namespace k3s::agent
