// The bundle spec (`bundle.yaml`) a user writes, and the lock (`bundle.lock.json`) that pins it.
//
// The spec names what goes in (k3s version or channel, artifacts by local path or by URL with
// sha256, images by reference, local image archives, a manifests directory) and where to pull
// from (a registries.yaml-shaped block). The lock records what those names resolved to (the
// k3s version, every artifact's sha256 and size, every image's digests per platform, the
// creation time and compression level), so that `bundle create --from-lock` rebuilds the same
// bundle. Plain values; parsing is strict and errors name the field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/serde/json.h"

namespace bundler {

struct ArtifactSpec {
  std::string name;    // file name under bin/ in the bundle
  std::string path;    // local file (resolved against the spec's directory), or
  std::string url;     // a URL together with
  std::string sha256;  // its expected sha256
  uint32_t mode = 0755;
};

struct BundleSpec {
  std::string dir;  // directory of the spec file; relative paths resolve against it
  std::string name;
  uint64_t sequence = 0;
  std::optional<std::string> expires;
  std::string k3s_version;
  std::string k3s_channel;
  std::string channel_url = "https://update.k3s.io/v1-release/channels";
  std::vector<std::string> arch;
  std::vector<ArtifactSpec> artifacts;
  std::vector<std::string> images;          // references as written; default_images() if absent
  std::vector<std::string> image_archives;  // local OCI-layout archives (resolved paths)
  std::string manifests_dir;                // resolved path, empty when none
  std::string registries_yaml;              // the registries block re-serialised as JSON, or ""
  int zstd_level = 3;
};

core::Result<BundleSpec> parse_spec(std::string_view yaml, const std::string& spec_dir);

// manifests/images.txt as embedded at build time: the images the packaged manifests reference
// and the pause image.
extern const std::string_view kDefaultImagesTxt;
// Its references, comments and blank lines left out.
std::vector<std::string> default_images();
core::Result<BundleSpec> load_spec(const std::string& path);

struct LockedArtifact {
  std::string name;
  std::string sha256;
  uint64_t size = 0;
};

struct LockedImage {
  std::string reference;                         // fully qualified, as carried in the bundle
  std::string digest;                            // top digest (index or manifest)
  std::map<std::string, std::string> platforms;  // "linux/amd64" → manifest digest
};

struct BundleLock {
  int64_t created = 0;  // seconds since the epoch; every entry's mtime and bundle.json "created"
  std::string k3s_version;
  int zstd_level = 3;
  std::vector<LockedArtifact> artifacts;  // sorted by name
  std::vector<LockedImage> images;        // sorted by reference

  const LockedArtifact* artifact(std::string_view name) const;
  const LockedImage* image(std::string_view reference) const;
};

core::Result<BundleLock> parse_lock(std::string_view json);
std::string serialize_lock(const BundleLock& lock);

}  // namespace bundler
