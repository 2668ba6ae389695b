// The planner turns a spec (and, for a rebuild, its lock) into everything the writer needs:
// bundle.json's content and the list of files with their sha256 already computed. It resolves
// what the spec leaves open (a k3s channel to a version, image tags to digests), fetches what
// is remote (artifacts by URL, images from registries, verifying every digest) into the cache,
// describes one OCI-layout image archive per architecture (generated again when written), and
// records the result in
// a new lock. With from_lock, nothing is resolved: every artifact and image must match the
// lock's digests exactly. Single-threaded.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bundler/spec.h"
#include "bundler/writer.h"
#include "core/base/progress.h"
#include "images/blob_store.h"
#include "images/oci_archive.h"

namespace bundler {

struct PlanOptions {
  const BundleLock* lock = nullptr;  // required with from_lock
  bool from_lock = false;
  std::optional<int64_t> source_date_epoch;
  int64_t now = 0;
  std::string cache_dir;        // downloaded artifacts and pulled blobs, content-addressed
  std::string registries_file;  // --registries: overrides the spec's registries block
  // Carried in every bundle so that `tar -xf B && ./install.sh` works: the install.sh text,
  // and the k3s-airgap binary (unless the spec lists an artifact named k3s-airgap). Not locked:
  // a rebuilt k3s-airgap changes the bundle, which --check-reproducible reports.
  std::string installer_script;
  std::string self_binary;
  core::Progress::Output progress = core::Progress::Output::kAuto;
};

struct Plan {
  BundleManifest manifest;
  std::vector<PlannedFile> files;  // generators may refer to blob_store
  BundleLock lock;
  // Shared so that the plan's generators stay valid when the Plan is moved.
  std::shared_ptr<images::BlobStore> blob_store;
};

// Errors name the artifact, image or file at fault: kNotFound (missing file), kIntegrity
// (sha256 or digest mismatch, including against the lock), kUnavailable (registry or URL).
core::Result<Plan> plan_bundle(const BundleSpec& spec, const PlanOptions& options);

// Parts of the plan, one file each.
core::Result<void> plan_artifacts(const BundleSpec& spec, const PlanOptions& options, Plan& plan);
core::Result<void> plan_images(const BundleSpec& spec, const PlanOptions& options, Plan& plan);
core::Result<void> plan_manifests(const BundleSpec& spec, Plan& plan);
core::Result<void> plan_installer(const BundleSpec& spec, const PlanOptions& options, Plan& plan);
// Pulls spec.images for every architecture of the spec into store (by the lock's digests with
// from_lock) and appends one entry per platform manifest.
core::Result<void> pull_images(const BundleSpec& spec, const PlanOptions& options,
                               images::BlobStore& store, std::vector<images::ArchiveImage>& out);
core::Result<std::string> resolve_k3s_version(const BundleSpec& spec, const PlanOptions& options);

}  // namespace bundler
