// Artifacts (files under bin/) and the k3s version: local files hashed in place, URLs fetched
// into the content-addressed cache and checked against their sha256, channels resolved
// through the channel server's redirect.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "bundler/planner.h"
#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/atomic_file.h"
#include "core/fs/files.h"
#include "core/http/client.h"

namespace bundler {
namespace {

using core::Errc;

// Fetches url into <cache>/artifacts/<sha256> unless it is already there.
core::Result<std::string> fetch_artifact(const ArtifactSpec& art, const std::string& sha256,
                                         const PlanOptions& options) {
  std::string dir = core::join_path(options.cache_dir, "artifacts");
  std::string path = core::join_path(dir, sha256);
  if (core::path_exists(path) && K3A_TRY(core::sha256_file(path)) == sha256) return path;
  K3A_CHECK(core::make_dirs(dir, 0755));
  core::log::info("downloading {} from {}", art.name, art.url);
  core::AtomicFile file = K3A_TRY(core::AtomicFile::create(path, 0644));
  core::http::Client client;
  core::Progress progress("downloading " + art.name, 0, options.progress);
  core::http::DownloadOptions dl;
  dl.expected_sha256 = sha256;
  dl.on_bytes = [&](uint64_t n) { progress.advance(n); };
  auto resp = client.download({.url = art.url}, file, dl);
  if (!resp) return std::unexpected(std::move(resp.error()).context("artifact " + art.name));
  if (resp->status / 100 != 2) {
    return core::failf(Errc::kUnavailable, "artifact {}: {} answered HTTP {}", art.name, art.url,
                       resp->status);
  }
  progress.finish();
  K3A_CHECK(file.commit());
  return path;
}

// A local file carried as bin/<name>, hashed in place.
core::Result<PlannedFile> plan_local_file(const std::string& name, const std::string& path,
                                          uint32_t mode) {
  PlannedFile f;
  f.source_path = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return core::failf(Errc::kNotFound, "artifact {}: {}: {}", name, path, std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return core::failf(Errc::kInvalid, "artifact {}: {} is not a regular file", name, path);
  }
  f.record = {.path = "bin/" + name,
              .size = static_cast<uint64_t>(st.st_size),
              .sha256 = K3A_TRY(core::sha256_file(path)),
              .mode = mode,
              .role = FileRole::kArtifact,
              .name = name};
  return f;
}

core::Result<PlannedFile> plan_artifact(const ArtifactSpec& art, const PlanOptions& options) {
  const LockedArtifact* locked = options.lock ? options.lock->artifact(art.name) : nullptr;
  if (options.from_lock && !locked) {
    return core::failf(Errc::kInvalid, "artifact {} is not in the lock; run without --from-lock",
                       art.name);
  }
  std::string expected = art.sha256;
  if (options.from_lock) expected = locked->sha256;
  std::string source = art.url.empty() ? art.path : K3A_TRY(fetch_artifact(art, expected, options));
  PlannedFile f = K3A_TRY(plan_local_file(art.name, source, art.mode));
  if (!expected.empty() && f.record.sha256 != expected) {
    return core::failf(Errc::kIntegrity, "artifact {}: sha256 {} does not match the expected {}{}",
                       art.name, f.record.sha256, expected,
                       options.from_lock ? " (from the lock)" : "");
  }
  return f;
}

}  // namespace

core::Result<void> plan_artifacts(const BundleSpec& spec, const PlanOptions& options, Plan& plan) {
  for (const auto& art : spec.artifacts) {
    PlannedFile f = K3A_TRY(plan_artifact(art, options));
    plan.lock.artifacts.push_back({art.name, f.record.sha256, f.record.size});
    plan.files.push_back(std::move(f));
  }
  return {};
}

core::Result<void> plan_installer(const BundleSpec& spec, const PlanOptions& options, Plan& plan) {
  if (!options.installer_script.empty()) {
    PlannedFile f;
    f.record = {.path = "install.sh",
                .size = options.installer_script.size(),
                .sha256 = core::Sha256::hex_of(options.installer_script),
                .mode = 0755,
                .role = FileRole::kInstaller};
    f.content = options.installer_script;
    plan.files.push_back(std::move(f));
  }
  bool listed = std::any_of(spec.artifacts.begin(), spec.artifacts.end(),
                            [](const ArtifactSpec& a) { return a.name == "k3s-airgap"; });
  if (!options.self_binary.empty() && !listed) {
    plan.files.push_back(K3A_TRY(plan_local_file("k3s-airgap", options.self_binary, 0755)));
  }
  return {};
}

core::Result<std::string> resolve_k3s_version(const BundleSpec& spec, const PlanOptions& options) {
  if (options.from_lock) return options.lock->k3s_version;
  if (!spec.k3s_version.empty()) return spec.k3s_version;
  // The channel server answers /<channel> with a redirect to .../releases/tag/<version>.
  core::http::Client client(core::http::ClientOptions{.max_redirects = 0});
  std::string url = spec.channel_url + "/" + spec.k3s_channel;
  auto resp = client.send({.url = url});
  if (!resp)
    return std::unexpected(std::move(resp.error()).context("k3s channel " + spec.k3s_channel));
  auto location = resp->header("Location");
  if (resp->status / 100 != 3 || !location) {
    return core::failf(Errc::kUnavailable, "k3s channel {}: {} answered HTTP {} without a redirect",
                       spec.k3s_channel, url, resp->status);
  }
  std::string version = core::base_name(*location);
  if (version.empty() || version[0] != 'v') {
    return core::failf(Errc::kInvalid, "k3s channel {}: cannot read a version from {}",
                       spec.k3s_channel, core::quote(*location));
  }
  core::log::info("k3s channel {} is {}", spec.k3s_channel, version);
  return version;
}

}  // namespace bundler
