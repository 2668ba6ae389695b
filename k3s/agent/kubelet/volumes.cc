#include "k3s/agent/kubelet/volumes.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/crypto/x509.h"
#include "core/fs/files.h"
#include "k3s/agent/kubelet/fields.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;
using core::Errc;
namespace fs = std::filesystem;

bool safe_relative(const std::string& p) {
  if (p.empty() || p.starts_with("/") || p.starts_with("..")) return false;
  for (auto part : core::split(p, '/'))
    if (part == ".." || part.empty()) return false;
  return true;
}

using Files = std::map<std::string, std::string>;

// A ConfigMap's or Secret's keys as files (all keys, or the listed items with their paths).
core::Result<void> add_keyed(Files& files, const json& source, const json& object, bool secret,
                             const std::string& what) {
  std::map<std::string, std::string> data;
  for (const char* key : {"data", "binaryData"}) {
    for (const auto& [k, v] : obj(object, key).items()) {
      if (!v.is_string()) continue;
      bool encoded = secret || std::string(key) == "binaryData";
      data[k] = encoded ? K3A_TRY(core::base64_decode(v.get<std::string>())) : v.get<std::string>();
    }
  }
  if (!source.contains("items")) {
    for (const auto& [k, v] : data) files[k] = v;
    return {};
  }
  for (const auto& item : arr(source, "items")) {
    std::string key = str(item, "key"), path = str(item, "path");
    if (!safe_relative(path))
      return core::failf(Errc::kInvalid, "{}: bad item path {}", what, path);
    auto it = data.find(key);
    if (it == data.end()) {
      if (source.value("optional", false)) continue;
      return core::failf(Errc::kNotFound, "{}: key {} not found", what, key);
    }
    files[path] = it->second;
  }
  return {};
}

core::Result<void> add_object(Files& files, const json& source, const std::string& ns,
                              const ObjectGetter& get, bool secret) {
  std::string name = str(source, secret ? "secretName" : "name");
  std::string what = std::string(secret ? "secret " : "configmap ") + name;
  auto o = get(secret ? "secrets" : "configmaps", ns, name);
  if (!o) {
    if (o.error().code() == Errc::kNotFound && source.value("optional", false)) return {};
    if (o.error().code() == Errc::kNotFound)
      return core::failf(Errc::kNotFound, "{} \"{}\" not found", secret ? "secret" : "configmap",
                         name);
    return std::unexpected(o.error());
  }
  return add_keyed(files, source, *o, secret, what);
}

core::Result<void> add_downward(Files& files, const json& source, const json& pod) {
  const json& meta = obj(pod, "metadata");
  for (const auto& item : arr(source, "items")) {
    std::string path = str(item, "path");
    if (!safe_relative(path)) return core::failf(Errc::kInvalid, "downwardAPI: bad path {}", path);
    std::string f = str(obj(item, "fieldRef"), "fieldPath");
    std::string value;
    if (f == "metadata.labels" || f == "metadata.annotations") {
      // Upstream's FormatMap: sorted key="value" lines, the values quoted.
      for (const auto& [k, v] :
           obj(meta, f == "metadata.labels" ? "labels" : "annotations").items()) {
        if (!value.empty()) value += "\n";
        value += k + "=" + json(v.is_string() ? v.get<std::string>() : "").dump();
      }
    } else if (f == "metadata.name" || f == "metadata.namespace" || f == "metadata.uid") {
      value = str(meta, f.substr(9).c_str());
    } else if (!f.empty()) {
      return core::failf(Errc::kInvalid, "downwardAPI: unsupported fieldPath {}", f);
    }
    files[path] = value;
  }
  return {};
}

// The token of a projected serviceAccountToken source: the one written before while it is
// younger than 80 % of its lifetime, else a new one.
core::Result<std::string> token_for(const json& source, const json& pod, const std::string& dir,
                                    const TokenRequester& token) {
  std::string path = str(source, "path");
  int64_t seconds = source.value("expirationSeconds", 3607);
  struct stat st {};
  if (::stat((dir + "/" + path).c_str(), &st) == 0 &&
      std::time(nullptr) - st.st_mtime < seconds * 8 / 10) {
    if (auto old = core::read_file(dir + "/" + path)) return *old;
  }
  return token(pod, str(source, "audience"), seconds);
}

core::Result<void> add_projected(Files& files, const json& volume, const json& pod,
                                 const std::string& dir, const ObjectGetter& get,
                                 const TokenRequester& token) {
  std::string ns = str(obj(pod, "metadata"), "namespace");
  for (const auto& source : arr(volume, "sources")) {
    if (source.contains("serviceAccountToken")) {
      const json& s = source["serviceAccountToken"];
      if (!safe_relative(str(s, "path")))
        return core::failf(Errc::kInvalid, "serviceAccountToken: bad path {}", str(s, "path"));
      files[str(s, "path")] = K3A_TRY(token_for(s, pod, dir, token));
    } else if (source.contains("configMap")) {
      K3A_CHECK(add_object(files, source["configMap"], ns, get, false));
    } else if (source.contains("secret")) {
      json s = source["secret"];
      s["secretName"] = str(s, "name");
      K3A_CHECK(add_object(files, s, ns, get, true));
    } else if (source.contains("downwardAPI")) {
      K3A_CHECK(add_downward(files, source["downwardAPI"], pod));
    }
  }
  return {};
}

