#include "images/oci_archive_plan.h"

#include <algorithm>
#include <set>

#include "core/base/strings.h"

namespace images {
namespace {

using core::Errc;
using core::Result;

Result<void> check_image(const ArchiveImage& img) {
  std::string name = img.ref.str();
  if (img.ref.tag.empty() && img.ref.digest.empty()) {
    return core::failf(Errc::kInvalid, "image {}: reference has neither tag nor digest", name);
  }
  K3A_CHECK(validate_descriptor(img.manifest, "image " + name + ": manifest"));
  if (!is_manifest_type(img.manifest.media_type)) {
    return core::failf(Errc::kInvalid, "image {}: {} is not a single-platform manifest", name,
                       img.manifest.media_type);
  }
  if (img.index_digest) K3A_CHECK(check_digest(*img.index_digest, "image " + name + ": index"));
  if (!img.ref.digest.empty() && img.ref.digest != img.manifest.digest &&
      img.ref.digest != img.index_digest.value_or("")) {
    return core::failf(Errc::kInvalid, "image {}: reference digest is not the manifest's {}", name,
                       img.manifest.digest);
  }
  return {};
}

Result<void> check_stored_size(const BlobStore& store, const Descriptor& d, std::string_view what) {
  uint64_t size = K3A_TRY(store.size(d.digest));
  if (size != static_cast<uint64_t>(d.size)) {
    return core::failf(Errc::kIntegrity, "{} {}: {} bytes in the store, descriptor says {}", what,
                       d.digest, size, d.size);
  }
  return {};
}

Result<PlannedImage> plan_image(const ArchiveImage& img, const BlobStore& store) {
  K3A_CHECK(check_image(img));
  K3A_CHECK(check_stored_size(store, img.manifest, "manifest"));
  std::string bytes = K3A_TRY(store.read(img.manifest.digest, kMaxJsonSize));
  auto manifest = parse_manifest(bytes);
  if (!manifest) {
    return std::unexpected(std::move(manifest.error()).context("blob " + img.manifest.digest));
  }
  if (!manifest->media_type.empty() && manifest->media_type != img.manifest.media_type) {
    return core::failf(Errc::kInvalid, "manifest {}: media type {} but descriptor says {}",
                       img.manifest.digest, manifest->media_type, img.manifest.media_type);
  }
  K3A_CHECK(check_stored_size(store, manifest->config, "config"));
  for (const Descriptor& layer : manifest->layers) {
    K3A_CHECK(check_stored_size(store, layer, "layer"));
  }
  return PlannedImage{img, std::move(*manifest)};
}

std::string platform_key(const PlannedImage& p) {
  return p.image.manifest.platform ? p.image.manifest.platform->normalized().str() : "";
}

// Several manifests under one reference: they need distinct platforms and one pinned index.
Result<void> check_group(const std::vector<PlannedImage>& group, const std::string& name) {
  std::set<std::string> digests;
  for (size_t i = 0; i < group.size(); ++i) {
    const ArchiveImage& img = group[i].image;
    if (!digests.insert(img.manifest.digest).second) {
      return core::failf(Errc::kInvalid, "archive: image {} listed twice", name);
    }
    if (group.size() == 1) break;
    if (!img.manifest.platform) {
      return core::failf(Errc::kInvalid, "image {}: manifest {} has no platform", name,
                         img.manifest.digest);
    }
    if (img.index_digest != group[0].image.index_digest) {
      return core::failf(Errc::kInvalid, "image {}: manifests pinned by different indexes", name);
    }
    if (i > 0 && platform_key(group[i]) == platform_key(group[i - 1])) {
      return core::failf(Errc::kInvalid, "image {}: platform {} appears twice", name,
                         platform_key(group[i]));
    }
  }
  return {};
}

Result<PlannedEntry> plan_entry(std::vector<PlannedImage> group) {
  std::sort(group.begin(), group.end(), [](const PlannedImage& a, const PlannedImage& b) {
    return std::pair(platform_key(a), a.image.manifest.digest) <
           std::pair(platform_key(b), b.image.manifest.digest);
  });
  PlannedEntry entry{group[0].image.ref, group[0].image.index_digest, {}, {}, {}};
  K3A_CHECK(check_group(group, entry.ref.str()));
  if (group.size() == 1) {
    entry.target = group[0].image.manifest;
  } else {
    Index index;
    index.media_type = kOciIndex;
    for (const PlannedImage& p : group) {
      index.manifests.push_back(p.image.manifest);
      strip_archive_annotations(index.manifests.back());
    }
    entry.index_json = to_json(index);
    entry.target = describe(kOciIndex, *entry.index_json);
  }
  entry.images = std::move(group);
  return entry;
}

void add_blobs(const PlannedEntry& entry, ArchivePlan& plan) {
  auto add = [&](const Descriptor& d) {
    plan.blobs[d.digest].size = static_cast<uint64_t>(d.size);
  };
  if (entry.index_json) {
    add(entry.target);
    plan.blobs[entry.target.digest].data = entry.index_json;
  }
  for (const PlannedImage& p : entry.images) {
    add(p.image.manifest);
    add(p.manifest.config);
    for (const Descriptor& layer : p.manifest.layers) add(layer);
  }
}

}  // namespace

void strip_archive_annotations(Descriptor& d) {
  for (std::string_view key : {kAnnotationImageName, kAnnotationRefName, kAnnotationIndexDigest}) {
    d.annotations.erase(std::string(key));
  }
}

Result<ArchivePlan> plan_archive(const std::vector<ArchiveImage>& images, const BlobStore& store) {
  if (images.empty()) return core::fail(Errc::kInvalid, "archive: no images");
  std::map<std::string, std::vector<PlannedImage>> by_ref;
  for (const ArchiveImage& img : images) {
    by_ref[img.ref.str()].push_back(K3A_TRY(plan_image(img, store)));
  }
  ArchivePlan plan;
  for (auto& [name, group] : by_ref) {
    plan.entries.push_back(K3A_TRY(plan_entry(std::move(group))));
    add_blobs(plan.entries.back(), plan);
  }
  return plan;
}

}  // namespace images
