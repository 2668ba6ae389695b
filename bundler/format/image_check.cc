#include "bundler/format/image_check.h"

#include <set>

#include "core/base/strings.h"
#include "images/oci_archive.h"
#include "images/platform.h"

namespace bundler {
namespace {

using Pinned = std::set<std::pair<std::string, std::string>>;  // (reference, manifest digest)

// What bundle.json pins for one architecture.
Pinned pinned_for(const BundleManifest& manifest, const std::string& arch) {
  Pinned out;
  for (const auto& image : manifest.images) {
    for (const auto& [platform, digest] : image.platforms) {
      auto p = images::Platform::parse(platform);
      if (p && p->normalized().architecture == arch) out.insert({image.reference, digest});
    }
  }
  return out;
}

}  // namespace

core::Result<size_t> check_image_archive(core::ByteSource& in, const BundleManifest& manifest,
                                         const FileRecord& file) {
  images::ReadLimits limits;
  limits.max_total_size = file.size;
  auto contents = images::read_oci_archive(in, nullptr, limits);
  if (!contents) return std::unexpected(std::move(contents.error()).context(file.path));
  Pinned found;
  for (const auto& image : contents->images) found.insert({image.ref.str(), image.manifest.digest});
  Pinned pinned = pinned_for(manifest, file.arch);
  for (const auto& [ref, digest] : pinned) {
    if (!found.count({ref, digest})) {
      return core::failf(core::Errc::kIntegrity,
                         "{}: image {} ({}) pinned by bundle.json is missing",
                         core::quote(file.path), ref, digest);
    }
  }
  for (const auto& [ref, digest] : found) {
    if (!pinned.count({ref, digest})) {
      return core::failf(core::Errc::kIntegrity,
                         "{}: holds image {} ({}) that bundle.json does not pin",
                         core::quote(file.path), ref, digest);
    }
  }
  return contents->blob_count;
}

}  // namespace bundler
