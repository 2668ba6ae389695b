#include "bundler/format/manifest.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/archive/tar.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/sha256.h"
#include "core/serde/json.h"

namespace bundler {
namespace {

using core::Errc;
using core::Json;

constexpr std::pair<FileRole, std::string_view> kRoles[] = {
    {FileRole::kArtifact, "artifact"},    {FileRole::kImages, "images"},
    {FileRole::kImageList, "image-list"}, {FileRole::kManifest, "manifest"},
    {FileRole::kChecksums, "checksums"},  {FileRole::kInstaller, "installer"},
};

core::Result<std::string> get_string(const Json& obj, const char* key, bool required = true) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return core::failf(Errc::kInvalid, "bundle.json: missing field {}", key);
    return std::string();
  }
  if (!it->is_string()) return core::failf(Errc::kInvalid, "bundle.json: {} is not a string", key);
  return it->get<std::string>();
}

core::Result<uint64_t> get_u64(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_unsigned()) {
    return core::failf(Errc::kInvalid, "bundle.json: {} is missing or not a non-negative integer",
                       key);
  }
  return it->get<uint64_t>();
}

core::Result<uint32_t> parse_mode(std::string_view s) {
  if (s.size() != 4 || s[0] != '0')
    return core::failf(Errc::kInvalid, "bad mode {}", core::quote(s));
  uint32_t mode = 0;
  for (char c : s.substr(1)) {
    if (c < '0' || c > '7') return core::failf(Errc::kInvalid, "bad mode {}", core::quote(s));
    mode = mode * 8 + static_cast<uint32_t>(c - '0');
  }
  if (mode & 07000) return core::failf(Errc::kInvalid, "mode {} has setuid/setgid/sticky bits", s);
  return mode;
}

core::Result<FileRecord> parse_file(const Json& j) {
  if (!j.is_object()) return core::fail(Errc::kInvalid, "bundle.json: file entry is not an object");
  FileRecord f;
  f.path = K3A_TRY(get_string(j, "path"));
  if (auto r = core::validate_entry_path(f.path); !r) {
    return std::unexpected(std::move(r.error()).context("bundle.json file"));
  }
  f.size = K3A_TRY(get_u64(j, "size"));
  f.sha256 = K3A_TRY(get_string(j, "sha256"));
  if (!core::is_sha256_hex(f.sha256)) {
    return core::failf(Errc::kInvalid, "bundle.json: {}: sha256 is not 64 lowercase hex digits",
                       core::quote(f.path));
  }
  f.mode = K3A_TRY(parse_mode(K3A_TRY(get_string(j, "mode"))));
  f.role = K3A_TRY(parse_role(K3A_TRY(get_string(j, "role"))));
  f.name = K3A_TRY(get_string(j, "name", false));
  f.arch = K3A_TRY(get_string(j, "arch", false));
  return f;
}

core::Result<ImageRecord> parse_image(const Json& j) {
  if (!j.is_object())
    return core::fail(Errc::kInvalid, "bundle.json: image entry is not an object");
  ImageRecord img;
  img.reference = K3A_TRY(get_string(j, "reference"));
  img.digest = K3A_TRY(get_string(j, "digest"));
  auto p = j.find("platforms");
  if (p == j.end() || !p->is_object()) {
    return core::failf(Errc::kInvalid, "bundle.json: image {} has no platforms", img.reference);
  }
  for (const auto& [platform, digest] : p->items()) {
    if (!digest.is_string())
      return core::fail(Errc::kInvalid, "bundle.json: platform digest is not a string");
    img.platforms[platform] = digest.get<std::string>();
  }
  for (const std::string* d : {&img.digest}) {
    if (d->rfind("sha256:", 0) != 0 || !core::is_sha256_hex(d->substr(7))) {
      return core::failf(Errc::kInvalid, "bundle.json: image {} has a malformed digest",
                         img.reference);
    }
  }
  for (const auto& [platform, d] : img.platforms) {
    if (d.rfind("sha256:", 0) != 0 || !core::is_sha256_hex(d.substr(7))) {
      return core::failf(Errc::kInvalid, "bundle.json: image {} ({}) has a malformed digest",
                         img.reference, platform);
    }
  }
  return img;
}

