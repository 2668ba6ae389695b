// Images pulled from registries at bundle time, through the spec's registries block (or the
// --registries file), by the lock's digests when rebuilding.
#include <set>

#include "bundler/planner.h"
#include "core/base/log.h"
#include "images/registries.h"
#include "images/registry_client.h"

namespace bundler {
namespace {

core::Result<images::RegistryConfig> registry_config(const BundleSpec& spec,
                                                     const PlanOptions& options) {
  if (!options.registries_file.empty())
    return images::RegistryConfig::load(options.registries_file);
  if (spec.registries_yaml.empty()) return images::RegistryConfig{};
  auto config = images::RegistryConfig::parse_yaml(spec.registries_yaml);
  if (!config) return std::unexpected(std::move(config.error()).context("bundle spec: registries"));
  return config;
}

}  // namespace

core::Result<void> pull_images(const BundleSpec& spec, const PlanOptions& options,
                               images::BlobStore& store, std::vector<images::ArchiveImage>& out) {
  if (spec.images.empty()) return {};
  images::RegistryClient client(K3A_TRY(registry_config(spec, options)));
  images::PullOptions pull;
  for (const auto& arch : spec.arch)
    pull.platforms.push_back(K3A_TRY(images::Platform::parse("linux/" + arch)));
  std::set<std::string> held;  // given by the spec's image archives: not pulled
  for (const auto& image : out) held.insert(image.ref.str());
  for (const auto& name : spec.images) {
    images::Reference ref = K3A_TRY(images::Reference::parse(name)).with_default_tag();
    if (held.count(ref.str())) continue;
    pull.pinned_digest.reset();
    if (options.from_lock) {
      const LockedImage* locked = options.lock->image(ref.str());
      if (!locked) {
        return core::failf(core::Errc::kInvalid,
                           "image {} is not in the lock; run without --from-lock", ref.str());
      }
      pull.pinned_digest = locked->digest;
    }
    core::Progress progress("pulling " + ref.familiar(), 0, options.progress);
    pull.on_bytes = [&](uint64_t n) { progress.advance(n); };
    auto pulled = client.pull(ref, store, pull);
    if (!pulled) return std::unexpected(std::move(pulled.error()));
    progress.finish();
    core::log::debug("pulled {} ({} platform(s))", ref.str(), pulled->size());
    for (auto& image : *pulled) out.push_back(std::move(image));
  }
  return {};
}

}  // namespace bundler
