#include "k3s/agent/kubelet/probes.h"

#include <unistd.h>

#include "core/base/log.h"
#include "core/http/client.h"
#include "k3s/agent/kubelet/cri.h"
#include "k3s/agent/load_balancer.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;

int port_of(const json& port, const json& container) {
  if (port.is_number_integer()) return port.get<int>();
  if (!port.is_string()) return 0;
  for (const auto& p : container.value("ports", json::array()))
    if (p.value("name", "") == port.get<std::string>()) return p.value("containerPort", 0);
  return std::atoi(port.get<std::string>().c_str());
}

}  // namespace

bool run_probe(core::grpc::Client& cri, const json& probe, const json& container,
               const std::string& container_id, const std::string& pod_ip) {
  int timeout = std::max(1, probe.value("timeoutSeconds", 1));
  if (probe.contains("exec")) {
    cri::v1::ExecSyncRequest req;
    req.set_container_id(container_id);
    req.set_timeout(timeout);
    for (const auto& a : probe["exec"].value("command", json::array()))
      if (a.is_string()) req.add_cmd(a.get<std::string>());
    auto r = cri::call<cri::v1::ExecSyncResponse>(cri, "RuntimeService/ExecSync", req);
    return r && r->exit_code() == 0;
  }
  if (probe.contains("httpGet")) {
    const json& h = probe["httpGet"];
    std::string host = h.value("host", "");
    if (host.empty()) host = pod_ip;
    std::string scheme = h.value("scheme", "HTTP") == "HTTPS" ? "https" : "http";
    std::string path = h.value("path", "/");
    if (!path.starts_with("/")) path = "/" + path;
    core::http::ClientOptions options{.insecure_skip_verify = true,
                                      .connect_timeout = std::chrono::seconds(timeout),
                                      .io_timeout = std::chrono::seconds(timeout),
                                      .retries = 0,
                                      .proxy = "",
                                      .user_agent = "kube-probe/1.32"};
    core::http::Client client(options);
    core::http::Request req{.url = scheme + "://" + host + ":" +
                                   std::to_string(port_of(h.value("port", json()), container)) +
                                   path};
    for (const auto& header : h.value("httpHeaders", json::array()))
      req.headers.emplace_back(header.value("name", ""), header.value("value", ""));
    auto r = client.send(req);
    return r && r->status >= 200 && r->status < 400;
  }
  if (probe.contains("tcpSocket")) {
    const json& t = probe["tcpSocket"];
    std::string host = t.value("host", "");
    if (host.empty()) host = pod_ip;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    int fd = dial_tcp(host + ":" + std::to_string(port_of(t.value("port", json()), container)),
                      timeout * 1000);
    if (fd >= 0) ::close(fd);
    return fd >= 0;
  }
  return true;  // gRPC probes are not run
}

}  // namespace k3s::agent::kubelet
