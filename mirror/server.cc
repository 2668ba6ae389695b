#include "mirror/server.h"

#include <sys/stat.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/fs/files.h"
#include "core/http/url.h"
#include "images/blob_store.h"
#include "images/manifest.h"
#include "mirror/store.h"

namespace mirror {
namespace {

using json = nlohmann::json;
using Request = core::http::ServerRequest;
using Writer = core::http::ResponseWriter;

// The index, re-read when index.json changes.
class Content {
 public:
  explicit Content(std::string root) : root_(std::move(root)) {}
  std::shared_ptr<const Index> index() {
    struct stat st {};
    int64_t stamp = ::stat((root_ + "/index.json").c_str(), &st) == 0
                        ? st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec + st.st_size
                        : 0;
    std::lock_guard lock(mu_);
    if (!index_ || stamp != stamp_) {
      auto loaded = load_index(root_);
      if (!loaded) core::log::error("mirror: {}", loaded.error().message());
      index_ = std::make_shared<const Index>(loaded ? std::move(*loaded) : Index{});
      stamp_ = stamp;
    }
    return index_;
  }
  std::string blob(const std::string& digest) const {
    return root_ + "/blobs/sha256/" + (digest.starts_with("sha256:") ? digest.substr(7) : digest);
  }

 private:
  std::string root_;
  std::mutex mu_;
  std::shared_ptr<const Index> index_;
  int64_t stamp_ = 0;
};

void send(Writer& w, int status, const std::string& type, const std::string& body) {
  w.set_status(status);
  w.add_header("Content-Type", type);
  w.send(body);
}

void registry_error(Writer& w, int status, const std::string& code, const std::string& message) {
  json e = {{"errors", {{{"code", code}, {"message", message}, {"detail", nullptr}}}}};
  send(w, status, "application/json", e.dump());
}

std::string content_type(const std::string& asset) {
  if (asset.ends_with(".txt")) return "text/plain; charset=utf-8";
  if (asset.ends_with(".sh")) return "text/x-shellscript";
  if (asset.ends_with(".zst")) return "application/zstd";
  if (asset.ends_with(".gz")) return "application/gzip";
  if (asset.ends_with(".tar")) return "application/x-tar";
  return "application/octet-stream";
}

void send_asset(Content& c, const Index& index, const std::string& version,
                const std::string& asset, Writer& w) {
  auto release = index.releases.find(version);
  if (release == index.releases.end()) return send(w, 404, "text/plain", "no such release\n");
  auto a = release->second.find(asset);
  if (a == release->second.end()) return send(w, 404, "text/plain", "no such asset\n");
  w.send_file(c.blob(a->second.digest), content_type(asset));
}

std::string base_url(const Request& req, bool tls) {
  return std::string(tls ? "https://" : "http://") + req.header("Host").value_or("localhost");
}

void channels(const Index& index, const Request& req, bool tls, Writer& w) {
  std::string base = base_url(req, tls) + "/v1-release/channels";
  std::string name = req.path.size() > 20 ? req.path.substr(21) : "";
  if (req.path == "/v1-release/channels" || req.path == "/v1-release/channels/") {
    json data = json::array();
    for (const auto& [id, version] : index.channels)
      data.push_back({{"id", id},
                      {"type", "channel"},
                      {"links", {{"self", base + "/" + id}}},
                      {"name", id},
                      {"latest", version}});
    json body = {{"type", "collection"},
                 {"links", {{"self", base}}},
                 {"actions", json::object()},
                 {"resourceType", "channels"},
                 {"data", data}};
    return send(w, 200, "application/json", body.dump());
  }
  auto it = index.channels.find(name);
  if (it == index.channels.end()) return send(w, 404, "text/plain", "no such channel\n");
  w.set_status(302);
  w.add_header("Location", base_url(req, tls) + "/k3s-io/k3s/releases/tag/" + it->second);
  w.send("");
}

void registry(Content& c, const Index& index, const Request& req, Writer& w) {
  if (req.method != "GET" && req.method != "HEAD")
    return registry_error(w, 405, "UNSUPPORTED", "this registry is read-only");
  w.add_header("Docker-Distribution-API-Version", "registry/2.0");
  if (req.path == "/v2/" || req.path == "/v2") return send(w, 200, "application/json", "{}");
  if (req.path == "/v2/_catalog") {
    json repos = json::array();
    for (const auto& [name, tags] : index.repositories) repos.push_back(name);
    return send(w, 200, "application/json", json{{"repositories", repos}}.dump());
  }
  std::string rest = req.path.substr(4);
  for (const char* kind : {"/manifests/", "/blobs/", "/tags/list"}) {
    size_t at = rest.rfind(kind);
    if (at == std::string::npos) continue;
    std::string name = rest.substr(0, at), ref = rest.substr(at + std::strlen(kind));
    auto repo = index.repositories.find(name);
    if (repo == index.repositories.end())
      return registry_error(w, 404, "NAME_UNKNOWN", "repository name not known to registry");
    if (std::string(kind) == "/tags/list") {
      json tags = json::array();
      for (const auto& [tag, m] : repo->second) tags.push_back(tag);
      return send(w, 200, "application/json", json{{"name", name}, {"tags", tags}}.dump());
    }
    if (std::string(kind) == "/blobs/") {
      w.add_header("Docker-Content-Digest", ref);
      return w.send_file(c.blob(ref), "application/octet-stream");
    }
    std::string digest = ref, type = "application/vnd.oci.image.manifest.v1+json";
    if (auto t = repo->second.find(ref); t != repo->second.end()) {
      digest = t->second.digest;
      type = t->second.media_type;
    } else if (!ref.starts_with("sha256:")) {
      return registry_error(w, 404, "MANIFEST_UNKNOWN", "manifest unknown");
    } else if (auto text = core::read_file(c.blob(ref), 4u << 20)) {
      // A manifest by digest (one platform's, listed by an index): its type from its content.
      type = images::detect_media_type(*text).value_or(type);
    }
    w.add_header("Docker-Content-Digest", digest);
    return w.send_file(c.blob(digest), type);
  }
  registry_error(w, 404, "NAME_UNKNOWN", "unknown path");
}

void route(Content& c, const Request& req, bool tls, Writer& w) {
  auto index = c.index();
  const std::string& p = req.path;
  if (p.starts_with("/v2")) return registry(c, *index, req, w);
  if (req.method != "GET" && req.method != "HEAD")
    return send(w, 405, "text/plain", "method not allowed\n");
  if (p.starts_with("/v1-release/channels")) return channels(*index, req, tls, w);
  std::string stable = index->channels.count("stable") ? index->channels.at("stable") : "";
  if (p == "/install.sh" || p == "/k3s/k3s-install.sh")
    return send_asset(c, *index, stable, "install.sh", w);
  if (p == "/k3s-airgap") return send_asset(c, *index, stable, "k3s-airgap", w);
  if (p == "/k3s-airgap/images.json") {  // what `registries generate` points at the mirror
    json images = json::array();
    for (const auto& [repo, tags] : index->repositories) {
      std::string registry = index->origins.count(repo) ? index->origins.at(repo) : "docker.io";
      for (const auto& [tag, m] : tags)
        images.push_back({{"image", registry + "/" + repo + ":" + tag},
                          {"registry", registry},
                          {"repository", repo},
                          {"digest", m.digest}});
    }
    return send(w, 200, "application/json", images.dump());
  }
  std::string decoded = core::http::url_decode(p).value_or(p);
  auto parts = core::split(decoded, '/');
  // /k3s-io/k3s/releases/download/<version>/<asset>, /k3s-io/k3s/releases/tag/<version>
  if (parts.size() == 7 && decoded.starts_with("/k3s-io/k3s/releases/download/"))
    return send_asset(c, *index, std::string(parts[5]), std::string(parts[6]), w);
  if (parts.size() == 6 && decoded.starts_with("/k3s-io/k3s/releases/tag/")) {
    std::string v(parts[5]);
    if (!index->releases.count(v)) return send(w, 404, "text/plain", "no such release\n");
    return send(w, 200, "text/plain", v + "\n");
  }
  // The China mirror: /k3s/channels/<name> and /k3s/<v1.x.y-k3s1>/<asset>.
  if (parts.size() == 4 && decoded.starts_with("/k3s/channels/")) {
    auto it = index->channels.find(std::string(parts[3]));
    if (it == index->channels.end()) return send(w, 404, "text/plain", "no such channel\n");
    return send(w, 200, "text/plain", it->second);
  }
  if (parts.size() == 4 && decoded.starts_with("/k3s/")) {
    for (const auto& [version, assets] : index->releases) {
      std::string dashed = version;
      std::replace(dashed.begin(), dashed.end(), '+', '-');
      if (dashed == parts[2]) return send_asset(c, *index, version, std::string(parts[3]), w);
    }
  }
  send(w, 404, "text/plain", "404 page not found\n");
}

}  // namespace

core::Result<std::unique_ptr<core::http::Server>> serve(const ServeOptions& o) {
  auto content = std::make_shared<Content>(o.root);
  bool tls = !o.tls_cert.empty();
  return core::http::Server::start({.address = o.address,
                                    .port = o.port,
                                    .tls_cert_file = o.tls_cert,
                                    .tls_key_file = o.tls_key,
                                    .threads = o.threads,
                                    .max_request_body = 1 << 20},
                                   [content, tls](const Request& req, Writer& w) {
                                     route(*content, req, tls, w);
                                     core::log::info("{} \"{} {}\" {}", req.remote, req.method,
                                                     req.target, w.status());
                                   });
}

}  // namespace mirror
