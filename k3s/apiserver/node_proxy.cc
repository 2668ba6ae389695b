#include "k3s/apiserver/node_proxy.h"

#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/strings.h"
#include "core/http/tunnel.h"
#include "k3s/apiserver/rest_helpers.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

std::optional<json> load(datastore::Backend& store, const std::string& key) {
  auto kv = store.get(key);
  if (!kv || !*kv) return std::nullopt;
  json o = json::parse((*kv)->value, nullptr, false);
  if (!o.is_object()) return std::nullopt;
  return o;
}

// The query without its container parameter, and that parameter.
std::pair<std::string, std::string> split_container(const std::string& query) {
  std::string rest, container;
  for (auto part : core::split(query, '&')) {
    if (part.starts_with("container=")) {
      container = std::string(part.substr(10));
    } else if (!part.empty()) {
      rest += (rest.empty() ? "" : "&") + std::string(part);
    }
  }
  return {rest, container};
}

// Streams a followed log: the kubelet's body goes out chunk by chunk until either side ends.
class StreamSink : public core::ByteSink {
 public:
  explicit StreamSink(std::shared_ptr<core::http::ResponseStream> out) : out_(std::move(out)) {}
  core::Result<void> write(std::string_view data) override {
    if (out_->closed()) return core::fail(core::Errc::kConflict, "client left");
    out_->write(std::string(data));
    return {};
  }

 private:
  std::shared_ptr<core::http::ResponseStream> out_;
};

}  // namespace

bool kubelet_subresource(const Attributes& a) {
  return a.resource_request && a.group.empty() && a.resource == "pods" &&
         (a.subresource == "log" || a.subresource == "exec" || a.subresource == "attach" ||
          a.subresource == "portforward");
}

void proxy_to_kubelet(datastore::Backend& store, const core::http::ClientOptions& kubelet,
                      const Attributes& a, const core::http::ServerRequest& request,
                      core::http::ResponseWriter& w) {
  auto pod = load(store, "/registry/pods/" + a.ns + "/" + a.name);
  if (!pod) return rest_detail::send_error(w, 404, "NotFound", "pods \"" + a.name + "\" not found");
  std::string node_name = (*pod)["spec"].value("nodeName", "");
  auto node = node_name.empty() ? std::nullopt : load(store, "/registry/nodes/" + node_name);
  if (!node)
    return rest_detail::send_error(w, 400, "BadRequest",
                                   "pod " + a.name + " does not have a host assigned");
  std::string ip;
  for (const auto& addr : (*node)["status"].value("addresses", json::array()))
    if (addr.value("type", "") == "InternalIP" && ip.empty()) ip = addr.value("address", "");
  int port = (*node)["status"]["daemonEndpoints"]["kubeletEndpoint"].value("Port", 10250);
  auto [query, container] = split_container(request.query);
  if (a.subresource != "portforward" && container.empty()) {
    const json& containers = (*pod)["spec"]["containers"];
    std::string preferred = (*pod)["metadata"]
                                .value("annotations", json::object())
                                .value("kubectl.kubernetes.io/default-container", "");
    if (!preferred.empty()) {
      container = preferred;
    } else if (containers.size() == 1) {
      container = containers[0].value("name", "");
    } else {
      std::string names;
      for (const auto& c : containers) names += (names.empty() ? "" : " ") + c.value("name", "");
      return rest_detail::send_error(w, 400, "BadRequest",
                                     "a container name must be specified for pod " + a.name +
                                         ", choose one of: [" + names + "]");
    }
  }
  if (!container.empty()) {
    bool known = false;
    for (const char* group : {"containers", "initContainers", "ephemeralContainers"})
      for (const auto& c : (*pod)["spec"].value(group, json::array()))
        known |= c.value("name", "") == container;
    if (!known)
      return rest_detail::send_error(
          w, 400, "BadRequest", "container " + container + " is not valid for pod " + a.name);
  }
  std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
  std::string base = "https://" + host + ":" + std::to_string(port);
  std::string path = a.subresource == "log"      ? "/containerLogs/"
                     : a.subresource == "exec"   ? "/exec/"
                     : a.subresource == "attach" ? "/attach/"
                                                 : "/portForward/";
  std::string url = base + path + a.ns + "/" + a.name + (container.empty() ? "" : "/" + container) +
                    (query.empty() ? "" : "?" + query);
  if (a.subresource != "log") return core::http::proxy_upgrade(request, url, kubelet, w);
  core::http::ClientOptions options = kubelet;
  options.retries = 0;
  bool follow = query.find("follow=true") != std::string::npos;
  if (!follow) {
    core::http::Client client(options);
    auto r = client.send({.url = url});
    if (!r) return rest_detail::send_error(w, 500, "InternalError", r.error().message());
    w.set_status(r->status);
    w.add_header("Content-Type", r->header("Content-Type").value_or("text/plain"));
    return w.send(std::move(r->body));
  }
  options.io_timeout = std::chrono::hours(24);
  w.add_header("Content-Type", "text/plain");
  w.stream([url, options](std::shared_ptr<core::http::ResponseStream> out) {
    std::thread([url, options, out] {
      core::http::Client client(options);
      StreamSink sink(out);
      auto r = client.download({.url = url}, sink);
      if (r && r->status / 100 != 2) out->write(r->body);
      out->close();
    }).detach();
  });
}

}  // namespace k3s::apiserver
