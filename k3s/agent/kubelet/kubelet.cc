#include "k3s/agent/kubelet/kubelet.h"

#include <atomic>
#include <condition_variable>
#include <set>
#include <thread>

#include "core/base/log.h"
#include "k3s/agent/kubelet/pod_sync.h"
#include "k3s/controllers/work_queue.h"

namespace k3s::agent::kubelet {

using json = nlohmann::json;

struct Kubelet::Impl {
  client::Endpoint api;
  KubeletOptions options;
  SharedState state;
  controllers::WorkQueue queue;
  std::atomic<bool> stopping{false};
  std::mutex wake_mu;
  std::condition_variable wake;
  std::vector<std::thread> threads;

  bool pause(std::chrono::milliseconds d) {
    std::unique_lock lock(wake_mu);
    return !wake.wait_for(lock, d, [this] { return stopping.load(); });
  }

  // Keeps state.pods current: a list of the node's pods, then a watch from its revision.
  void watch_pods() {
    client::KubeClient kube(api);
    std::string selector = "fieldSelector=spec.nodeName%3D" + options.node.node_name;
    while (!stopping) {
      auto listed = kube.call("GET", "/api/v1/pods?" + selector);
      if (!listed) {
        core::log::warn("kubelet: listing pods: {}", listed.error().message());
        if (!pause(std::chrono::seconds(2))) return;
        continue;
      }
      std::set<std::string> present;
      {
        std::lock_guard lock(state.mu);
        std::set<std::string> before;
        for (const auto& [uid, pod] : state.pods) before.insert(uid);
        state.pods.clear();
        for (const auto& pod : (*listed)["items"]) {
          std::string uid = pod["metadata"].value("uid", "");
          state.pods[uid] = pod;
          present.insert(uid);
        }
        for (const auto& uid : before)
          if (!present.count(uid)) queue.add(uid);
      }
      state.listed = true;
      for (const auto& uid : present) queue.add(uid);
      std::string rv = (*listed)["metadata"].value("resourceVersion", "");
      while (!stopping) {
        bool expired = false;
        auto watched = kube.watch(
            "/api/v1/pods?" + selector + "&watch=1&allowWatchBookmarks=true&timeoutSeconds=5" +
                "&resourceVersion=" + rv,
            [&](const json& event) {
              std::string type = event.value("type", "");
              const json& pod = event.value("object", json::object()).is_object() ? event["object"]
                                                                                  : json::object();
              if (type == "ERROR") {
                expired = true;
                return false;
              }
              rv = pod.value("metadata", json::object()).value("resourceVersion", rv);
              if (type == "BOOKMARK") return !stopping.load();
              std::string uid = pod["metadata"].value("uid", "");
              {
                std::lock_guard lock(state.mu);
                if (type == "DELETED")
                  state.pods.erase(uid);
                else
                  state.pods[uid] = pod;
              }
              queue.add(uid);
              return !stopping.load();
            });
        if (!watched || expired) break;
      }
    }
  }

  // The runtime relisted every second: a pod whose containers or sandboxes changed state is
  // synced; sandboxes of pods the API no longer has are removed.
  void relist() {
    core::grpc::Client cri(options.cri_socket);
    std::map<std::string, int> seen;  // container or sandbox id → state
    auto last_resync = Clock::now();
    while (pause(std::chrono::seconds(1))) {
      std::map<std::string, int> now;
      std::set<std::string> changed;
      auto containers = cri::call<cri::v1::ListContainersResponse>(
          cri, "RuntimeService/ListContainers", cri::v1::ListContainersRequest());
      auto sandboxes = cri::call<cri::v1::ListPodSandboxResponse>(
          cri, "RuntimeService/ListPodSandbox", cri::v1::ListPodSandboxRequest());
      if (!containers || !sandboxes || !state.listed) continue;
      auto note = [&](const std::string& id, int st,
                      const google::protobuf::Map<std::string, std::string>& labels) {
        auto uid = labels.find(kPodUidLabel);
        if (uid == labels.end()) return;
        now[id] = st;
        auto it = seen.find(id);
        if (it == seen.end() || it->second != st) changed.insert(uid->second);
      };
      for (const auto& c : containers->containers()) note(c.id(), c.state(), c.labels());
      for (const auto& s : sandboxes->items()) note(s.id(), 10 + s.state(), s.labels());
      seen = std::move(now);
      {
        std::lock_guard lock(state.mu);
        for (const auto& s : sandboxes->items()) {
          auto uid = s.labels().find(kPodUidLabel);
          if (uid != s.labels().end() && !state.pods.count(uid->second))
            changed.insert(uid->second);
        }
        if (Clock::now() - last_resync > std::chrono::seconds(10)) {
          last_resync = Clock::now();
          for (const auto& [uid, pod] : state.pods) changed.insert(uid);
        }
      }
      for (const auto& uid : changed) queue.add(uid);
    }
  }

