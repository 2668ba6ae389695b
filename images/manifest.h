// The OCI image model: descriptors, manifests, indexes (and their Docker v2 twins) and the few
// fields of an image config that this toolkit checks. Parsing is strict about what can hurt an
// offline install: digests must be sha256 with 64 lowercase hex digits (checked before any use
// as a path), sizes must be non-negative integers, a descriptor with `urls` (a foreign layer,
// CVE-2020-15157) or a foreign/non-distributable layer media type is refused, a document that
// is both a manifest and an index is refused (CVE-2021-41190), and JSON documents are limited
// to 20 MiB as containerd limits them. Serialisation is canonical: compact JSON, keys sorted,
// so equal values give equal bytes and equal digests. Plain values and pure functions:
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "images/platform.h"

namespace images {

// Media types.
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciForeignLayer =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kOciForeignLayerGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciForeignLayerZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

// Annotations.
inline constexpr std::string_view kAnnotationImageName = "io.containerd.image.name";
inline constexpr std::string_view kAnnotationRefName = "org.opencontainers.image.ref.name";

// containerd reads JSON documents through a 20 MiB limit; so do we.
inline constexpr uint64_t kMaxJsonSize = 20u << 20;

bool is_index_type(std::string_view media_type);     // OCI index, Docker manifest list
bool is_manifest_type(std::string_view media_type);  // OCI manifest, Docker v2 manifest
bool is_config_type(std::string_view media_type);    // OCI config, Docker config
// Distributable layer types: OCI tar, tar+gzip, tar+zstd; Docker tar.gzip.
bool is_layer_type(std::string_view media_type);
// Foreign (Docker) and non-distributable (OCI) layers: content fetched from elsewhere.
bool is_foreign_layer_type(std::string_view media_type);

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;
  std::optional<Platform> platform;  // as written, not normalised
  std::map<std::string, std::string> annotations;
  std::vector<std::string> urls;  // never accepted by the parsers; kept for serialisation

  friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

struct Manifest {
  std::string media_type;  // empty when the document has no mediaType field
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::string media_type;  // empty when the document has no mediaType field
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

// The parts of an image config that are checked against a manifest.
struct ImageConfig {
  Platform platform;
  std::vector<std::string> diff_ids;  // sha256 of each uncompressed layer, in order
};

// The document's media type: its mediaType field, else (schemaVersion 2 without one) the OCI
// index or manifest type by shape. kUnsupported for schemaVersion 1, kInvalid for anything
// else that is not recognisable, kTooLarge over 20 MiB.
core::Result<std::string> detect_media_type(std::string_view json);

// Strict parsers (see the header comment). Errors name the field ("layers[2]: …").
core::Result<Manifest> parse_manifest(std::string_view json);
core::Result<Index> parse_index(std::string_view json);
core::Result<ImageConfig> parse_image_config(std::string_view json);

// The descriptor rules the parsers apply, for descriptors built elsewhere: a media type, a
// valid digest, size >= 0, no urls. kInvalid names `where` and the rule.
core::Result<void> validate_descriptor(const Descriptor& d, std::string_view where);

// Canonical JSON (schemaVersion 2, compact, keys sorted).
std::string to_json(const Manifest& manifest);
std::string to_json(const Index& index);

// A descriptor of bytes: their sha256 digest and size.
Descriptor describe(std::string_view media_type, std::string_view bytes);

}  // namespace images
