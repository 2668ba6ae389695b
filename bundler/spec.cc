#include "bundler/spec.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"

namespace bundler {
namespace {

using core::Errc;
using core::Json;

core::Result<std::string> str_field(const Json& j, const char* key, const char* where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string() || it->get<std::string>().empty()) {
    return core::failf(Errc::kInvalid, "{}: {} must be a non-empty string", where, key);
  }
  return it->get<std::string>();
}

std::string opt_str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

core::Result<std::vector<std::string>> str_list(const Json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) return core::failf(Errc::kInvalid, "bundle spec: {} must be a list", key);
  for (const auto& v : *it) {
    if (!v.is_string())
      return core::failf(Errc::kInvalid, "bundle spec: {} entries must be strings", key);
    out.push_back(v.get<std::string>());
  }
  return out;
}

core::Result<ArtifactSpec> parse_artifact(const Json& a, const std::string& dir) {
  if (!a.is_object())
    return core::fail(Errc::kInvalid, "bundle spec: an artifact must be a mapping");
  ArtifactSpec art;
  art.name = K3A_TRY(str_field(a, "name", "bundle spec: artifact"));
  static const std::regex name_re("[A-Za-z0-9][A-Za-z0-9._+-]{0,127}");
  if (!std::regex_match(art.name, name_re)) {
    return core::failf(Errc::kInvalid, "bundle spec: artifact name {} is not a plain file name",
                       core::quote(art.name));
  }
  std::string path = opt_str(a, "path");
  art.url = opt_str(a, "url");
  art.sha256 = core::to_lower(opt_str(a, "sha256"));
  if (path.empty() == art.url.empty()) {
    return core::failf(Errc::kInvalid, "bundle spec: artifact {} needs exactly one of path or url",
                       art.name);
  }
  if (!art.url.empty() && !core::is_sha256_hex(art.sha256)) {
    return core::failf(Errc::kInvalid, "bundle spec: artifact {} from a url needs its sha256",
                       art.name);
  }
  if (!art.sha256.empty() && !core::is_sha256_hex(art.sha256)) {
    return core::failf(Errc::kInvalid, "bundle spec: artifact {}: sha256 is not 64 hex digits",
                       art.name);
  }
  if (!path.empty()) art.path = core::join_path(dir, path);
  if (auto m = a.find("mode"); m != a.end()) {
    if (!m->is_number_unsigned() && !m->is_string()) {
      return core::failf(Errc::kInvalid, "bundle spec: artifact {}: bad mode", art.name);
    }
    std::string s = m->is_string() ? m->get<std::string>() : std::to_string(m->get<uint64_t>());
    art.mode = static_cast<uint32_t>(std::stoul(s, nullptr, 8));
    if (art.mode != 0755 && art.mode != 0644) {
      return core::failf(Errc::kInvalid, "bundle spec: artifact {}: mode must be 0755 or 0644",
                         art.name);
    }
  }
  return art;
}

core::Result<void> parse_k3s(const Json& j, BundleSpec& spec) {
  auto k3s = j.find("k3s");
  if (k3s == j.end() || !k3s->is_object()) {
    return core::fail(Errc::kInvalid, "bundle spec: k3s must be {version: ...} or {channel: ...}");
  }
  spec.k3s_version = opt_str(*k3s, "version");
  spec.k3s_channel = opt_str(*k3s, "channel");
  if (spec.k3s_version.empty() == spec.k3s_channel.empty()) {
    return core::fail(Errc::kInvalid, "bundle spec: k3s needs exactly one of version or channel");
  }
  if (std::string url = opt_str(*k3s, "channelUrl"); !url.empty()) spec.channel_url = url;
  return {};
}

core::Result<void> parse_header(const Json& j, BundleSpec& spec) {
  if (opt_str(j, "apiVersion") != "k3s-airgap/v1" || opt_str(j, "kind") != "Bundle") {
    return core::fail(Errc::kInvalid,
                      "bundle spec: apiVersion must be k3s-airgap/v1 and kind Bundle");
  }
  spec.name = K3A_TRY(str_field(j, "name", "bundle spec"));
  static const std::regex name_re("[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?");
  if (!std::regex_match(spec.name, name_re)) {
    return core::failf(Errc::kInvalid,
                       "bundle spec: name {} must be lowercase letters, digits, '-' or '.'",
                       core::quote(spec.name));
  }
  auto seq = j.find("sequence");
  if (seq == j.end() || !seq->is_number_unsigned() || seq->get<uint64_t>() == 0) {
    return core::fail(Errc::kInvalid, "bundle spec: sequence must be a positive integer");
  }
  spec.sequence = seq->get<uint64_t>();
  if (auto e = j.find("expires"); e != j.end() && !e->is_null()) {
    if (!e->is_string()) return core::fail(Errc::kInvalid, "bundle spec: expires must be a string");
    K3A_CHECK(core::parse_rfc3339(e->get<std::string>()));
    spec.expires = e->get<std::string>();
  }
  return {};
}

core::Result<void> parse_arch(const Json& j, BundleSpec& spec) {
  spec.arch = K3A_TRY(str_list(j, "arch"));
  if (spec.arch.empty()) spec.arch = {"amd64"};
  static const std::set<std::string> known = {"amd64", "arm64",   "arm",
                                              "s390x", "riscv64", "ppc64le"};
  std::set<std::string> seen;
  for (const auto& a : spec.arch) {
    if (!known.count(a))
      return core::failf(Errc::kInvalid, "bundle spec: unknown arch {}", core::quote(a));
    if (!seen.insert(a).second)
      return core::failf(Errc::kInvalid, "bundle spec: arch {} listed twice", a);
  }
  return {};
}

}  // namespace

