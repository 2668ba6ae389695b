// The running part of a pod's sync: images, container starts with their backoff, init
// containers in order, restart policies, probes, and pruning of dead instances.
#include <algorithm>

#include "core/base/log.h"
#include "k3s/agent/kubelet/fields.h"
#include "k3s/agent/kubelet/pod_sync.h"
#include "k3s/agent/kubelet/probes.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;
using core::Errc;
constexpr auto kResync = std::chrono::seconds(10);
constexpr auto kPullRetry = std::chrono::seconds(10);

bool should_restart(const json& pod, const cri::v1::ContainerStatus& c) {
  std::string policy = str(obj(pod, "spec"), "restartPolicy");
  if (policy == "Never") return false;
  if (policy == "OnFailure") return c.exit_code() != 0;
  return true;
}

// Seconds since the epoch of a CRI timestamp (nanoseconds).
int64_t seconds_of(int64_t nanos) { return nanos / 1000000000; }

}  // namespace

core::Result<bool> PodSyncer::ensure_image(const json& pod, const json& container) {
  std::string image = str(container, "image");
  std::string policy = str(container, "imagePullPolicy");
  cri::v1::ImageStatusRequest status;
  status.mutable_image()->set_image(image);
  auto have =
      K3A_TRY(cri::call<cri::v1::ImageStatusResponse>(cri_, "ImageService/ImageStatus", status));
  bool present = !have.image().id().empty();
  if (!present && policy == "Never")
    return core::failf(Errc::kNotFound,
                       "Container image \"{}\" is not present with pull policy of Never", image);
  ImagePulls& pulls = state_.pulls;
  std::lock_guard lock(pulls.mu);
  auto last = pulls.done.find(image);
  bool recent = last != pulls.done.end() && Clock::now() - last->second.at < kPullRetry;
  // Always pulls once per start: a pull that just succeeded is that pull.
  if (present && (policy != "Always" || (recent && last->second.error.empty()))) return true;
  if (recent && !last->second.error.empty())
    return core::failf(Errc::kUnavailable, "Failed to pull image \"{}\": {}", image,
                       last->second.error);
  pulls.waiting[image].insert(str(obj(pod, "metadata"), "uid"));
  if (std::find(pulls.queue.begin(), pulls.queue.end(), image) == pulls.queue.end()) {
    pulls.queue.push_back(image);
    pulls.wake.notify_all();
  }
  return false;
}

void pull_images(ImagePulls& pulls, const std::string& cri_socket,
                 const std::atomic<bool>& stopping,
                 const std::function<void(const std::string&)>& sync) {
  core::grpc::Client cri(cri_socket, std::chrono::minutes(10));
  for (;;) {
    cri::v1::PullImageRequest pull;
    {
      std::unique_lock lock(pulls.mu);
      pulls.wake.wait(lock, [&] { return stopping || !pulls.queue.empty(); });
      if (stopping) return;
      pull.mutable_image()->set_image(pulls.queue.front());
    }
    auto pulled = cri::call<cri::v1::PullImageResponse>(cri, "ImageService/PullImage", pull);
    std::set<std::string> pods;
    {
      std::lock_guard lock(pulls.mu);
      const std::string& image = pull.image().image();
      pulls.done[image] = {pulled ? "" : pulled.error().message(), Clock::now()};
      pods = std::move(pulls.waiting[image]);
      pulls.waiting.erase(image);
      pulls.queue.pop_front();
    }
    for (const auto& uid : pods) sync(uid);
  }
}