core::Result<std::string> host_path(const json& source) {
  std::string path = str(source, "path"), type = str(source, "type");
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (type == "DirectoryOrCreate" && !exists) {
    K3A_CHECK(core::make_dirs(path, 0755));
  } else if (type == "FileOrCreate" && !exists) {
    K3A_CHECK(core::make_dirs(core::dir_name(path), 0755));
    K3A_CHECK(core::write_file_atomic(path, ""));
  } else if (((type == "Directory" || type == "DirectoryOrCreate") &&
              !(exists && S_ISDIR(st.st_mode))) ||
             ((type == "File" || type == "FileOrCreate") && !(exists && S_ISREG(st.st_mode))) ||
             (type == "Socket" && !(exists && S_ISSOCK(st.st_mode))) ||
             (type == "CharDevice" && !(exists && S_ISCHR(st.st_mode))) ||
             (type == "BlockDevice" && !(exists && S_ISBLK(st.st_mode)))) {
    return core::failf(Errc::kNotFound, "hostPath type check failed: {} is not a {}", path, type);
  }
  return path;
}

core::Result<std::string> claim_path(const json& source, const std::string& ns,
                                     const ObjectGetter& get) {
  std::string claim = str(source, "claimName");
  auto pvc = get("persistentvolumeclaims", ns, claim);
  if (!pvc)
    return std::unexpected(std::move(pvc.error()).context("persistentvolumeclaim " + claim));
  std::string pv_name = str(obj(*pvc, "spec"), "volumeName");
  if (pv_name.empty())
    return core::failf(Errc::kUnavailable, "persistentvolumeclaim {} is not bound", claim);
  auto pv = K3A_TRY(get("persistentvolumes", "", pv_name));
  const json& spec = obj(pv, "spec");
  if (spec.contains("hostPath")) return host_path(spec["hostPath"]);
  if (spec.contains("local")) return str(obj(spec, "local"), "path");
  return core::failf(Errc::kUnsupported, "persistentvolume {}: only hostPath and local volumes",
                     pv_name);
}

// Upstream's MakeNestedMountpoints: where a container mounts another volume below this one
// (CoreDNS's custom config inside its config volume), the mount point is made in this volume's
// directory, since a read-only volume cannot get it from the runtime.
core::Result<void> make_nested_mountpoints(const json& pod, const std::string& volume,
                                           const std::string& dir) {
  const json& spec = obj(pod, "spec");
  for (const char* list : {"initContainers", "containers"}) {
    for (const auto& c : arr(spec, list)) {
      for (const auto& m : arr(c, "volumeMounts")) {
        if (str(m, "name") != volume) continue;
        std::string base = str(m, "mountPath");
        while (base.size() > 1 && base.ends_with('/')) base.pop_back();
        for (const auto& other : arr(c, "volumeMounts")) {
          std::string path = str(other, "mountPath");
          if (!path.starts_with(base + "/")) continue;
          std::string rel = path.substr(base.size() + 1);
          while (rel.ends_with('/')) rel.pop_back();
          if (!rel.empty() && safe_relative(rel)) K3A_CHECK(core::make_dirs(dir + "/" + rel, 0755));
        }
      }
    }
  }
  return {};
}

}  // namespace

core::Result<void> write_atomic_dir(const std::string& dir, const Files& files, int mode) {
  K3A_CHECK(core::make_dirs(dir, 0755));
  std::string data = dir + "/..data";
  std::error_code ec;
  fs::path current = fs::read_symlink(data, ec);
  if (!ec) {
    bool same = true;
    size_t count = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir + "/" + current.string(), ec))
      count += e.is_regular_file() ? 1 : 0;
    for (const auto& [path, content] : files) {
      auto old = core::read_file(dir + "/..data/" + path);
      same = same && old && *old == content;
    }
    if (same && count == files.size()) return {};
  }
  std::string stamp = "..k3s_" + core::random_hex(8);
  for (const auto& [path, content] : files) {
    std::string target = dir + "/" + stamp + "/" + path;
    K3A_CHECK(core::make_dirs(core::dir_name(target), 0755));
    K3A_CHECK(core::write_file_atomic(target, content, static_cast<mode_t>(mode)));
  }
  K3A_CHECK(core::make_dirs(dir + "/" + stamp, 0755));
  std::string tmp = dir + "/..data_tmp";
  ::unlink(tmp.c_str());
  if (::symlink(stamp.c_str(), tmp.c_str()) != 0 || ::rename(tmp.c_str(), data.c_str()) != 0)
    return core::fail_errno(errno, data);
  std::set<std::string> top;
  for (const auto& [path, content] : files) top.insert(path.substr(0, path.find('/')));
  for (const auto& name : top) {
    std::string link = dir + "/" + name;
    if (fs::is_symlink(link, ec)) continue;
    if (::symlink(("..data/" + name).c_str(), link.c_str()) != 0)
      return core::fail_errno(errno, link);
  }
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name == "..data" || name == stamp) continue;
    if (name.starts_with("..k3s_") || (e.is_symlink() && !top.count(name)))
      fs::remove_all(e.path(), ec);
  }
  return {};
}