core::Result<BundleSpec> parse_spec(std::string_view yaml, const std::string& spec_dir) {
  Json j = K3A_TRY(core::parse_yaml(yaml));
  if (!j.is_object()) return core::fail(Errc::kInvalid, "bundle spec: not a mapping");
  BundleSpec spec;
  spec.dir = spec_dir;
  K3A_CHECK(parse_header(j, spec));
  K3A_CHECK(parse_k3s(j, spec));
  K3A_CHECK(parse_arch(j, spec));
  if (auto arts = j.find("artifacts"); arts != j.end() && !arts->is_null()) {
    if (!arts->is_array())
      return core::fail(Errc::kInvalid, "bundle spec: artifacts must be a list");
    std::set<std::string> names;
    for (const auto& a : *arts) {
      ArtifactSpec art = K3A_TRY(parse_artifact(a, spec_dir));
      if (!names.insert(art.name).second) {
        return core::failf(Errc::kInvalid, "bundle spec: artifact {} listed twice", art.name);
      }
      spec.artifacts.push_back(std::move(art));
    }
  }
  spec.images = j.contains("images") ? K3A_TRY(str_list(j, "images")) : default_images();
  for (const auto& p : K3A_TRY(str_list(j, "imageArchives"))) {
    spec.image_archives.push_back(core::join_path(spec_dir, p));
  }
  if (std::string m = opt_str(j, "manifests"); !m.empty())
    spec.manifests_dir = core::join_path(spec_dir, m);
  if (auto r = j.find("registries"); r != j.end() && !r->is_null())
    spec.registries_yaml = core::dump_json(*r);
  if (auto z = j.find("compression"); z != j.end() && z->is_object() && z->contains("level")) {
    spec.zstd_level = (*z)["level"].get<int>();
  }
  return spec;
}

std::vector<std::string> default_images() {
  std::vector<std::string> out;
  for (auto line : core::split(kDefaultImagesTxt, '\n')) {
    line = core::trim(line);
    if (!line.empty() && !line.starts_with('#')) out.emplace_back(line);
  }
  return out;
}

core::Result<BundleSpec> load_spec(const std::string& path) {
  std::string text = K3A_TRY(core::read_file(path, 1 << 20));
  auto spec = parse_spec(text, core::dir_name(path));
  if (!spec) return std::unexpected(std::move(spec.error()).context(path));
  return spec;
}

const LockedArtifact* BundleLock::artifact(std::string_view name) const {
  for (const auto& a : artifacts) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const LockedImage* BundleLock::image(std::string_view reference) const {
  for (const auto& i : images) {
    if (i.reference == reference) return &i;
  }
  return nullptr;
}

core::Result<BundleLock> parse_lock(std::string_view json) {
  Json j = K3A_TRY(core::parse_json(json));
  try {
    if (j.at("lockVersion").get<int>() != 1)
      return core::fail(Errc::kUnsupported, "lock: unsupported lockVersion");
    BundleLock lock;
    lock.created = K3A_TRY(core::parse_rfc3339(j.at("created").get<std::string>()));
    lock.k3s_version = j.at("k3s").at("version").get<std::string>();
    lock.zstd_level = j.at("compression").at("level").get<int>();
    for (const auto& a : j.at("artifacts")) {
      lock.artifacts.push_back({a.at("name").get<std::string>(), a.at("sha256").get<std::string>(),
                                a.at("size").get<uint64_t>()});
      if (!core::is_sha256_hex(lock.artifacts.back().sha256)) {
        return core::failf(Errc::kInvalid, "lock: artifact {} has a malformed sha256",
                           a.at("name").get<std::string>());
      }
    }
    for (const auto& i : j.at("images")) {
      lock.images.push_back({i.at("reference").get<std::string>(),
                             i.at("digest").get<std::string>(),
                             i.at("platforms").get<std::map<std::string, std::string>>()});
    }
    return lock;
  } catch (const Json::exception& e) {
    return core::fail(Errc::kInvalid, std::string("lock: ") + e.what());
  }
}

std::string serialize_lock(const BundleLock& lock) {
  Json arts = Json::array();
  std::vector<LockedArtifact> sorted_arts = lock.artifacts;
  std::sort(sorted_arts.begin(), sorted_arts.end(),
            [](auto& a, auto& b) { return a.name < b.name; });
  for (const auto& a : sorted_arts)
    arts.push_back({{"name", a.name}, {"sha256", a.sha256}, {"size", a.size}});
  std::vector<LockedImage> sorted_images = lock.images;
  std::sort(sorted_images.begin(), sorted_images.end(),
            [](auto& a, auto& b) { return a.reference < b.reference; });
  Json imgs = Json::array();
  for (const auto& i : sorted_images) {
    imgs.push_back({{"reference", i.reference}, {"digest", i.digest}, {"platforms", i.platforms}});
  }
  Json j{{"lockVersion", 1},
         {"created", core::format_rfc3339(lock.created)},
         {"k3s", {{"version", lock.k3s_version}}},
         {"compression", {{"level", lock.zstd_level}}},
         {"artifacts", arts},
         {"images", imgs}};
  return core::dump_json_pretty(j);
}

}  // namespace bundler
