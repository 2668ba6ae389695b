// Images: taken from local OCI archives (and pulled from registries), pinned by digest in the
// lock, and written as one OCI-layout archive per architecture.
#include <fcntl.h>

#include <algorithm>
#include <map>
#include <set>

#include "bundler/planner.h"
#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/hashing_stream.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "images/blob_store.h"
#include "images/oci_archive.h"
#include "images/platform.h"

namespace bundler {
namespace {

using core::Errc;

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
    auto key =
        std::make_pair(image.ref.str(),
                       image.manifest.platform ? image.manifest.platform->normalized().str() : "");
    auto [it, inserted] = seen.emplace(key, image.manifest.digest);
    if (inserted) {
      unique.push_back(std::move(image));
    } else if (it->second != image.manifest.digest) {
      return core::failf(Errc::kConflict,
                         "image {} ({}) comes from two sources with different manifests", key.first,
                         key.second);
    }
  }
  all = std::move(unique);
  return {};
}

LockedImage lock_entry(const std::string& ref, const ImageSet& set) {
  LockedImage locked{ref, "", {}};
  for (const auto& image : set) {
    if (image.ref.str() != ref) continue;
    std::string platform =
        image.manifest.platform ? image.manifest.platform->normalized().str() : "";
    locked.platforms[platform] = image.manifest.digest;
    locked.digest = image.index_digest.value_or(image.manifest.digest);
  }
  return locked;
}

core::Result<void> check_against_lock(const LockedImage& got, const PlanOptions& options) {
  if (!options.from_lock) return {};
  const LockedImage* pinned = options.lock->image(got.reference);
  if (!pinned) {
    return core::failf(Errc::kInvalid, "image {} is not in the lock; run without --from-lock",
                       got.reference);
  }
  if (pinned->digest != got.digest || pinned->platforms != got.platforms) {
    return core::failf(Errc::kIntegrity, "image {} resolved to {}, the lock pins {}", got.reference,
                       got.digest, pinned->digest);
  }
  return {};
}

core::Result<PlannedFile> write_arch_archive(const std::string& arch, const ImageSet& all,
                                             images::BlobStore& store, int64_t mtime) {
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
  f.generate = [selected, &store, mtime](core::ByteSink& out) -> core::Result<void> {
    core::BufferedSink buffered(out);
    K3A_CHECK(images::write_oci_archive(selected, store, buffered, mtime));
    return buffered.flush();
  };
  core::HashingSink sink;  // the digest for bundle.json; the bytes are generated again later
  K3A_CHECK(f.generate(sink));
  f.record = {.path = "images/k3s-airgap-images-" + arch + ".tar",
              .size = sink.size(),
              .sha256 = sink.finish_hex(),
              .mode = 0644,
              .role = FileRole::kImages,
              .arch = arch};
  return f;
}

}  // namespace

core::Result<void> plan_images(const BundleSpec& spec, const PlanOptions& options, Plan& plan) {
  if (spec.images.empty() && spec.image_archives.empty()) return {};
  plan.blob_store = std::make_shared<images::BlobStore>(
      K3A_TRY(images::BlobStore::open(core::join_path(options.cache_dir, "oci"))));
  images::BlobStore& store = *plan.blob_store;
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
    plan.files.push_back(K3A_TRY(write_arch_archive(arch, all, store, plan.lock.created)));
  }
  PlannedFile txt;
  txt.content = list;
  txt.record = {.path = "images/k3s-images.txt",
                .size = list.size(),
                .sha256 = core::Sha256::hex_of(list),
                .mode = 0644,
                .role = FileRole::kImageList};
  plan.files.push_back(std::move(txt));
  return {};
}

}  // namespace bundler
