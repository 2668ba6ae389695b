// Strict parsers for manifests, indexes and image configs (rules in manifest.h).
#include <limits>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/serde/json.h"
#include "images/manifest.h"
#include "images/reference.h"

namespace images {
namespace {

using core::Errc;
using core::Json;
using core::Result;

Result<Json> parse_document(std::string_view text, std::string_view what) {
  if (text.size() > kMaxJsonSize) {
    return core::failf(Errc::kTooLarge, "{}: {} bytes is over the limit of {}", what, text.size(),
                       kMaxJsonSize);
  }
  auto j = core::parse_json(text);
  if (!j) return std::unexpected(std::move(j.error()).context(what));
  if (!j->is_object()) return core::failf(Errc::kInvalid, "{}: not a JSON object", what);
  return std::move(*j);
}

Result<void> check_schema_version(const Json& j, std::string_view what) {
  auto it = j.find("schemaVersion");
  if (it == j.end() || !it->is_number_integer()) {
    return core::failf(Errc::kInvalid, "{}: no integer schemaVersion", what);
  }
  if (*it == 1)
    return core::failf(Errc::kUnsupported, "{}: Docker schema 1 is not supported", what);
  if (*it != 2)
    return core::failf(Errc::kUnsupported, "{}: schemaVersion {} is not 2", what, it->dump());
  return {};
}

// The string at key; "" when absent and optional.
Result<std::string> get_string(const Json& j, std::string_view key, std::string_view where,
                               bool required) {
  auto it = j.find(key);
  if (it == j.end()) {
    if (!required) return std::string();
    return core::failf(Errc::kInvalid, "{}: no {}", where, key);
  }
  if (!it->is_string()) return core::failf(Errc::kInvalid, "{}: {} is not a string", where, key);
  return it->get<std::string>();
}

Result<std::map<std::string, std::string>> get_annotations(const Json& j, std::string_view where) {
  std::map<std::string, std::string> out;
  auto it = j.find("annotations");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_object())
    return core::failf(Errc::kInvalid, "{}: annotations is not an object", where);
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string()) {
      return core::failf(Errc::kInvalid, "{}: annotation {} is not a string", where,
                         core::quote(key));
    }
    out[key] = value.get<std::string>();
  }
  return out;
}

Result<Platform> parse_platform(const Json& j, std::string_view where) {
  std::string what = fmt::format("{}: platform", where);
  if (!j.is_object()) return core::failf(Errc::kInvalid, "{} is not an object", what);
  Platform p;
  p.os = K3A_TRY(get_string(j, "os", what, true));
  p.architecture = K3A_TRY(get_string(j, "architecture", what, true));
  p.variant = K3A_TRY(get_string(j, "variant", what, false));
  if (p.os.empty() || p.architecture.empty()) {
    return core::failf(Errc::kInvalid, "{}: empty os or architecture", what);
  }
  return p;
}

Result<int64_t> get_size(const Json& j, std::string_view where) {
  auto it = j.find("size");
  if (it == j.end() || !it->is_number_integer()) {
    return core::failf(Errc::kInvalid, "{}: size is missing or not an integer", where);
  }
  if (it->is_number_unsigned()) {
    if (it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return core::failf(Errc::kInvalid, "{}: size {} is too large", where, it->dump());
    }
    return static_cast<int64_t>(it->get<uint64_t>());
  }
  return it->get<int64_t>();  // negative: refused by validate_descriptor
}

Result<Descriptor> parse_descriptor(const Json& j, std::string_view where) {
  if (!j.is_object()) return core::failf(Errc::kInvalid, "{}: not an object", where);
  Descriptor d;
  d.media_type = K3A_TRY(get_string(j, "mediaType", where, true));
  d.digest = K3A_TRY(get_string(j, "digest", where, true));
  d.size = K3A_TRY(get_size(j, where));
  if (auto it = j.find("platform"); it != j.end() && !it->is_null()) {
    d.platform = K3A_TRY(parse_platform(*it, where));
  }
  d.annotations = K3A_TRY(get_annotations(j, where));
  if (auto it = j.find("urls"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || !it->empty()) {
      return core::failf(Errc::kInvalid, "{}: foreign layer URLs are not allowed offline ({})",
                         where, core::quote(d.digest));
    }
  }
  K3A_CHECK(validate_descriptor(d, where));
  return d;
}

