#include "k3s/agent/kubelet/pod_sync.h"

#include <algorithm>
#include <thread>

#include "core/base/log.h"
#include "core/fs/files.h"
#include "k3s/agent/kubelet/fields.h"
#include "k3s/agent/kubelet/volumes.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;
using core::Errc;
constexpr auto kResync = std::chrono::seconds(10);
constexpr auto kVolumeRefresh = std::chrono::seconds(60);

bool terminal(const json& pod) {
  std::string phase = str(obj(pod, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

}  // namespace

std::chrono::seconds restart_backoff(uint32_t restarts) {
  if (restarts == 0) return std::chrono::seconds(0);
  int64_t s = 10;
  for (uint32_t i = 1; i < restarts && s < 300; ++i) s *= 2;
  return std::chrono::seconds(std::min<int64_t>(s, 300));
}

const cri::v1::ContainerStatus* RuntimePod::latest(const std::string& name) const {
  const cri::v1::ContainerStatus* best = nullptr;
  for (const auto& c : containers)
    if (c.metadata().name() == name &&
        (!best || c.metadata().attempt() >= best->metadata().attempt()))
      best = &c;
  return best;
}

const cri::v1::ContainerStatus* RuntimePod::previous(const std::string& name) const {
  const cri::v1::ContainerStatus* top = latest(name);
  const cri::v1::ContainerStatus* best = nullptr;
  for (const auto& c : containers)
    if (&c != top && c.metadata().name() == name &&
        (!best || c.metadata().attempt() >= best->metadata().attempt()))
      best = &c;
  return best;
}

const cri::v1::PodSandbox* RuntimePod::ready_sandbox() const {
  const cri::v1::PodSandbox* best = nullptr;
  for (const auto& s : sandboxes)
    if (s.state() == cri::v1::SANDBOX_READY && (!best || s.created_at() > best->created_at()))
      best = &s;
  return best;
}

PodSyncer::PodSyncer(SharedState& state, const NodeContext& node, const std::string& cri_socket,
                     client::Endpoint api)
    : state_(state),
      node_(node),
      cri_socket_(cri_socket),
      cri_(cri_socket),
      kube_(std::move(api)),
      get_([this](const std::string& r, const std::string& ns, const std::string& n) {
        return get_object(r, ns, n);
      }),
      token_([this](const json& p, const std::string& audience, int64_t seconds) {
        return request_token(p, audience, seconds);
      }) {}

core::Result<RuntimePod> PodSyncer::observe(const std::string& uid) {
  RuntimePod rt;
  cri::v1::ListPodSandboxRequest sandboxes;
  (*sandboxes.mutable_filter()->mutable_label_selector())[kPodUidLabel] = uid;
  auto listed = K3A_TRY(
      cri::call<cri::v1::ListPodSandboxResponse>(cri_, "RuntimeService/ListPodSandbox", sandboxes));
  rt.sandboxes.assign(listed.items().begin(), listed.items().end());
  std::sort(rt.sandboxes.begin(), rt.sandboxes.end(),
            [](const auto& a, const auto& b) { return a.created_at() < b.created_at(); });
  cri::v1::ListContainersRequest containers;
  (*containers.mutable_filter()->mutable_label_selector())[kPodUidLabel] = uid;
  auto found = K3A_TRY(cri::call<cri::v1::ListContainersResponse>(
      cri_, "RuntimeService/ListContainers", containers));
  for (const auto& c : found.containers()) {
    cri::v1::ContainerStatusRequest req;
    req.set_container_id(c.id());
    auto status =
        cri::call<cri::v1::ContainerStatusResponse>(cri_, "RuntimeService/ContainerStatus", req);
    if (status) rt.containers.push_back(status->status());
  }
  std::sort(rt.containers.begin(), rt.containers.end(),
            [](const auto& a, const auto& b) { return a.created_at() < b.created_at(); });
  return rt;
}

Clock::duration PodSyncer::sync(const std::string& uid) {
  json pod;
  PodMemory* mem;
  {
    std::lock_guard lock(state_.mu);
    auto it = state_.pods.find(uid);
    if (it != state_.pods.end()) pod = it->second;
    mem = &state_.memory[uid];
  }
  auto rt = observe(uid);
  if (!rt) {
    core::log::warn("pod {}: runtime: {}", uid, rt.error().message());
    return std::chrono::seconds(2);
  }
  if (pod.is_null() || obj(pod, "metadata").contains("deletionTimestamp")) {
    const json& meta = obj(pod, "metadata");
    int64_t grace = meta.value("deletionGracePeriodSeconds",
                               obj(pod, "spec").value("terminationGracePeriodSeconds", 30));
    kill(uid, *rt, grace);
    remove_pod_dir(uid, node_);
    if (!pod.is_null()) {
      json options = {{"apiVersion", "v1"},
                      {"kind", "DeleteOptions"},
                      {"gracePeriodSeconds", 0},
                      {"preconditions", {{"uid", uid}}}};
      auto gone = kube_.call(
          "DELETE", "/api/v1/namespaces/" + str(meta, "namespace") + "/pods/" + str(meta, "name"),
          &options);
      if (!gone && gone.error().code() != Errc::kNotFound && gone.error().code() != Errc::kConflict)
        core::log::warn("pod {}/{}: final delete: {}", str(meta, "namespace"), str(meta, "name"),
                        gone.error().message());
    }
    std::lock_guard lock(state_.mu);
    state_.memory.erase(uid);
    if (pod.is_null()) return std::chrono::hours(24);
    return std::chrono::seconds(1);
  }
  if (terminal(pod)) {
    // Done: its sandbox is stopped, its containers kept for their logs.
    for (const auto& s : rt->sandboxes) {
      if (s.state() != cri::v1::SANDBOX_READY) continue;
      cri::v1::StopPodSandboxRequest stop;
      stop.set_pod_sandbox_id(s.id());
      (void)cri::call<cri::v1::StopPodSandboxResponse>(cri_, "RuntimeService/StopPodSandbox", stop);
    }
    return kResync;
  }
  return run(pod, *rt, *mem);
}

void PodSyncer::kill(const std::string& uid, const RuntimePod& rt, int64_t grace_seconds) {
  std::vector<std::thread> stoppers;
  for (const auto& c : rt.containers) {
    if (c.state() != cri::v1::CONTAINER_RUNNING) continue;
    stoppers.emplace_back([this, id = c.id(), grace_seconds] {
      cri::stop_container(cri_socket_, id, grace_seconds);
    });
  }
  for (auto& t : stoppers) t.join();
  for (const auto& s : rt.sandboxes) {
    cri::v1::StopPodSandboxRequest stop;
    stop.set_pod_sandbox_id(s.id());
    (void)cri::call<cri::v1::StopPodSandboxResponse>(cri_, "RuntimeService/StopPodSandbox", stop);
  }
  for (const auto& c : rt.containers) cri::remove_container(cri_, c.id());
  for (const auto& s : rt.sandboxes) {
    cri::v1::RemovePodSandboxRequest remove;
    remove.set_pod_sandbox_id(s.id());
    (void)cri::call<cri::v1::RemovePodSandboxResponse>(cri_, "RuntimeService/RemovePodSandbox",
                                                       remove);
  }
  if (!rt.sandboxes.empty())
    core::log::info("pod {}: stopped {} containers and {} sandboxes", uid, rt.containers.size(),
                    rt.sandboxes.size());
}

core::Result<json> PodSyncer::get_object(const std::string& resource, const std::string& ns,
                                         const std::string& name) {
  std::string path = ns.empty() ? "/api/v1/" + resource + "/" + name
                                : "/api/v1/namespaces/" + ns + "/" + resource + "/" + name;
  return kube_.call("GET", path);
}

// A token for the pod's service account, bound to the pod.
core::Result<std::string> PodSyncer::request_token(const json& p, const std::string& audience,
                                                   int64_t seconds) {
  const json& meta = obj(p, "metadata");
  json request = {{"apiVersion", "authentication.k8s.io/v1"},
                  {"kind", "TokenRequest"},
                  {"spec",
                   {{"expirationSeconds", seconds},
                    {"boundObjectRef",
                     {{"apiVersion", "v1"},
                      {"kind", "Pod"},
                      {"name", str(meta, "name")},
                      {"uid", str(meta, "uid")}}}}}};
  if (!audience.empty()) request["spec"]["audiences"] = {audience};
  std::string sa = str(obj(p, "spec"), "serviceAccountName");
  auto answer =
      K3A_TRY(kube_.call("POST",
                         "/api/v1/namespaces/" + str(meta, "namespace") + "/serviceaccounts/" +
                             (sa.empty() ? "default" : sa) + "/token",
                         &request));
  return str(obj(answer, "status"), "token");
}

core::Result<void> PodSyncer::ensure_sandbox(const json& pod, RuntimePod& rt, PodMemory& mem) {
  const cri::v1::PodSandbox* ready = rt.ready_sandbox();
  if (ready && ready->id() == mem.sandbox_id) {
    if (Clock::now() - mem.volumes_refreshed > kVolumeRefresh) {
      auto volumes = prepare_volumes(pod, node_, get_, token_);
      if (volumes) mem.volumes = *volumes;
      mem.volumes_refreshed = Clock::now();
    }
    return {};
  }
  uint32_t attempt = 0;
  if (ready) {
    // Adopted after a restart of the agent.
    attempt = ready->metadata().attempt();
  } else {
    // None, or it died: everything of the pod starts over in a new sandbox.
    for (const auto& s : rt.sandboxes) attempt = std::max(attempt, s.metadata().attempt() + 1);
    if (!rt.sandboxes.empty()) kill(str(obj(pod, "metadata"), "uid"), rt, 0);
    rt = {};
  }
  mem.volumes = K3A_TRY(prepare_volumes(pod, node_, get_, token_));
  mem.volumes_refreshed = Clock::now();
  std::string id;
  if (ready) {
    id = ready->id();
  } else {
    K3A_CHECK(core::make_dirs(pod_log_dir(pod, node_), 0755));
    cri::v1::RunPodSandboxRequest req;
    *req.mutable_config() = sandbox_config(pod, attempt, node_);
    auto made = K3A_TRY(
        cri::call<cri::v1::RunPodSandboxResponse>(cri_, "RuntimeService/RunPodSandbox", req));
    id = made.pod_sandbox_id();
  }
  cri::v1::PodSandboxStatusRequest status;
  status.set_pod_sandbox_id(id);
  auto s = K3A_TRY(cri::call<cri::v1::PodSandboxStatusResponse>(
      cri_, "RuntimeService/PodSandboxStatus", status));
  mem.sandbox_id = id;
  mem.pod_ip =
      obj(pod, "spec").value("hostNetwork", false) ? node_.node_ip : s.status().network().ip();
  K3A_CHECK(write_hosts_file(pod, mem.pod_ip, node_));
  rt.sandboxes.push_back(cri::v1::PodSandbox());
  rt.sandboxes.back().set_id(id);
  rt.sandboxes.back().set_state(cri::v1::SANDBOX_READY);
  rt.sandboxes.back().set_created_at(s.status().created_at());
  return {};
}

void PodSyncer::write_status(const json& pod, const RuntimePod& rt, PodMemory& mem) {
  json status = pod_status(pod, rt, mem, node_);
  if (status == mem.written) return;
  const json& meta = obj(pod, "metadata");
  json patch = {{"status", status}};
  auto r = kube_.call(
      "PATCH",
      "/api/v1/namespaces/" + str(meta, "namespace") + "/pods/" + str(meta, "name") + "/status",
      &patch, "application/merge-patch+json");
  if (r)
    mem.written = status;
  else if (r.error().code() != Errc::kNotFound)
    core::log::warn("pod {}/{}: status: {}", str(meta, "namespace"), str(meta, "name"),
                    r.error().message());
}

}  // namespace k3s::agent::kubelet
