#include "k3s/deploy/deploy_controller.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "k3s/deploy/manifests.h"

namespace k3s::deploy {
namespace {

using json = nlohmann::json;
using controllers::object_path;
using controllers::unless_missing;
constexpr char kComponent[] = "deploy";
constexpr char kGvksAnnotation[] = "addon.k3s.cattle.io/gvks";
constexpr char kHashLabel[] = "objectset.rio.cattle.io/hash";
const char* kAddonsPath = "/apis/k3s.cattle.io/v1/namespaces/kube-system/addons";

json addon_crd() {
  json schema = {
      {"type", "object"},
      {"properties",
       {{"spec",
         {{"type", "object"},
          {"properties", {{"source", {{"type", "string"}}}, {"checksum", {{"type", "string"}}}}}}},
        {"status", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}};
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "addons.k3s.cattle.io"}}},
          {"spec",
           {{"group", "k3s.cattle.io"},
            {"scope", "Namespaced"},
            {"names",
             {{"kind", "Addon"},
              {"plural", "addons"},
              {"singular", "addon"},
              {"listKind", "AddonList"}}},
            {"versions",
             {{{"name", "v1"},
               {"served", true},
               {"storage", true},
               {"schema", {{"openAPIV3Schema", schema}}},
               {"additionalPrinterColumns",
                {{{"name", "Source"}, {"type", "string"}, {"jsonPath", ".spec.source"}},
                 {{"name", "Checksum"}, {"type", "string"}, {"jsonPath", ".spec.checksum"}}}}}}}}}};
}

// "apps/v1, Kind=Deployment", "/v1, Kind=ConfigMap": how upstream writes a GVK.
std::string gvk_string(const std::string& api_version, const std::string& kind) {
  std::string gv = api_version.find('/') == std::string::npos ? "/" + api_version : api_version;
  return gv + ", Kind=" + kind;
}

// The label value that marks an Addon's objects.
std::string set_hash(const std::string& addon) {
  return core::Sha256::hex_of("kube-system/" + addon).substr(0, 40);
}

int64_t mtime_of(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// The kinds an Addon applied last time, from its annotation.
std::set<std::string> applied_kinds(const json& addon) {
  std::string list =
      addon["metadata"].value("annotations", json::object()).value(kGvksAnnotation, "");
  std::set<std::string> out;
  for (auto g : core::split(list, ';')) {
    if (!g.empty()) out.insert(std::string(g));
  }
  return out;
}

bool manifest_name(const std::string& file) {
  std::string lower = core::to_lower(file);
  return !file.starts_with(".") &&
         (lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".json"));
}

bool valid_addon_name(const std::string& name) {
  if (name.empty() || name.size() > 253 ||
      !std::isalnum(static_cast<unsigned char>(name.front())) ||
      !std::isalnum(static_cast<unsigned char>(name.back())))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

core::Result<void> DeployController::start() {
  json crd = addon_crd();
  auto made = api_.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  if (!made && made.error().code() != core::Errc::kAlreadyExists)
    return std::unexpected(made.error());
  thread_ = std::thread([this] {
    bool force = true;  // the first pass applies everything
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      scan(force);
      force = false;
      lock.lock();
      wake_.wait_for(lock, options_.interval, [this] { return stopping_; });
    }
  });
  return {};
}

void DeployController::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeployController::scan(bool force) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::string, std::string>> files;  // path, relative path
  std::error_code ec;
  fs::path root(options_.dir);
  auto it = fs::recursive_directory_iterator(root, ec);
  if (ec) return;  // no directory yet: nothing to deploy
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    std::string file = p.filename().string();
    if (file.starts_with(".")) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    // Only symlinked directories at the top level are followed.
    if (it->is_symlink() && it.depth() == 0 && fs::is_directory(p)) {
      for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
        if (e.is_regular_file() && manifest_name(e.path().filename().string()))
          files.emplace_back(e.path().string(), fs::relative(e.path(), root).string());
      }
      continue;
    }
    if (it->is_regular_file() && manifest_name(file))
      files.emplace_back(p.string(), fs::relative(p, root).string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& [path, relative] : files) process(path, relative, force);
}

void DeployController::process(const std::string& path, const std::string& relative, bool force) {
  std::string file = core::base_name(path);
  std::string name = file.substr(0, file.find('.'));
  if (disabled(relative, options_.disabled)) return remove(name, path);
  if (core::path_exists(path + ".skip")) return;
  int64_t mtime = mtime_of(path);
  if (!force && mtimes_.count(path) && mtimes_[path] == mtime) return;
  auto text = core::read_file(path);
  json addon = {{"metadata", {{"name", name}, {"namespace", "kube-system"}}}};
  if (!text) {
    events_.record(kComponent, addon, "Warning", "ReadManifestFailed",
                   "Read manifest at \"" + path + "\" failed: " + text.error().message());
    return;
  }
  if (!valid_addon_name(name)) {
    core::log::warn("deploy: {}: \"{}\" is not a valid addon name", path, name);
    mtimes_[path] = mtime;
    return;
  }
  std::string checksum = core::Sha256::hex_of(*text);
  auto live = api_.get(std::string(kAddonsPath) + "/" + name);
  if (!force && live && (*live)["spec"].value("checksum", "") == checksum) {
    mtimes_[path] = mtime;
    return;
  }
  if (auto applied = apply(name, path, checksum, *text); !applied) {
    core::log::warn("deploy: {}: {}", path, applied.error().message());
    return;  // tried again at the next pass
  }
  mtimes_[path] = mtime;
}

