// The bundle's signed manifest, `bundle.json`: what a bundle is (name, sequence, dates, k3s
// version, architectures) and every file and image it carries. Plain structs with strict
// parsing (unknown schema versions, missing fields and unsafe paths are errors) and canonical
// serialisation (sorted keys, sorted lists), so that the same content gives the same bytes.
// Values only; thread-safe as values are.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace bundler {

inline constexpr int kSchemaVersion = 1;
inline constexpr char kManifestPath[] = "bundle.json";
inline constexpr char kSignaturesPath[] = "bundle.json.sig";
inline constexpr uint64_t kMaxManifestSize = 16u << 20;
inline constexpr uint64_t kMaxSignaturesSize = 64u << 10;

// What a file is for; the installer places files by role.
enum class FileRole { kArtifact, kImages, kImageList, kManifest, kChecksums, kInstaller };
std::string_view role_name(FileRole role);
core::Result<FileRole> parse_role(std::string_view name);

struct FileRecord {
  std::string path;  // relative path inside the bundle
  uint64_t size = 0;
  std::string sha256;  // lowercase hex
  uint32_t mode = 0644;
  FileRole role = FileRole::kArtifact;
  std::string name;  // artifact name from the spec (e.g. "k3s"), empty for generated files
  std::string arch;  // for per-architecture files (image archives, checksums)
};

struct ImageRecord {
  std::string reference;  // fully qualified, e.g. docker.io/rancher/mirrored-pause:3.6
  std::string digest;     // the pinned top digest (index or manifest)
  // Platform ("linux/amd64") → digest of the single-platform manifest carried in the bundle.
  std::map<std::string, std::string> platforms;
};

struct BundleManifest {
  int schema_version = kSchemaVersion;
  std::string name;
  uint64_t sequence = 0;
  std::string created;                 // RFC 3339, UTC
  std::optional<std::string> expires;  // RFC 3339, UTC
  std::string k3s_version;
  std::vector<std::string> arch;
  std::vector<FileRecord> files;    // sorted by path
  std::vector<ImageRecord> images;  // sorted by reference

  const FileRecord* find_file(std::string_view path) const;
  uint64_t total_file_bytes() const;
};

// Strict: kInvalid naming the field on any problem (including unsafe file paths and duplicate
// paths).
core::Result<BundleManifest> parse_manifest(std::string_view json);
// Canonical bytes: sorted keys and lists, two-space indentation, trailing newline.
std::string serialize_manifest(const BundleManifest& manifest);

// Mode as the manifest writes it ("0755").
std::string mode_string(uint32_t mode);

}  // namespace bundler
