#include "images/builder.h"

#include <time.h>

#include <nlohmann/json.hpp>

#include "core/serde/json.h"
#include "images/layer.h"

namespace images {
namespace {

using core::Errc;
using core::Json;
using core::Result;

constexpr std::string_view kCreatedBy = "k3s-airgap images build";

Result<void> check_spec(const BuildSpec& spec) {
  if (spec.platform.os.empty() || spec.platform.architecture.empty()) {
    return core::failf(Errc::kInvalid, "build {}: platform needs an os and an architecture",
                       spec.rootfs_dir);
  }
  if (spec.created < 0) {
    return core::failf(Errc::kInvalid, "build {}: negative created time", spec.rootfs_dir);
  }
  for (const auto& e : spec.env) {
    if (e.find('=') == std::string::npos || e.front() == '=') {
      return core::failf(Errc::kInvalid, "build {}: env entry \"{}\" is not KEY=value",
                         spec.rootfs_dir, e);
    }
  }
  return {};
}

Json container_config(const BuildSpec& spec) {
  Json c = Json::object();
  if (!spec.entrypoint.empty()) c["Entrypoint"] = spec.entrypoint;
  if (!spec.cmd.empty()) c["Cmd"] = spec.cmd;
  if (!spec.env.empty()) c["Env"] = spec.env;
  if (!spec.workdir.empty()) c["WorkingDir"] = spec.workdir;
  if (!spec.user.empty()) c["User"] = spec.user;
  if (!spec.labels.empty()) c["Labels"] = spec.labels;
  return c;
}

std::string config_json(const BuildSpec& spec, const std::string& diff_id) {
  std::string created = rfc3339_utc(spec.created);
  Json j = Json::object();
  j["architecture"] = spec.platform.architecture;
  j["os"] = spec.platform.os;
  if (!spec.platform.variant.empty()) j["variant"] = spec.platform.variant;
  j["created"] = created;
  j["config"] = container_config(spec);
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", Json::array({diff_id})}};
  j["history"] = Json::array({{{"created", created}, {"created_by", kCreatedBy}}});
  return core::dump_json(j);
}

Result<Descriptor> store_document(std::string_view media_type, const std::string& json,
                                  BlobStore& store) {
  Descriptor d = describe(media_type, json);
  std::string digest = K3A_TRY(store.put(json));
  if (digest != d.digest) return core::fail(Errc::kInternal, "blob store returned another digest");
  return d;
}

}  // namespace

std::string rfc3339_utc(int64_t seconds) {
  time_t t = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<Descriptor> build_image(const BuildSpec& spec, BlobStore& store) {
  K3A_CHECK(check_spec(spec));
  LayerInfo layer = K3A_TRY(write_layer_from_dir(spec.rootfs_dir, spec.created, store));
  Manifest manifest;
  manifest.media_type = kOciManifest;
  manifest.config = K3A_TRY(store_document(kOciConfig, config_json(spec, layer.diff_id), store));
  manifest.layers.push_back(layer.descriptor);
  Descriptor d = K3A_TRY(store_document(kOciManifest, to_json(manifest), store));
  d.platform = spec.platform;
  return d;
}

Result<Descriptor> build_index(const std::vector<Descriptor>& platform_manifests,
                               BlobStore& store) {
  if (platform_manifests.empty()) {
    return core::fail(Errc::kInvalid, "index: needs at least one manifest");
  }
  Index index;
  index.media_type = kOciIndex;
  std::vector<Platform> seen;
  for (const Descriptor& d : platform_manifests) {
    K3A_CHECK(validate_descriptor(d, "index entry " + d.digest));
    if (!is_manifest_type(d.media_type) || !d.platform) {
      return core::failf(Errc::kInvalid, "index entry {}: not a manifest with a platform",
                         d.digest);
    }
    for (const Platform& p : seen) {
      if (p.matches(*d.platform)) {
        return core::failf(Errc::kInvalid, "index entry {}: platform {} appears twice", d.digest,
                           d.platform->str());
      }
    }
    seen.push_back(*d.platform);
    if (!store.has(d.digest)) {
      return core::failf(Errc::kNotFound, "index entry {}: manifest not in the store", d.digest);
    }
    index.manifests.push_back(d);
  }
  return store_document(kOciIndex, to_json(index), store);
}

}  // namespace images
