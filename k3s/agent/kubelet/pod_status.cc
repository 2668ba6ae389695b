// The pod status from the runtime's state: what upstream's kubelet computes in
// generateAPIPodStatus, for the fields kubectl and the controllers read.
#include <ctime>

#include "core/base/time.h"
#include "k3s/agent/kubelet/fields.h"
#include "k3s/agent/kubelet/pod_sync.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;

std::string rfc3339(int64_t nanos) {
  return core::format_rfc3339(static_cast<int64_t>(nanos / 1000000000));
}

json terminated(const cri::v1::ContainerStatus& c) {
  std::string reason = c.reason();
  if (reason.empty()) reason = c.exit_code() == 0 ? "Completed" : "Error";
  json t = {{"exitCode", c.exit_code()},
            {"reason", reason},
            {"startedAt", rfc3339(c.started_at())},
            {"finishedAt", rfc3339(c.finished_at())},
            {"containerID", "containerd://" + c.id()}};
  if (!c.message().empty()) t["message"] = c.message();
  return t;
}

json container_status(const json& container, const RuntimePod& rt, const PodMemory& mem) {
  std::string name = container.value("name", "");
  const cri::v1::ContainerStatus* c = rt.latest(name);
  const cri::v1::ContainerStatus* prev = rt.previous(name);
  json s = {{"name", name},
            {"image", container.value("image", "")},
            {"imageID", c ? c->image_ref() : ""},
            {"ready", false},
            {"restartCount", c ? c->metadata().attempt() : 0},
            {"started", false},
            {"lastState", json::object()},
            {"state", json::object()}};
  if (c) s["containerID"] = "containerd://" + c->id();
  if (prev && prev->state() == cri::v1::CONTAINER_EXITED)
    s["lastState"] = {{"terminated", terminated(*prev)}};
  auto waiting = mem.waiting.find(name);
  if (c && c->state() == cri::v1::CONTAINER_RUNNING) {
    s["state"] = {{"running", {{"startedAt", rfc3339(c->started_at())}}}};
    auto probe = [&](const char* kind) {
      if (!container.contains(kind)) return true;
      auto p = mem.probes.find(name + "/" + kind);
      return p != mem.probes.end() && p->second.container_id == c->id() && p->second.ok;
    };
    s["started"] = probe("startupProbe");
    s["ready"] = s["started"].get<bool>() && probe("readinessProbe");
  } else if (waiting != mem.waiting.end()) {
    s["state"] = {
        {"waiting", {{"reason", waiting->second.first}, {"message", waiting->second.second}}}};
    if (c && c->state() == cri::v1::CONTAINER_EXITED)
      s["lastState"] = {{"terminated", terminated(*c)}};
  } else if (c && c->state() == cri::v1::CONTAINER_EXITED) {
    s["state"] = {{"terminated", terminated(*c)}};
  } else {
    s["state"] = {{"waiting", {{"reason", "ContainerCreating"}}}};
  }
  return s;
}

std::string phase(const json& pod, const json& init, const json& app) {
  std::string policy = obj(pod, "spec").value("restartPolicy", "Always");
  for (const auto& s : init) {
    if (s["state"].contains("terminated") && s["state"]["terminated"].value("exitCode", 0) != 0 &&
        policy == "Never")
      return "Failed";
    if (!s["state"].contains("terminated") || s["state"]["terminated"].value("exitCode", 0) != 0)
      return "Pending";
  }
  int running = 0, waiting = 0, succeeded = 0, failed = 0, restarting = 0;
  for (const auto& s : app) {
    if (s["state"].contains("running")) {
      running++;
    } else if (s["state"].contains("terminated")) {
      (s["state"]["terminated"].value("exitCode", 0) == 0 ? succeeded : failed)++;
    } else if (s["lastState"].contains("terminated")) {
      restarting++;
    } else {
      waiting++;
    }
  }
  if (waiting > 0) return "Pending";
  if (running > 0 || restarting > 0) return "Running";
  if (failed > 0) return policy == "Always" ? "Running" : "Failed";
  if (succeeded > 0) return policy == "Always" ? "Running" : "Succeeded";
  return "Pending";
}

// Guaranteed when every container limits cpu and memory with requests equal to the limits,
// BestEffort when none asks for anything, Burstable otherwise.
std::string qos_class(const json& spec) {
  bool any = false, guaranteed = true;
  for (const char* group : {"initContainers", "containers"}) {
    for (const auto& c : arr(spec, group)) {
      const json& limits = obj(obj(c, "resources"), "limits");
      const json& requests = obj(obj(c, "resources"), "requests");
      any |= !limits.empty() || !requests.empty();
      for (const char* r : {"cpu", "memory"}) {
        if (!limits.contains(r) ||
            (requests.contains(r) && quantity(requests[r]) != quantity(limits[r])))
          guaranteed = false;
      }
    }
  }
  return !any ? "BestEffort" : guaranteed ? "Guaranteed" : "Burstable";
}

}  // namespace

json pod_status(const json& pod, const RuntimePod& rt, const PodMemory& mem,
                const NodeContext& node) {
  const json& spec = obj(pod, "spec");
  const json& old = obj(pod, "status");
  json init = json::array(), app = json::array();
  for (const auto& c : arr(spec, "initContainers")) init.push_back(container_status(c, rt, mem));
  for (const auto& c : arr(spec, "containers")) app.push_back(container_status(c, rt, mem));
  std::string p = phase(pod, init, app);
  bool initialized = true, ready = p == "Running";
  for (const auto& s : init)
    initialized = initialized && s["state"].contains("terminated") &&
                  s["state"]["terminated"].value("exitCode", 1) == 0;
  for (const auto& s : app) ready = ready && s.value("ready", false);
  bool sandbox = rt.ready_sandbox() != nullptr;
  // Conditions keep their transition time while their status holds.
  auto condition = [&](const std::string& type, bool value, const std::string& reason) {
    std::string status = value ? "True" : "False";
    json c = {{"type", type}, {"status", status}, {"lastProbeTime", nullptr}};
    c["lastTransitionTime"] = core::format_rfc3339(std::time(nullptr));
    for (const auto& o : arr(old, "conditions"))
      if (o.value("type", "") == type && o.value("status", "") == status)
        c["lastTransitionTime"] =
            o.value("lastTransitionTime", c["lastTransitionTime"].get<std::string>());
    if (!value && !reason.empty()) c["reason"] = reason;
    return c;
  };
  bool done = p == "Succeeded" || p == "Failed";
  json conditions = {
      condition("PodReadyToStartContainers", sandbox, ""),
      condition("Initialized", initialized, "ContainersNotInitialized"),
      condition("Ready", ready, done ? "PodCompleted" : "ContainersNotReady"),
      condition("ContainersReady", ready, done ? "PodCompleted" : "ContainersNotReady"),
      condition("PodScheduled", true, "")};
  json status = {{"phase", p},
                 {"conditions", conditions},
                 {"hostIP", node.node_ip},
                 {"hostIPs", {{{"ip", node.node_ip}}}},
                 {"containerStatuses", app},
                 {"qosClass", qos_class(spec)},
                 {"startTime", old.value("startTime", core::format_rfc3339(std::time(nullptr)))}};
  if (!init.empty()) status["initContainerStatuses"] = init;
  if (!mem.pod_ip.empty()) {
    status["podIP"] = mem.pod_ip;
    status["podIPs"] = {{{"ip", mem.pod_ip}}};
  }
  return status;
}

}  // namespace k3s::agent::kubelet