bool PodSyncer::start(const json& pod, const json& container, uint32_t attempt, PodMemory& mem) {
  std::string name = str(container, "name");
  auto fail = [&](const char* reason, const core::Error& e) {
    mem.waiting[name] = {reason, e.message()};
    core::log::warn("pod {}/{} container {}: {}: {}", str(obj(pod, "metadata"), "namespace"),
                    str(obj(pod, "metadata"), "name"), name, reason, e.message());
    return false;
  };
  auto image = ensure_image(pod, container);
  if (!image) {
    if (image.error().code() == Errc::kNotFound) return fail("ErrImageNeverPull", image.error());
    return fail(mem.waiting[name].first == "ErrImagePull" ? "ImagePullBackOff" : "ErrImagePull",
                image.error());
  }
  if (!*image) return false;  // pulling: the waiting reason so far stays
  auto config = container_config(pod, container, attempt, mem.pod_ip, node_, get_, mem.volumes);
  if (!config) return fail("CreateContainerConfigError", config.error());
  cri::v1::CreateContainerRequest create;
  create.set_pod_sandbox_id(mem.sandbox_id);
  *create.mutable_config() = *config;
  *create.mutable_sandbox_config() = sandbox_config(pod, 0, node_);
  auto made =
      cri::call<cri::v1::CreateContainerResponse>(cri_, "RuntimeService/CreateContainer", create);
  if (!made) return fail("CreateContainerError", made.error());
  cri::v1::StartContainerRequest run;
  run.set_container_id(made->container_id());
  auto started =
      cri::call<cri::v1::StartContainerResponse>(cri_, "RuntimeService/StartContainer", run);
  if (!started) return fail("RunContainerError", started.error());
  mem.waiting.erase(name);
  return true;
}

Clock::duration PodSyncer::run(const json& pod, RuntimePod& rt, PodMemory& mem) {
  if (auto sandbox = ensure_sandbox(pod, rt, mem); !sandbox) {
    for (const char* group : {"initContainers", "containers"})
      for (const auto& c : arr(obj(pod, "spec"), group))
        mem.waiting[str(c, "name")] = {"ContainerCreating", sandbox.error().message()};
    core::log::warn("pod {}/{}: sandbox: {}", str(obj(pod, "metadata"), "namespace"),
                    str(obj(pod, "metadata"), "name"), sandbox.error().message());
    write_status(pod, rt, mem);
    return std::chrono::seconds(5);
  }
  Clock::time_point next = Clock::now() + kResync;
  if (run_init_containers(pod, rt, mem, next)) run_containers(pod, rt, mem, next);
  // Dead instances beyond the newest two of each container are removed.
  std::map<std::string, int> seen;
  for (auto it = rt.containers.rbegin(); it != rt.containers.rend(); ++it) {
    if (++seen[it->metadata().name()] > 2 && it->state() == cri::v1::CONTAINER_EXITED)
      cri::remove_container(cri_, it->id());
  }
  if (auto fresh = observe(str(obj(pod, "metadata"), "uid"))) rt = std::move(*fresh);
  write_status(pod, rt, mem);
  return std::max<Clock::duration>(next - Clock::now(), std::chrono::milliseconds(100));
}

bool PodSyncer::launch(const json& pod, const json& c, const cri::v1::ContainerStatus* last,
                       PodMemory& mem, Clock::time_point& next) {
  uint32_t attempt = last ? last->metadata().attempt() + 1 : 0;
  if (last) {
    auto wait = restart_backoff(attempt - 1) -
                std::chrono::seconds(std::time(nullptr) - seconds_of(last->finished_at()));
    if (wait > std::chrono::seconds(0)) {
      mem.waiting[str(c, "name")] = {
          "CrashLoopBackOff", "back-off " + std::to_string(restart_backoff(attempt - 1).count()) +
                                  "s restarting failed container=" + str(c, "name") +
                                  " pod=" + str(obj(pod, "metadata"), "name")};
      next = std::min(next, Clock::now() + wait);
      return false;
    }
  }
  if (start(pod, c, attempt, mem)) return true;
  next = std::min(next, Clock::now() + std::chrono::seconds(5));
  return false;
}

