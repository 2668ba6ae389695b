// Images: taken from local OCI archives (and pulled from registries), pinned by digest in the
// lock, and written as one OCI-layout archive per architecture.
#include <fcntl.h>

#include <algorithm>
#include <map>
#include <set>

#include "bundler/planner.h"
#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "images/blob_store.h"
#include "images/oci_archive.h"
#include "images/platform.h"

namespace bundler {
namespace {

using core::Errc;

class HashingFileSink : public core::ByteSink {
 public:
  explicit HashingFileSink(const core::Fd& fd) : fd_(fd) {}
  core::Result<void> write(std::string_view data) override {
    hash.update(data);
    size += data.size();
    return fd_.write_all(data);
  }
  core::Sha256 hash;
  uint64_t size = 0;

 private:
  const core::Fd& fd_;
};

// All carried images, one entry per (reference, platform manifest).
using ImageSet = std::vector<images::ArchiveImage>;

core::Result<void> add_archive(const std::string& path, images::BlobStore& store, ImageSet& out) {
  core::Fd fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
  core::FdSource src(fd);
  auto contents = images::read_oci_archive(src, &store);
  if (!contents) return std::unexpected(std::move(contents.error()).context(path));
  for (auto& image : contents->images) out.push_back(std::move(image));
  return {};
}

std::string arch_of(const images::ArchiveImage& image) {
  return image.manifest.platform ? image.manifest.platform->normalized().architecture : "";
}

// The same image may come from two sources; the same reference and platform with two different
// manifests is an error.
core::Result<void> dedupe(ImageSet& all) {
  std::map<std::pair<std::string, std::string>, std::string> seen;
  ImageSet unique;
  for (auto& image : all) {
    auto key = std::make_pair(image.ref.str(), image.manifest.platform ? image.manifest.platform->normalized().str() : "");
    auto [it, inserted] = seen.emplace(key, image.manifest.digest);
    if (inserted) {
      unique.push_back(std::move(image));
    } else if (it->second != image.manifest.digest) {
      return core::failf(Errc::kConflict, "image {} ({}) comes from two sources with different manifests",
                         key.first, key.second);
    }
  }
  all = std::move(unique);
  return {};
}

LockedImage lock_entry(const std::string& ref, const ImageSet& set) {
  LockedImage locked{ref, "", {}};
  for (const auto& image : set) {
    if (image.ref.str() != ref) continue;
    std::string platform = image.manifest.platform ? image.manifest.platform->normalized().str() : "";
    locked.platforms[platform] = image.manifest.digest;
    locked.digest = image.index_digest.value_or(image.manifest.digest);
  }
  return locked;
}

core::Result<void> check_against_lock(const LockedImage& got, const PlanOptions& options) {
  if (!options.from_lock) return {};
  const LockedImage* pinned = options.lock->image(got.reference);
  if (!pinned) {
    return core::failf(Errc::kInvalid, "image {} is not in the lock; run without --from-lock", got.reference);
  }
  if (pinned->digest != got.digest || pinned->platforms != got.platforms) {
    return core::failf(Errc::kIntegrity, "image {} resolved to {}, the lock pins {}", got.reference,
                       got.digest, pinned->digest);
  }
  return {};
}

core::Result<PlannedFile> write_arch_archive(const std::string& arch, const ImageSet& all,
                                             images::BlobStore& store, const PlanOptions& options,
                                             int64_t mtime) {
  ImageSet selected;
  std::set<std::string> refs;
  for (const auto& image : all) {
    refs.insert(image.ref.str());
    if (arch_of(image) == arch) selected.push_back(image);
  }
  for (const auto& ref : refs) {
    bool has = std::any_of(selected.begin(), selected.end(),
                           [&](const auto& i) { return i.ref.str() == ref; });
    if (!has) return core::failf(Errc::kNotFound, "image {} has no linux/{} manifest", ref, arch);
  }
  PlannedFile f;
  f.source_path = core::join_path(options.work_dir, "k3s-airgap-images-" + arch + ".tar");
  core::Fd fd = K3A_TRY(core::Fd::open(f.source_path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
  HashingFileSink sink(fd);
  K3A_CHECK(images::write_oci_archive(selected, store, sink, mtime));
  K3A_CHECK(fd.close());
  f.record = {.path = "images/k3s-airgap-images-" + arch + ".tar", .size = sink.size,
              .sha256 = sink.hash.finish_hex(), .mode = 0644, .role = FileRole::kImages,
              .arch = arch};
  return f;
}

}  // namespace

core::Result<void> plan_images(const BundleSpec& spec, const PlanOptions& options, Plan& plan) {
  if (spec.images.empty() && spec.image_archives.empty()) return {};
  images::BlobStore store = K3A_TRY(images::BlobStore::open(core::join_path(options.cache_dir, "oci")));
  ImageSet all;
  for (const auto& path : spec.image_archives) K3A_CHECK(add_archive(path, store, all));
  K3A_CHECK(pull_images(spec, options, store, all));
  K3A_CHECK(dedupe(all));
  std::set<std::string> refs;
  for (const auto& image : all) refs.insert(image.ref.str());
  std::string list;
  for (const auto& ref : refs) {
    LockedImage locked = lock_entry(ref, all);
    K3A_CHECK(check_against_lock(locked, options));
    plan.manifest.images.push_back({locked.reference, locked.digest, locked.platforms});
    plan.lock.images.push_back(std::move(locked));
    list += ref + "\n";
  }
  for (const auto& arch : spec.arch) {
    plan.files.push_back(K3A_TRY(write_arch_archive(arch, all, store, options, plan.lock.created)));
  }
  PlannedFile txt;
  txt.content = list;
  txt.record = {.path = "images/k3s-images.txt", .size = list.size(),
                .sha256 = core::Sha256::hex_of(list), .mode = 0644, .role = FileRole::kImageList};
  plan.files.push_back(std::move(txt));
  return {};
}

}  // namespace bundler
