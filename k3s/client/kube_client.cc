#include "k3s/client/kube_client.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include "core/base/strings.h"
#include "core/crypto/base64.h"
#include "core/fs/files.h"

namespace k3s::client {
namespace {

using core::Errc;

// The entry called `name` in a kubeconfig list (clusters, contexts, users), under `field`.
YAML::Node named(const YAML::Node& list, const std::string& name, const std::string& field) {
  if (!list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item["name"] && item["name"].as<std::string>() == name) return item[field];
  }
  return YAML::Node();
}

std::string text(const YAML::Node& node, const std::string& key) {
  return node.IsMap() && node[key] && node[key].IsScalar() ? node[key].as<std::string>() : "";
}

// Inline "-data" (base64) wins over the file named by `key`, which is relative to the
// kubeconfig's directory.
core::Result<std::string> material(const YAML::Node& node, const std::string& key,
                                   const std::string& dir, const std::string& config) {
  if (std::string data = text(node, key + "-data"); !data.empty()) {
    auto decoded = core::base64_decode(data);
    if (!decoded) return core::failf(Errc::kInvalid, "{}: {}-data is not base64", config, key);
    return *decoded;
  }
  std::string file = text(node, key);
  if (file.empty()) return std::string();
  if (!file.starts_with("/")) file = dir + "/" + file;
  return core::read_file(file);
}

}  // namespace

std::string kubeconfig_path(const std::string& given) {
  if (!given.empty()) return given;
  const char* env = std::getenv("KUBECONFIG");
  if (env && *env) return std::string(core::split(env, ':').front());
  return "/etc/rancher/k3s/k3s.yaml";
}

core::Result<Endpoint> load_kubeconfig(const std::string& path) {
  std::string body = K3A_TRY(core::read_file(path, 4 << 20));
  YAML::Node doc;
  try {
    doc = YAML::Load(body);
  } catch (const YAML::Exception& e) {
    return core::failf(Errc::kInvalid, "{}: not a kubeconfig: {}", path, e.what());
  }
  std::string current = text(doc, "current-context");
  YAML::Node context = named(doc["contexts"], current, "context");
  if (!context.IsMap()) return core::failf(Errc::kNotFound, "{}: no context \"{}\"", path, current);
  YAML::Node cluster = named(doc["clusters"], text(context, "cluster"), "cluster");
  YAML::Node user = named(doc["users"], text(context, "user"), "user");
  if (!cluster.IsMap() || text(cluster, "server").empty())
    return core::failf(Errc::kNotFound, "{}: context \"{}\" has no cluster server", path, current);
  Endpoint e;
  std::string dir = core::dir_name(path);
  e.server = text(cluster, "server");
  while (e.server.ends_with("/")) e.server.pop_back();
  e.tls.insecure_skip_verify = text(cluster, "insecure-skip-tls-verify") == "true";
  e.tls.ca_pem = K3A_TRY(material(cluster, "certificate-authority", dir, path));
  if (user.IsMap()) {
    e.tls.client_cert_pem = K3A_TRY(material(user, "client-certificate", dir, path));
    e.tls.client_key_pem = K3A_TRY(material(user, "client-key", dir, path));
    e.bearer_token = text(user, "token");
    if (std::string file = text(user, "tokenFile"); e.bearer_token.empty() && !file.empty()) {
      e.bearer_token = std::string(core::trim(K3A_TRY(core::read_file(file, 64 << 10))));
    }
  }
  e.tls.retries = 0;
  e.tls.proxy = "";
  return e;
}

KubeClient::KubeClient(Endpoint endpoint)
    : endpoint_(std::move(endpoint)), http_(std::make_unique<core::http::Client>(endpoint_.tls)) {}

core::Result<nlohmann::json> KubeClient::call(const std::string& method, const std::string& path,
                                              const nlohmann::json* body,
                                              const std::string& content_type) {
  core::http::Request req{.method = method, .url = endpoint_.server + path};
  req.headers.emplace_back("Accept", "application/json");
  if (!endpoint_.bearer_token.empty())
    req.headers.emplace_back("Authorization", "Bearer " + endpoint_.bearer_token);
  if (body) {
    req.headers.emplace_back("Content-Type", content_type);
    req.body = body->dump();
  }
  auto resp = http_->send(req);
  if (!resp) return std::unexpected(std::move(resp.error()).context(endpoint_.server));
  return parse_answer(method, path, resp->status, resp->body);
}

core::Result<nlohmann::json> parse_answer(const std::string& method, const std::string& path,
                                          int status, const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (status >= 200 && status < 300) {
    if (j.is_discarded())
      return core::failf(Errc::kUnavailable, "{} {}: answer is not JSON", method, path);
    return j;
  }
  std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                            ? j["message"].get<std::string>()
                            : fmt::format("{} {}: HTTP {}", method, path, status);
  Errc code = status == 404                    ? Errc::kNotFound
              : status == 401                  ? Errc::kUnauthorized
              : status == 403                  ? Errc::kForbidden
              : status == 400 || status == 422 ? Errc::kInvalid
              : status == 409 ? (j.value("reason", "") == "AlreadyExists" ? Errc::kAlreadyExists
                                                                          : Errc::kConflict)
                              : Errc::kUnavailable;
  return core::fail(code, message);
}

namespace {

// Splits the watch stream into lines, one JSON event each.
class EventSink : public core::ByteSink {
 public:
  explicit EventSink(const std::function<bool(const nlohmann::json&)>& on_event)
      : on_event_(on_event) {}
  core::Result<void> write(std::string_view data) override {
    buffer_.append(data);
    size_t start = 0;
    for (size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
      auto event =
          nlohmann::json::parse(buffer_.begin() + start, buffer_.begin() + nl, nullptr, false);
      if (event.is_discarded()) continue;
      if (!on_event_(event)) return core::fail(core::Errc::kConflict, "watch stopped");
    }
    buffer_.erase(0, start);
    return {};
  }

 private:
  const std::function<bool(const nlohmann::json&)>& on_event_;
  std::string buffer_;
};

}  // namespace

core::Result<void> KubeClient::watch(const std::string& path,
                                     const std::function<bool(const nlohmann::json&)>& on_event) {
  core::http::Request req{.method = "GET", .url = endpoint_.server + path};
  req.headers.emplace_back("Accept", "application/json");
  if (!endpoint_.bearer_token.empty())
    req.headers.emplace_back("Authorization", "Bearer " + endpoint_.bearer_token);
  EventSink sink(on_event);
  auto res = K3A_TRY(http_->download(req, sink));
  if (res.status / 100 != 2)
    return std::unexpected(parse_answer("GET", path, res.status, res.body).error());
  return {};
}

}  // namespace k3s::client