core::Result<std::map<std::string, std::string>> prepare_volumes(const json& pod,
                                                                 const NodeContext& node,
                                                                 const ObjectGetter& get,
                                                                 const TokenRequester& token) {
  std::map<std::string, std::string> out;
  std::string base = pod_dir(pod, node) + "/volumes/kubernetes.io~";
  std::string ns = str(obj(pod, "metadata"), "namespace");
  for (const auto& v : arr(obj(pod, "spec"), "volumes")) {
    std::string name = str(v, "name");
    auto prepared = [&]() -> core::Result<std::string> {
      if (v.contains("hostPath")) return host_path(v["hostPath"]);
      if (v.contains("persistentVolumeClaim"))
        return claim_path(v["persistentVolumeClaim"], ns, get);
      std::string plugin = v.contains("configMap")     ? "configmap"
                           : v.contains("secret")      ? "secret"
                           : v.contains("downwardAPI") ? "downward-api"
                           : v.contains("projected")   ? "projected"
                                                       : "empty-dir";
      std::string dir = base + plugin + "/" + name;
      if (plugin == "empty-dir") {
        K3A_CHECK(core::make_dirs(dir, 0777));
        const json& e = obj(v, "emptyDir");
        if (str(e, "medium") == "Memory") {
          std::string options = "mode=0777";
          if (e.contains("sizeLimit"))
            options += ",size=" + std::to_string(static_cast<int64_t>(quantity(e["sizeLimit"])));
          std::ifstream mounts("/proc/self/mounts");
          std::string line;
          bool mounted = false;
          while (std::getline(mounts, line))
            mounted |= line.find(" " + dir + " ") != std::string::npos;
          if (!mounted && ::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0)
            return core::fail_errno(errno, dir);
        }
        return dir;
      }
      Files files;
      const json& source = v[plugin == "downward-api" ? "downwardAPI"
                             : plugin == "configmap"  ? "configMap"
                                                      : plugin];
      if (plugin == "configmap") K3A_CHECK(add_object(files, source, ns, get, false));
      if (plugin == "secret") K3A_CHECK(add_object(files, source, ns, get, true));
      if (plugin == "downward-api") K3A_CHECK(add_downward(files, source, pod));
      if (plugin == "projected") K3A_CHECK(add_projected(files, source, pod, dir, get, token));
      int mode = source.value("defaultMode", 0644);
      K3A_CHECK(write_atomic_dir(dir, files, mode));
      K3A_CHECK(make_nested_mountpoints(pod, name, dir));
      return dir;
    }();
    if (!prepared) return std::unexpected(std::move(prepared.error()).context("volume " + name));
    out[name] = *prepared;
  }
  return out;
}

core::Result<void> write_hosts_file(const json& pod, const std::string& pod_ip,
                                    const NodeContext& node) {
  const json& spec = obj(pod, "spec");
  std::string hostname = str(spec, "hostname");
  if (hostname.empty()) hostname = str(obj(pod, "metadata"), "name");
  std::string text =
      "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost "
      "ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\n"
      "fe00::2\tip6-allrouters\n";
  std::string names = hostname;
  if (!str(spec, "subdomain").empty())
    names = hostname + "." + str(spec, "subdomain") + "." + str(obj(pod, "metadata"), "namespace") +
            ".svc." + node.cluster_domain + "\t" + hostname;
  if (!pod_ip.empty()) text += pod_ip + "\t" + names + "\n";
  if (!arr(spec, "hostAliases").empty()) text += "\n# Entries added by HostAliases.\n";
  for (const auto& alias : arr(spec, "hostAliases")) {
    text += str(alias, "ip");
    for (const auto& h : arr(alias, "hostnames"))
      if (h.is_string()) text += "\t" + h.get<std::string>();
    text += "\n";
  }
  std::string dir = pod_dir(pod, node);
  K3A_CHECK(core::make_dirs(dir, 0750));
  return core::write_file_atomic(dir + "/etc-hosts", text);
}

void remove_pod_dir(const std::string& uid, const NodeContext& node) {
  std::string dir = node.kubelet_root + "/pods/" + uid;
  std::string empty = dir + "/volumes/kubernetes.io~empty-dir";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(empty, ec)) ::umount2(e.path().c_str(), MNT_DETACH);
  (void)core::remove_all(dir);
}

}  // namespace k3s::agent::kubelet