  void work() {
    PodSyncer syncer(state, options.node, options.cri_socket, api);
    while (auto uid = queue.take()) {
      auto again = syncer.sync(*uid);
      queue.done(*uid);
      if (!stopping && again < std::chrono::hours(1)) queue.add_after(*uid, again);
    }
  }
};

Kubelet::Kubelet(client::Endpoint api, KubeletOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->api = std::move(api);
  impl_->options = std::move(options);
}

Kubelet::~Kubelet() { stop(); }

void Kubelet::start() {
  Impl& i = *impl_;
  i.threads.emplace_back([&i] { i.watch_pods(); });
  i.threads.emplace_back([&i] { i.relist(); });
  i.threads.emplace_back([&i] {
    pull_images(i.state.pulls, i.options.cri_socket, i.stopping,
                [&i](const std::string& uid) { i.queue.add(uid); });
  });
  for (int n = 0; n < i.options.workers; ++n) i.threads.emplace_back([&i] { i.work(); });
}

void Kubelet::stop() {
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.wake_mu);
    i.stopping = true;
  }
  i.wake.notify_all();
  {
    std::lock_guard lock(i.state.pulls.mu);  // the puller is waiting, or sees `stopping` next
  }
  i.state.pulls.wake.notify_all();
  i.queue.shutdown();
  for (auto& t : i.threads)
    if (t.joinable()) t.join();
  i.threads.clear();
}

core::Result<ContainerRef> Kubelet::find_container(const std::string& ns, const std::string& pod,
                                                   const std::string& container, bool previous) {
  json found;
  {
    std::lock_guard lock(impl_->state.mu);
    for (const auto& [uid, p] : impl_->state.pods)
      if (p["metadata"].value("namespace", "") == ns && p["metadata"].value("name", "") == pod)
        found = p;
  }
  if (found.is_null())
    return core::failf(core::Errc::kNotFound, "pod \"{}\" not found in namespace \"{}\"", pod, ns);
  std::string name = container;
  const json& containers = found["spec"]["containers"];
  if (name.empty()) {
    if (containers.size() != 1)
      return core::failf(core::Errc::kInvalid, "a container name must be specified for pod {}",
                         pod);
    name = containers[0].value("name", "");
  }
  core::grpc::Client cri(impl_->options.cri_socket);
  cri::v1::ListContainersRequest req;
  (*req.mutable_filter()->mutable_label_selector())[kPodUidLabel] =
      found["metadata"].value("uid", "");
  (*req.mutable_filter()->mutable_label_selector())[kContainerNameLabel] = name;
  auto listed = K3A_TRY(
      cri::call<cri::v1::ListContainersResponse>(cri, "RuntimeService/ListContainers", req));
  std::vector<cri::v1::Container> all(listed.containers().begin(), listed.containers().end());
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.metadata().attempt() > b.metadata().attempt();
  });
  size_t index = previous ? 1 : 0;
  if (all.size() <= index) {
    if (previous)
      return core::failf(core::Errc::kNotFound,
                         "previous terminated container \"{}\" in pod \"{}\" not found", name, pod);
    return core::failf(core::Errc::kNotFound, "container \"{}\" in pod \"{}\" is waiting to start",
                       name, pod);
  }
  cri::v1::ContainerStatusRequest status;
  status.set_container_id(all[index].id());
  auto s = K3A_TRY(
      cri::call<cri::v1::ContainerStatusResponse>(cri, "RuntimeService/ContainerStatus", status));
  return ContainerRef{.id = all[index].id(),
                      .log_path = s.status().log_path(),
                      .running = s.status().state() == cri::v1::CONTAINER_RUNNING};
}

}  // namespace k3s::agent::kubelet
