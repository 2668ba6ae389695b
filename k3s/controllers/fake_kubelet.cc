#include "k3s/controllers/fake_kubelet.h"

#include <map>
#include <set>

#include "core/base/time.h"
#include "k3s/controllers/local_api.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;

bool fake(const std::string& node) { return node.starts_with("fake-"); }

}  // namespace

FakeKubelet::FakeKubelet(Call call, std::chrono::milliseconds period, int lease_seconds)
    : call_(std::move(call)), period_(period), lease_seconds_(lease_seconds), thread_([this] {
        while (!stop_) {
          tick();
          std::this_thread::sleep_for(period_);
        }
      }) {}

FakeKubelet::~FakeKubelet() {
  stop_ = true;
  thread_.join();
}

void FakeKubelet::tick() {
  auto nodes = get("/api/v1/nodes");
  auto pods = get("/api/v1/pods");
  auto leases = get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases");
  if (!nodes || !pods || !leases) return;
  std::map<std::string, json> lease_of;
  for (const auto& l : (*leases)["items"]) lease_of[l["metadata"].value("name", "")] = l;
  std::set<std::string> alive;
  for (const auto& node : (*nodes)["items"]) {
    std::string name = node["metadata"].value("name", "");
    json labels = node["metadata"].value("labels", json::object());
    if (!fake(name) || labels.value("fake-kubelet/stopped", "") == "true") continue;
    alive.insert(name);
    heartbeat(node, lease_of.count(name) ? lease_of[name] : json());
  }
  for (const auto& pod : (*pods)["items"]) {
    if (alive.count(pod["spec"].value("nodeName", ""))) run_pod(pod);
  }
}

void FakeKubelet::heartbeat(const json& node, const json& lease) {
  std::string name = node["metadata"]["name"];
  int64_t now = core::system_now();
  std::string stamp = core::format_rfc3339(now);
  json status = node.value("status", json::object());
  json ready;
  for (const auto& c : status.value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") ready = c;
  }
  auto beat = core::parse_rfc3339(ready.is_object() ? ready.value("lastHeartbeatTime", "") : "");
  // Like a kubelet: the full status when something changed or every five minutes, the lease
  // in between.
  if (!ready.is_object() || ready.value("status", "") != "True" || !beat || *beat + 300 < now) {
    json body = node;
    body["status"]["conditions"] = json::array(
        {{{"type", "Ready"},
          {"status", "True"},
          {"reason", "KubeletReady"},
          {"message", "kubelet is posting ready status"},
          {"lastHeartbeatTime", stamp},
          {"lastTransitionTime", ready.is_object() && ready.value("status", "") == "True"
                                     ? ready.value("lastTransitionTime", stamp)
                                     : stamp}}});
    if (!status.contains("allocatable")) {
      body["status"]["capacity"] = {{"cpu", "4"}, {"memory", "8Gi"}, {"pods", "110"}};
      body["status"]["allocatable"] = body["status"]["capacity"];
    }
    // fake-N has 10.0.0.N (10.0.0.1 for other names).
    std::string n = name.substr(name.rfind('-') + 1);
    bool numbered = !n.empty() && n.size() <= 3 && std::all_of(n.begin(), n.end(), ::isdigit);
    body["status"]["addresses"] =
        json::array({{{"type", "InternalIP"}, {"address", "10.0.0." + (numbered ? n : "1")}},
                     {{"type", "Hostname"}, {"address", name}}});
    (void)send("PUT", "/api/v1/nodes/" + name + "/status", body);
  }
  std::string lease_path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + name;
  std::string micro = stamp.substr(0, stamp.size() - 1) + ".000000Z";
  if (lease.is_null()) {
    json l = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", name}, {"namespace", "kube-node-lease"}}},
        {"spec", {{"holderIdentity", name}, {"leaseDurationSeconds", 40}, {"renewTime", micro}}}};
    (void)send("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", l);
  } else if (core::parse_rfc3339(lease["spec"].value("renewTime", "")).value_or(0) +
                 lease_seconds_ <=
             now) {
    json patch = {{"spec", {{"renewTime", micro}}}};
    (void)send("PATCH", lease_path, patch, "application/merge-patch+json");
  }
}

void FakeKubelet::run_pod(const json& pod) {
  std::string path = object_path("v1", "pods", pod["metadata"].value("namespace", ""),
                                 pod["metadata"].value("name", ""));
  if (pod["metadata"].contains("deletionTimestamp")) {
    (void)send("DELETE", path,
               {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"gracePeriodSeconds", 0}});
    return;
  }
  json status = pod.value("status", json::object());
  std::string phase = status.value("phase", "Pending");
  if (phase == "Running" || phase == "Succeeded" || phase == "Failed") {
    if (phase != "Running" || pod["spec"].value("restartPolicy", "Always") == "Always") return;
  }
  std::string restart = pod["spec"].value("restartPolicy", "Always");
  std::string exit_code =
      pod["metadata"].value("annotations", json::object()).value("fake-kubelet/exit-code", "0");
  std::string now = core::format_rfc3339(core::system_now());
  bool finishes = restart != "Always" && phase == "Running";
  std::string next = !finishes ? "Running" : exit_code == "0" ? "Succeeded" : "Failed";
  bool ready = next == "Running";
  json statuses = json::array();
  for (const auto& c : pod["spec"].value("containers", json::array())) {
    json state = ready ? json{{"running", {{"startedAt", now}}}}
                       : json{{"terminated",
                               {{"exitCode", std::stoi(exit_code)},
                                {"reason", exit_code == "0" ? "Completed" : "Error"},
                                {"startedAt", now},
                                {"finishedAt", now}}}};
    statuses.push_back({{"name", c.value("name", "")},
                        {"image", c.value("image", "")},
                        {"imageID", ""},
                        {"ready", ready},
                        {"started", ready},
                        {"restartCount", 0},
                        {"state", state}});
  }
  std::string cond = ready ? "True" : "False";
  json body = pod;
  body["status"] = {
      {"phase", next},
      {"hostIP", "10.0.0.1"},
      {"podIP", "10.42.0." + std::to_string(std::hash<std::string>{}(path) % 250 + 2)},
      {"startTime", status.value("startTime", now)},
      {"conditions",
       {{{"type", "PodScheduled"}, {"status", "True"}, {"lastTransitionTime", now}},
        {{"type", "Initialized"}, {"status", "True"}, {"lastTransitionTime", now}},
        {{"type", "ContainersReady"}, {"status", cond}, {"lastTransitionTime", now}},
        {{"type", "Ready"}, {"status", cond}, {"lastTransitionTime", now}}}},
      {"containerStatuses", statuses}};
  body["status"]["podIPs"] = json::array({{{"ip", body["status"]["podIP"]}}});
  (void)send("PUT", path + "/status", body);
}

}  // namespace k3s::controllers