core::Result<void> DeployController::apply(const std::string& name, const std::string& path,
                                           const std::string& checksum, const std::string& text) {
  // The Addon first: events and ownership hang on it.
  json addon = {{"apiVersion", "k3s.cattle.io/v1"},
                {"kind", "Addon"},
                {"metadata", {{"name", name}, {"namespace", "kube-system"}}},
                {"spec", {{"source", path}, {"checksum", ""}}}};
  auto live = api_.get(std::string(kAddonsPath) + "/" + name);
  if (!live && live.error().code() == core::Errc::kNotFound) live = api_.create(kAddonsPath, addon);
  if (!live) return std::unexpected(live.error());
  addon = *live;
  auto objects = parse_manifest(text);
  if (!objects) {
    events_.record(kComponent, addon, "Warning", "ParseManifestFailed",
                   "Parse manifest at \"" + path + "\" failed: " + objects.error().message());
    return {};
  }
  events_.record(kComponent, addon, "Normal", "ApplyingManifest",
                 "Applying manifest at \"" + path + "\"");
  auto types = catalog_.types();
  std::string hash = set_hash(name);
  std::set<std::string> gvks, keep;
  for (json o : *objects) {
    std::string api_version = o.value("apiVersion", ""), kind = o.value("kind", "");
    const apiserver::ResourceType* type = nullptr;
    for (const auto& t : *types) {
      if (t.group_version() == api_version && t.kind == kind) type = &t;
    }
    if (!type) {
      events_.record(kComponent, addon, "Warning", "ValidateManifestFailed",
                     fmt::format("Validate manifest at \"{}\": no kind \"{}\" is registered for "
                                 "version \"{}\"",
                                 path, kind, api_version));
      continue;
    }
    json& md = o["metadata"];
    std::string ns = type->namespaced ? md.value("namespace", "default") : "";
    if (type->namespaced) md["namespace"] = ns;
    md["labels"][kHashLabel] = hash;
    md["annotations"]["objectset.rio.cattle.io/id"] = "";
    md["annotations"]["objectset.rio.cattle.io/owner-gvk"] = "k3s.cattle.io/v1, Kind=Addon";
    md["annotations"]["objectset.rio.cattle.io/owner-name"] = name;
    md["annotations"]["objectset.rio.cattle.io/owner-namespace"] = "kube-system";
    std::string object = md.value("name", "");
    auto applied = api_.call("PATCH",
                             object_path(type->group_version(), type->resource, ns, object) +
                                 "?fieldManager=deploy&force=true",
                             &o, "application/apply-patch+yaml");
    if (!applied) {
      events_.record(
          kComponent, addon, "Warning", "ApplyManifestFailed",
          fmt::format("Applying manifest at \"{}\" failed: {}", path, applied.error().message()));
      return std::unexpected(applied.error());
    }
    std::string gvk = gvk_string(api_version, kind);
    gvks.insert(gvk);
    keep.insert(gvk + "|" + ns + "/" + object);
  }
  std::set<std::string> all = gvks;
  all.merge(applied_kinds(addon));
  K3A_CHECK(prune(name, all, keep));
  std::string list;
  for (const auto& g : gvks) list += (list.empty() ? "" : ";") + g;
  json patch = {{"metadata", {{"annotations", {{kGvksAnnotation, list}}}}},
                {"spec", {{"source", path}, {"checksum", checksum}}}};
  auto updated = api_.merge_patch(std::string(kAddonsPath) + "/" + name, patch);
  if (!updated) return std::unexpected(updated.error());
  events_.record(kComponent, *updated, "Normal", "AppliedManifest",
                 "Applied manifest at \"" + path + "\"");
  return {};
}

core::Result<void> DeployController::prune(const std::string& name,
                                           const std::set<std::string>& gvks,
                                           const std::set<std::string>& keep) {
  auto types = catalog_.types();
  for (const auto& gvk : gvks) {
    for (const auto& t : *types) {
      if (gvk_string(t.group_version(), t.kind) != gvk) continue;
      auto listed = api_.get(object_path(t.group_version(), t.resource, "", "") +
                             "?labelSelector=" + kHashLabel + "%3D" + set_hash(name));
      if (!listed) return std::unexpected(listed.error());
      for (const auto& o : (*listed)["items"]) {
        std::string ns = o["metadata"].value("namespace", "");
        std::string object = o["metadata"].value("name", "");
        if (keep.count(gvk + "|" + ns + "/" + object)) continue;
        K3A_CHECK(
            unless_missing(api_.remove(object_path(t.group_version(), t.resource, ns, object))));
      }
      break;
    }
  }
  return {};
}

// A disabled component: its objects and its Addon go, then the file.
void DeployController::remove(const std::string& name, const std::string& path) {
  auto live = api_.get(std::string(kAddonsPath) + "/" + name);
  if (live) {
    events_.record(kComponent, *live, "Normal", "DeletingManifest",
                   "Deleting manifest at \"" + path + "\"");
    if (auto pruned = prune(name, applied_kinds(*live), {}); !pruned) {
      core::log::warn("deploy: removing {}: {}", path, pruned.error().message());
      return;
    }
    (void)api_.remove(std::string(kAddonsPath) + "/" + name);
  }
  if (::unlink(path.c_str()) == 0) core::log::info("deploy: removed disabled manifest {}", path);
  mtimes_.erase(path);
}

}  // namespace k3s::deploy