bool PodSyncer::run_init_containers(const json& pod, const RuntimePod& rt, PodMemory& mem,
                                    Clock::time_point& next) {
  for (const auto& c : arr(obj(pod, "spec"), "initContainers")) {
    const cri::v1::ContainerStatus* last = rt.latest(str(c, "name"));
    if (last && last->state() == cri::v1::CONTAINER_EXITED && last->exit_code() == 0) continue;
    if (last && last->state() != cri::v1::CONTAINER_EXITED) return false;         // running
    if (last && str(obj(pod, "spec"), "restartPolicy") == "Never") return false;  // failed
    if (launch(pod, c, last, mem, next)) next = Clock::now() + std::chrono::seconds(1);
    return false;
  }
  return true;
}

void PodSyncer::run_containers(const json& pod, const RuntimePod& rt, PodMemory& mem,
                               Clock::time_point& next) {
  for (const auto& c : arr(obj(pod, "spec"), "containers")) {
    const cri::v1::ContainerStatus* last = rt.latest(str(c, "name"));
    if (last && last->state() == cri::v1::CONTAINER_RUNNING) {
      if (!probe(pod, c, *last, mem, next)) {
        cri::stop_container(cri_socket_, last->id(),
                            obj(pod, "spec").value("terminationGracePeriodSeconds", 30));
        next = Clock::now();
      }
      continue;
    }
    if (last && last->state() == cri::v1::CONTAINER_EXITED && !should_restart(pod, *last)) continue;
    if (last && last->state() == cri::v1::CONTAINER_CREATED)
      cri::remove_container(cri_, last->id());
    if (launch(pod, c, last, mem, next))
      next = std::min(next, Clock::now() + std::chrono::seconds(1));
  }
}

bool PodSyncer::probe(const json& pod, const json& container,
                      const cri::v1::ContainerStatus& status, PodMemory& mem,
                      Clock::time_point& next) {
  bool alive = true;
  std::string name = str(container, "name");
  bool started = true;
  for (const char* kind : {"startupProbe", "livenessProbe", "readinessProbe"}) {
    if (!container.contains(kind)) continue;
    ProbeState& p = mem.probes[name + "/" + kind];
    if (p.container_id != status.id()) p = ProbeState{.container_id = status.id()};
    bool startup = std::string(kind) == "startupProbe";
    if (!startup && !started) continue;
    if (startup && p.ok) continue;
    const json& spec = container[kind];
    auto now = Clock::now();
    if (p.next == Clock::time_point{}) {
      int64_t age = std::time(nullptr) - seconds_of(status.started_at());
      p.next = now + std::chrono::seconds(
                         std::max<int64_t>(0, spec.value("initialDelaySeconds", 0) - age));
    }
    if (now >= p.next) {
      bool success = run_probe(cri_, spec, container, status.id(), mem.pod_ip);
      if (!success && p.failures == 0)
        core::log::info("pod {}/{} container {}: {} failed", str(obj(pod, "metadata"), "namespace"),
                        str(obj(pod, "metadata"), "name"), name, kind);
      p.successes = success ? p.successes + 1 : 0;
      p.failures = success ? 0 : p.failures + 1;
      if (success && p.successes >= spec.value("successThreshold", 1)) p.ok = true;
      if (!success && p.failures >= spec.value("failureThreshold", 3)) {
        p.ok = false;
        if (std::string(kind) != "readinessProbe") alive = false;
      }
      p.next = now + std::chrono::seconds(std::max(1, spec.value("periodSeconds", 10)));
    }
    next = std::min(next, p.next);
    if (startup) started = p.ok;
  }
  if (!alive) {
    core::log::info("pod {}/{} container {} failed its probe and will be restarted",
                    str(obj(pod, "metadata"), "namespace"), str(obj(pod, "metadata"), "name"),
                    name);
    mem.probes.erase(name + "/livenessProbe");
    mem.probes.erase(name + "/startupProbe");
  }
  return alive;
}

}  // namespace k3s::agent::kubelet
