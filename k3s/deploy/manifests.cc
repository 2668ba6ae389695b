#include "k3s/deploy/manifests.h"

#include "core/base/strings.h"
#include "core/fs/files.h"
#include "core/serde/json.h"
#include "k3s/deploy/packaged.h"

namespace k3s::deploy {

using json = nlohmann::json;

core::Result<std::vector<json>> parse_manifest(std::string_view text) {
  // JSON is YAML; one parser reads both.
  auto docs = core::parse_yaml_all(text);
  if (!docs) return std::unexpected(docs.error());
  std::vector<json> out;
  size_t n = 0;
  for (const json& doc : *docs) {
    ++n;
    if (doc.is_null()) continue;
    if (!doc.is_object() || !doc.contains("apiVersion") || !doc.contains("kind"))
      return core::failf(core::Errc::kInvalid,
                         "document {}: not an object with apiVersion and kind", n);
    std::string kind = doc.value("kind", "");
    if (kind.ends_with("List") && doc.contains("items") && doc["items"].is_array()) {
      for (const auto& item : doc["items"]) {
        if (!item.is_object() || !item.contains("apiVersion") || !item.contains("kind"))
          return core::failf(core::Errc::kInvalid,
                             "document {}: a list item without apiVersion and kind", n);
        out.push_back(item);
      }
      continue;
    }
    out.push_back(doc);
  }
  return out;
}

std::string substitute_variables(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars) {
    std::string token = "%{" + name + "}%";
    for (size_t at = 0; (at = text.find(token, at)) != std::string::npos; at += value.size())
      text.replace(at, token.size(), value);
  }
  return text;
}

bool disabled(const std::string& relative, const std::set<std::string>& names) {
  std::string base = core::base_name(relative);
  if (names.count(base) || names.count(base.substr(0, base.rfind('.')))) return true;
  for (size_t slash = relative.find('/'); slash != std::string::npos;
       slash = relative.find('/', slash + 1)) {
    if (names.count(relative.substr(0, slash))) return true;
  }
  return false;
}

std::span<const PackagedFile> packaged_manifests() { return packaged::kFiles; }

core::Result<void> stage_manifests(const std::string& dir, std::span<const PackagedFile> files,
                                   const std::map<std::string, std::string>& vars,
                                   const std::set<std::string>& disabled_names) {
  for (const auto& f : files) {
    if (disabled(std::string(f.relative), disabled_names)) continue;
    std::string path = core::join_path(dir, f.relative);
    K3A_CHECK(core::make_dirs(core::dir_name(path), 0700));
    K3A_CHECK(core::write_file_atomic(path, substitute_variables(std::string(f.text), vars), 0600));
  }
  return {};
}

}  // namespace k3s::deploy
