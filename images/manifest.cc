// Media type predicates, descriptor validation and canonical serialisation. The parsers live
// in manifest_parse.cc.
#include "images/manifest.h"

#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/serde/json.h"
#include "images/reference.h"

namespace images {

using core::Errc;
using core::Json;
using core::Result;

bool is_index_type(std::string_view t) { return t == kOciIndex || t == kDockerManifestList; }

bool is_manifest_type(std::string_view t) { return t == kOciManifest || t == kDockerManifest; }

bool is_config_type(std::string_view t) { return t == kOciConfig || t == kDockerConfig; }

bool is_layer_type(std::string_view t) {
  return t == kOciLayer || t == kOciLayerGzip || t == kOciLayerZstd || t == kDockerLayerGzip;
}

bool is_foreign_layer_type(std::string_view t) {
  return t == kOciForeignLayer || t == kOciForeignLayerGzip || t == kOciForeignLayerZstd ||
         t == kDockerForeignLayerGzip;
}

Result<void> validate_descriptor(const Descriptor& d, std::string_view where) {
  if (d.media_type.empty()) return core::failf(Errc::kInvalid, "{}: no mediaType", where);
  if (!is_valid_digest(d.digest)) {
    return core::failf(Errc::kInvalid, "{}: invalid digest \"{}\"", where, core::quote(d.digest));
  }
  if (d.size < 0) return core::failf(Errc::kInvalid, "{}: negative size {}", where, d.size);
  if (!d.urls.empty()) {
    return core::failf(Errc::kInvalid, "{}: foreign layer URLs are not allowed offline ({})", where,
                       d.digest);
  }
  if (is_foreign_layer_type(d.media_type)) {
    return core::failf(Errc::kInvalid, "{}: foreign layer {} ({}) is not allowed offline", where,
                       d.digest, d.media_type);
  }
  return {};
}

namespace {

Json descriptor_json(const Descriptor& d) {
  Json j = Json::object();
  j["mediaType"] = d.media_type;
  j["digest"] = d.digest;
  j["size"] = d.size;
  if (d.platform) {
    Json p = {{"os", d.platform->os}, {"architecture", d.platform->architecture}};
    if (!d.platform->variant.empty()) p["variant"] = d.platform->variant;
    j["platform"] = std::move(p);
  }
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (!d.urls.empty()) j["urls"] = d.urls;
  return j;
}

}  // namespace

std::string to_json(const Manifest& m) {
  Json j = Json::object();
  j["schemaVersion"] = 2;
  if (!m.media_type.empty()) j["mediaType"] = m.media_type;
  j["config"] = descriptor_json(m.config);
  j["layers"] = Json::array();
  for (const auto& layer : m.layers) j["layers"].push_back(descriptor_json(layer));
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  return core::dump_json(j);
}

std::string to_json(const Index& index) {
  Json j = Json::object();
  j["schemaVersion"] = 2;
  if (!index.media_type.empty()) j["mediaType"] = index.media_type;
  j["manifests"] = Json::array();
  for (const auto& d : index.manifests) j["manifests"].push_back(descriptor_json(d));
  if (!index.annotations.empty()) j["annotations"] = index.annotations;
  return core::dump_json(j);
}

Descriptor describe(std::string_view media_type, std::string_view bytes) {
  Descriptor d;
  d.media_type = media_type;
  d.digest = sha256_digest(core::Sha256::hex_of(bytes));
  d.size = static_cast<int64_t>(bytes.size());
  return d;
}

}  // namespace images
