// Images pulled from registries at bundle time.
#include "bundler/planner.h"

namespace bundler {

core::Result<void> pull_images(const BundleSpec& spec, const PlanOptions&, images::BlobStore&,
                               std::vector<images::ArchiveImage>&) {
  if (spec.images.empty()) return {};
  return core::fail(core::Errc::kUnsupported,
                    "pulling images from registries is not available in this build; "
                    "use imageArchives");
}

}  // namespace bundler