Result<std::vector<Descriptor>> parse_descriptor_array(const Json& j, std::string_view key,
                                                       std::string_view what) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) {
    return core::failf(Errc::kInvalid, "{}: {} is missing or not an array", what, key);
  }
  std::vector<Descriptor> out;
  for (size_t i = 0; i < it->size(); ++i) {
    out.push_back(K3A_TRY(parse_descriptor((*it)[i], fmt::format("{}: {}[{}]", what, key, i))));
  }
  return out;
}

}  // namespace

Result<std::string> detect_media_type(std::string_view text) {
  Json j = K3A_TRY(parse_document(text, "image document"));
  std::string media_type = K3A_TRY(get_string(j, "mediaType", "image document", false));
  if (!media_type.empty()) return media_type;
  K3A_CHECK(check_schema_version(j, "image document"));
  bool index_shape = j.contains("manifests");
  bool manifest_shape = j.contains("config") || j.contains("layers");
  if (index_shape && !manifest_shape) return std::string(kOciIndex);
  if (manifest_shape && !index_shape) return std::string(kOciManifest);
  return core::fail(Errc::kInvalid, "image document: neither a manifest nor an index");
}

Result<Manifest> parse_manifest(std::string_view text) {
  Json j = K3A_TRY(parse_document(text, "manifest"));
  K3A_CHECK(check_schema_version(j, "manifest"));
  Manifest m;
  m.media_type = K3A_TRY(get_string(j, "mediaType", "manifest", false));
  if (!m.media_type.empty() && !is_manifest_type(m.media_type)) {
    return core::failf(Errc::kInvalid, "manifest: media type {} is not a manifest",
                       core::quote(m.media_type));
  }
  if (j.contains("manifests")) {
    return core::fail(Errc::kInvalid, "manifest: has a manifests field (ambiguous document)");
  }
  auto config = j.find("config");
  if (config == j.end()) return core::fail(Errc::kInvalid, "manifest: no config");
  m.config = K3A_TRY(parse_descriptor(*config, "manifest: config"));
  m.layers = K3A_TRY(parse_descriptor_array(j, "layers", "manifest"));
  m.annotations = K3A_TRY(get_annotations(j, "manifest"));
  return m;
}

Result<Index> parse_index(std::string_view text) {
  Json j = K3A_TRY(parse_document(text, "index"));
  K3A_CHECK(check_schema_version(j, "index"));
  Index index;
  index.media_type = K3A_TRY(get_string(j, "mediaType", "index", false));
  if (!index.media_type.empty() && !is_index_type(index.media_type)) {
    return core::failf(Errc::kInvalid, "index: media type {} is not an index",
                       core::quote(index.media_type));
  }
  if (j.contains("config") || j.contains("layers")) {
    return core::fail(Errc::kInvalid, "index: has config or layers fields (ambiguous document)");
  }
  index.manifests = K3A_TRY(parse_descriptor_array(j, "manifests", "index"));
  index.annotations = K3A_TRY(get_annotations(j, "index"));
  return index;
}

Result<ImageConfig> parse_image_config(std::string_view text) {
  Json j = K3A_TRY(parse_document(text, "image config"));
  ImageConfig c;
  c.platform.os = K3A_TRY(get_string(j, "os", "image config", true));
  c.platform.architecture = K3A_TRY(get_string(j, "architecture", "image config", true));
  c.platform.variant = K3A_TRY(get_string(j, "variant", "image config", false));
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) {
    return core::fail(Errc::kInvalid, "image config: no rootfs object");
  }
  if (K3A_TRY(get_string(*rootfs, "type", "image config: rootfs", true)) != "layers") {
    return core::fail(Errc::kInvalid, "image config: rootfs.type is not \"layers\"");
  }
  auto diff_ids = rootfs->find("diff_ids");
  if (diff_ids == rootfs->end() || !diff_ids->is_array()) {
    return core::fail(Errc::kInvalid, "image config: rootfs.diff_ids is not an array");
  }
  for (size_t i = 0; i < diff_ids->size(); ++i) {
    const Json& id = (*diff_ids)[i];
    if (!id.is_string() || !is_valid_digest(id.get<std::string>())) {
      return core::failf(Errc::kInvalid, "image config: rootfs.diff_ids[{}] is not a sha256 digest",
                         i);
    }
    c.diff_ids.push_back(id.get<std::string>());
  }
  return c;
}

}  // namespace images