core::Result<void> parse_lists(const Json& j, BundleManifest& m) {
  auto files = j.find("files");
  if (files == j.end() || !files->is_array())
    return core::fail(Errc::kInvalid, "bundle.json: files is missing");
  std::set<std::string> seen;
  for (const Json& f : *files) {
    FileRecord rec = K3A_TRY(parse_file(f));
    if (rec.path == kManifestPath || rec.path == kSignaturesPath || !seen.insert(rec.path).second) {
      return core::failf(Errc::kInvalid, "bundle.json: duplicate or reserved path {}",
                         core::quote(rec.path));
    }
    m.files.push_back(std::move(rec));
  }
  auto images = j.find("images");
  if (images != j.end()) {
    if (!images->is_array()) return core::fail(Errc::kInvalid, "bundle.json: images is not a list");
    for (const Json& i : *images) m.images.push_back(K3A_TRY(parse_image(i)));
  }
  auto arch = j.find("arch");
  if (arch == j.end() || !arch->is_array())
    return core::fail(Errc::kInvalid, "bundle.json: arch is missing");
  for (const Json& a : *arch) {
    if (!a.is_string())
      return core::fail(Errc::kInvalid, "bundle.json: arch entry is not a string");
    m.arch.push_back(a.get<std::string>());
  }
  return {};
}

}  // namespace

std::string_view role_name(FileRole role) {
  for (const auto& [r, name] : kRoles) {
    if (r == role) return name;
  }
  return "artifact";
}

core::Result<FileRole> parse_role(std::string_view name) {
  for (const auto& [r, n] : kRoles) {
    if (n == name) return r;
  }
  return core::failf(Errc::kInvalid, "bundle.json: unknown file role {}", core::quote(name));
}

std::string mode_string(uint32_t mode) { return fmt::format("{:04o}", mode & 07777); }

const FileRecord* BundleManifest::find_file(std::string_view path) const {
  auto it = std::lower_bound(files.begin(), files.end(), path,
                             [](const FileRecord& f, std::string_view p) { return f.path < p; });
  return it != files.end() && it->path == path ? &*it : nullptr;
}

uint64_t BundleManifest::total_file_bytes() const {
  uint64_t total = 0;
  for (const auto& f : files) total += f.size;
  return total;
}

core::Result<BundleManifest> parse_manifest(std::string_view json) {
  Json j = K3A_TRY(core::parse_json(json));
  if (!j.is_object()) return core::fail(Errc::kInvalid, "bundle.json: not an object");
  BundleManifest m;
  auto version = j.find("schemaVersion");
  if (version == j.end() || !version->is_number_integer() || *version != kSchemaVersion) {
    return core::fail(Errc::kUnsupported, "bundle.json: unsupported schemaVersion");
  }
  m.name = K3A_TRY(get_string(j, "name"));
  m.sequence = K3A_TRY(get_u64(j, "sequence"));
  m.created = K3A_TRY(get_string(j, "created"));
  K3A_CHECK(core::parse_rfc3339(m.created));
  if (j.contains("expires")) {
    m.expires = K3A_TRY(get_string(j, "expires"));
    K3A_CHECK(core::parse_rfc3339(*m.expires));
  }
  auto k3s = j.find("k3s");
  if (k3s != j.end() && k3s->is_object())
    m.k3s_version = K3A_TRY(get_string(*k3s, "version", false));
  K3A_CHECK(parse_lists(j, m));
  std::sort(m.files.begin(), m.files.end(),
            [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; });
  return m;
}

std::string serialize_manifest(const BundleManifest& m) {
  Json j = Json::object();
  j["schemaVersion"] = m.schema_version;
  j["kind"] = "Bundle";
  j["name"] = m.name;
  j["sequence"] = m.sequence;
  j["created"] = m.created;
  if (m.expires) j["expires"] = *m.expires;
  j["k3s"] = Json{{"version", m.k3s_version}};
  j["arch"] = m.arch;
  std::vector<FileRecord> files = m.files;
  std::sort(files.begin(), files.end(),
            [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; });
  Json jf = Json::array();
  for (const auto& f : files) {
    Json e{{"path", f.path},
           {"size", f.size},
           {"sha256", f.sha256},
           {"mode", mode_string(f.mode)},
           {"role", role_name(f.role)}};
    if (!f.name.empty()) e["name"] = f.name;
    if (!f.arch.empty()) e["arch"] = f.arch;
    jf.push_back(std::move(e));
  }
  j["files"] = std::move(jf);
  std::vector<ImageRecord> images = m.images;
  std::sort(images.begin(), images.end(),
            [](const ImageRecord& a, const ImageRecord& b) { return a.reference < b.reference; });
  Json ji = Json::array();
  for (const auto& i : images) {
    ji.push_back(
        Json{{"reference", i.reference}, {"digest", i.digest}, {"platforms", i.platforms}});
  }
  j["images"] = std::move(ji);
  return core::dump_json_pretty(j);
}

}  // namespace bundler
