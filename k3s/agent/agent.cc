#include "k3s/agent/agent.h"

#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/fs/files.h"
#include "core/proc/process.h"
#include "k3s/agent/cni.h"
#include "k3s/agent/containerd.h"
#include "k3s/agent/join.h"
#include "k3s/agent/kubelet/kubelet.h"
#include "k3s/agent/kubelet/kubelet_server.h"
#include "k3s/agent/load_balancer.h"
#include "k3s/agent/preload.h"
#include "k3s/agent/proxy.h"
#include "k3s/client/kube_client.h"
#include "k3s/config/server_config.h"
#include "k3s/server/net.h"

namespace k3s::agent {
namespace {

using json = nlohmann::json;
constexpr char kContainerdSocket[] = "/run/k3s/containerd/containerd.sock";

std::string memory_kib() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  long long value = 0;
  while (in >> key >> value >> unit) {
    if (key == "MemTotal:") return std::to_string(value) + "Ki";
  }
  return "0";
}

json node_object(const config::AgentConfig& config, const Joined& j) {
  json labels = {
      {"kubernetes.io/hostname", j.node_name}, {"kubernetes.io/os", "linux"},
      {"kubernetes.io/arch", "amd64"},         {"beta.kubernetes.io/os", "linux"},
      {"beta.kubernetes.io/arch", "amd64"},    {"node.kubernetes.io/instance-type", "k3s"}};
  if (config.control_plane) {
    labels["node-role.kubernetes.io/control-plane"] = "true";
    labels["node-role.kubernetes.io/master"] = "true";
  }
  for (const auto& l : config.node_labels) {
    size_t eq = l.find('=');
    labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  json taints = json::array();
  for (const auto& t : config.node_taints) {  // key=value:Effect
    size_t colon = t.rfind(':'), eq = t.find('=');
    json taint = {{"key", t.substr(0, std::min(eq, colon))},
                  {"effect", colon == std::string::npos ? "NoSchedule" : t.substr(colon + 1)}};
    if (eq != std::string::npos && eq < colon) taint["value"] = t.substr(eq + 1, colon - eq - 1);
    taints.push_back(taint);
  }
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", j.node_name}, {"labels", labels}}}};
  if (!taints.empty()) node["spec"]["taints"] = taints;
  return node;
}

json node_status(const config::AgentConfig& config, const Joined& j, const std::string& since,
                 const std::string& runtime) {
  utsname u{};
  ::uname(&u);
  std::string now = core::format_rfc3339(core::system_now());
  json capacity = {{"cpu", std::to_string(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)))},
                   {"memory", memory_kib()},
                   {"pods", "110"}};
  json addresses = json::array();
  for (const auto& ip :
       config.node_ip.empty() ? std::vector<std::string>{server::node_ip()} : config.node_ip)
    addresses.push_back({{"type", "InternalIP"}, {"address", ip}});
  for (const auto& ip : config.node_external_ip)
    addresses.push_back({{"type", "ExternalIP"}, {"address", ip}});
  addresses.push_back({{"type", "Hostname"}, {"address", j.node_name}});
  return {{"capacity", capacity},
          {"allocatable", capacity},
          {"addresses", addresses},
          {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", 10250}}}}},
          {"conditions",
           {{{"type", "Ready"},
             {"status", "True"},
             {"reason", "KubeletReady"},
             {"message", "kubelet is posting ready status"},
             {"lastHeartbeatTime", now},
             {"lastTransitionTime", since}}}},
          {"nodeInfo",
           {{"kubeletVersion", config::kVersion},
            {"kubeProxyVersion", config::kVersion},
            {"kernelVersion", u.release},
            {"osImage", "k3s-airgap"},
            {"operatingSystem", "linux"},
            {"architecture", "amd64"},
            {"containerRuntimeVersion", runtime},
            {"machineID", ""},
            {"systemUUID", ""},
            {"bootID", ""}}}};
}

core::Result<void> post_status(client::KubeClient& kube, const config::AgentConfig& config,
                               const Joined& j, const std::string& since,
                               const std::string& runtime) {
  json patch = {{"status", node_status(config, j, since, runtime)}};
  (void)K3A_TRY(kube.call("PATCH", "/api/v1/nodes/" + j.node_name + "/status", &patch,
                          "application/merge-patch+json"));
  return {};
}

core::Result<void> renew_lease(client::KubeClient& kube, const std::string& node) {
  std::string stamp = core::format_rfc3339(core::system_now());
  std::string micro = stamp.substr(0, stamp.size() - 1) + ".000000Z";
  std::string path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + node;
  json patch = {
      {"spec", {{"holderIdentity", node}, {"leaseDurationSeconds", 40}, {"renewTime", micro}}}};
  auto renewed = kube.call("PATCH", path, &patch, "application/merge-patch+json");
  if (renewed || renewed.error().code() != core::Errc::kNotFound)
    return renewed ? core::Result<void>{} : std::unexpected(renewed.error());
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", node}, {"namespace", "kube-node-lease"}}},
                {"spec", patch["spec"]}};
  (void)K3A_TRY(
      kube.call("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", &lease));
  return {};
}

// containerd with the agent's configuration, then the images of agent/images imported.
core::Result<std::unique_ptr<ContainerdSupervisor>> start_containerd(
    const config::AgentConfig& config, const Joined& j) {
  std::string bundled = config.data_dir + "/data/current/bin";
  auto binary = find_binary("containerd", bundled, config.prefer_bundled_bin);
  if (!binary)
    return core::fail(core::Errc::kNotFound, "containerd: not found beside k3s or on PATH");
  images::RegistryConfig registries;
  if (core::path_exists(config.private_registry))
    registries = K3A_TRY(images::RegistryConfig::load(config.private_registry));
  auto containerd = std::make_unique<ContainerdSupervisor>(
      ContainerdSettings{.binary = *binary,
                         .root = j.agent_dir + "/containerd",
                         .state = "/run/k3s/containerd",
                         .socket = kContainerdSocket,
                         .config_dir = j.agent_dir + "/etc/containerd",
                         .bin_dir = bundled,
                         .prefer_bundled = config.prefer_bundled_bin,
                         .pause_image = config.pause_image,
                         .cni_bin_dir = cni_bin_dir(config.data_dir).value_or(bundled),
                         .cni_conf_dir = j.agent_dir + "/etc/cni/net.d",
                         .restrict_oom_score_adj = !can_lower_oom_score_adj()});
  K3A_CHECK(containerd->start(registries));
  core::grpc::Client client(kContainerdSocket);
  auto started = std::chrono::steady_clock::now();
  PreloadReport preloaded = preload_images(client, j.agent_dir);
  core::log::info("Preloaded images in {} ms: {} archives imported, {} unchanged, {} failed",
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count(),
                  preloaded.imported, preloaded.unchanged, preloaded.failed);
  return containerd;
}

// The Node created (or found), its status posted and its lease taken.
core::Result<void> register_node(client::KubeClient& kube, const config::AgentConfig& config,
                                 const Joined& j, const std::string& since,
                                 const std::string& runtime) {
  json node = node_object(config, j);
  auto created = kube.call("POST", "/api/v1/nodes", &node);
  if (!created && created.error().code() != core::Errc::kAlreadyExists)
    return std::unexpected(created.error());
  K3A_CHECK(post_status(kube, config, j, since, runtime));
  K3A_CHECK(renew_lease(kube, j.node_name));
  core::log::info("Node {} registered and Ready", j.node_name);
  return {};
}

// The node's pod CIDR, once the server has allocated it.
core::Result<std::string> wait_pod_cidr(client::KubeClient& kube, const std::string& node) {
  for (int i = 0; i < 300; ++i) {
    json n = K3A_TRY(kube.call("GET", "/api/v1/nodes/" + node));
    std::string cidr = n.value("spec", json::object()).value("podCIDR", "");
    if (!cidr.empty()) return cidr;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return core::failf(core::Errc::kTimeout, "node {} was given no pod CIDR in 30 s", node);
}

// The resolv.conf pods with dnsPolicy Default get: --resolv-conf, else the host's unless it
// names only loopback servers (a local stub resolver), then systemd-resolved's upstream list.
std::string resolv_conf(const config::AgentConfig& config) {
  if (!config.resolv_conf.empty()) return config.resolv_conf;
  std::string text = core::read_file("/etc/resolv.conf").value_or("");
  bool remote = false;
  for (auto line : core::split(text, '\n')) {
    auto words = core::split(core::trim(line), ' ');
    if (words.size() >= 2 && words[0] == "nameserver" && !words[1].starts_with("127.") &&
        words[1] != "::1")
      remote = true;
  }
  if (!remote && core::path_exists("/run/systemd/resolve/resolv.conf"))
    return "/run/systemd/resolve/resolv.conf";
  return "/etc/resolv.conf";
}

kubelet::NodeContext node_context(const config::AgentConfig& config, const Joined& j) {
  kubelet::NodeContext node{
      .node_name = j.node_name,
      .node_ip = config.node_ip.empty() ? server::node_ip() : config.node_ip.front(),
      .cluster_dns = j.config.value("ClusterDNS", ""),
      .cluster_domain = j.config.value("ClusterDomain", "cluster.local"),
      .resolv_conf = resolv_conf(config),
      .kubernetes_service_ip =
          server::nth_address(j.config.value("ServiceIPRange", "10.43.0.0/16"), 1).value_or("")};
  for (const auto& arg : config.kubelet_args) {
    if (arg.starts_with("root-dir=")) {
      node.kubelet_root = arg.substr(9);
    } else {
      core::log::warn("--kubelet-arg {}: not supported by this kubelet, ignored", arg);
    }
  }
  return node;
}

// The Service rules and pod routes (unless the server disables both), and the bridge's CNI
// configuration unless the flannel backend is none (the user's CNI writes its own; ours is
// removed). Without
// iptables the node still runs pods, with the bridge plugin masquerading, and says what is
// missing.
core::Result<std::unique_ptr<NetworkKeeper>> start_network(const config::AgentConfig& config,
                                                           const Joined& j,
                                                           const std::string& pod_cidr) {
  bool pod_network = j.config.value("FlannelBackend", "vxlan") != "none";
  bool service_rules = !j.config.value("DisableKubeProxy", false);
  std::unique_ptr<NetworkKeeper> keeper;
  if (pod_network || service_rules) {
    auto started = NetworkKeeper::start(
        K3A_TRY(client::load_kubeconfig(j.agent_dir + "/kubeproxy.kubeconfig")),
        {.node_name = j.node_name,
         .cluster_cidr = j.config.value("ClusterIPRange", "10.42.0.0/16"),
         .bin_dir = config.data_dir + "/data/current/bin",
         .service_rules = service_rules,
         .pod_network = pod_network});
    if (started)
      keeper = std::move(*started);
    else
      core::log::warn("Services and routes to other nodes' pods are not kept: {}",
                      started.error().message());
  }
  std::string dir = j.agent_dir + "/etc/cni/net.d";
  K3A_CHECK(core::make_dirs(dir, 0755));
  if (!pod_network) {
    ::unlink((dir + "/10-bridge.conflist").c_str());  // ours, from a run with a backend
    core::log::info("Flannel backend none: pods wait for a CNI configuration in {}", dir);
    return keeper;
  }
  K3A_CHECK(core::write_file_atomic(dir + "/10-bridge.conflist",
                                    cni_conflist(pod_cidr, keeper == nullptr)));
  return keeper;
}

// Until stop: archives added to agent/images imported every 5 s, the lease renewed every 10 s,
// the status posted every five minutes.
void keep_node(client::KubeClient& kube, const config::AgentConfig& config, const Joined& j,
               const std::string& since, const std::string& runtime, const StopWait& stop) {
  auto last_status = std::chrono::steady_clock::now();
  auto last_lease = std::chrono::steady_clock::now();
  core::grpc::Client images(kContainerdSocket);
  while (!stop(std::chrono::seconds(5))) {
    (void)preload_images(images, j.agent_dir);
    if (std::chrono::steady_clock::now() - last_lease < std::chrono::seconds(10)) continue;
    last_lease = std::chrono::steady_clock::now();
    if (auto r = renew_lease(kube, j.node_name); !r)
      core::log::warn("lease renewal: {}", r.error().message());
    if (std::chrono::steady_clock::now() - last_status > std::chrono::minutes(5)) {
      if (auto r = post_status(kube, config, j, since, runtime); !r)
        core::log::warn("node status: {}", r.error().message());
      last_status = std::chrono::steady_clock::now();
    }
  }
}

}  // namespace

core::Result<void> run_agent(const config::AgentConfig& config) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return run_agent(config, [&signals](std::chrono::milliseconds d) {
    timespec wait{static_cast<time_t>(d.count() / 1000),
                  static_cast<long>(d.count() % 1000) * 1000000};
    if (sigtimedwait(&signals, nullptr, &wait) <= 0) return false;
    core::log::info("Received signal, shutting down");
    core::exit_after(kShutdownGrace);
    return true;
  });
}

core::Result<void> run_agent(const config::AgentConfig& config, const StopWait& stop) {
  core::log::info("Starting k3s agent {}", config::kVersion);
  core::Result<Joined> joined = core::fail(core::Errc::kUnavailable, "not tried");
  for (;;) {
    joined = join(config);
    if (joined || joined.error().code() != core::Errc::kUnavailable) break;
    core::log::info("Waiting to retrieve agent configuration; server is not ready: {}",
                    joined.error().message());
    if (stop(std::chrono::seconds(5))) return {};
  }
  if (!joined) return std::unexpected(joined.error());
  core::log::info("Joined {} as node {}", joined->server_url, joined->node_name);
  // The agent reaches the API servers through its load balancer, as upstream's does.
  auto balancer = K3A_TRY(LoadBalancer::start(config.lb_server_port, joined->apiservers));
  K3A_CHECK(write_kubeconfigs(*joined, balancer->url()));
  // containerd first, as upstream starts it before the kubelet.
  auto containerd = K3A_TRY(start_containerd(config, *joined));
  std::string runtime = "containerd://" + containerd->version();
  client::KubeClient kube(K3A_TRY(client::load_kubeconfig(joined->kubelet_kubeconfig)));
  std::string since = core::format_rfc3339(core::system_now());
  K3A_CHECK(register_node(kube, config, *joined, since, runtime));
  std::string pod_cidr = K3A_TRY(wait_pod_cidr(kube, joined->node_name));
  auto network = K3A_TRY(start_network(config, *joined, pod_cidr));
  kubelet::Kubelet pods(kube.endpoint(),
                        {.node = node_context(config, *joined), .cri_socket = kContainerdSocket});
  pods.start();
  auto kubelet_server = K3A_TRY(
      kubelet::start_kubelet_server(pods, {.cert_file = joined->agent_dir + "/serving-kubelet.crt",
                                           .key_file = joined->agent_dir + "/serving-kubelet.key",
                                           .client_ca_file = joined->agent_dir + "/client-ca.crt",
                                           .cri_socket = kContainerdSocket}));
  keep_node(kube, config, *joined, since, runtime, stop);
  if (network) network->stop();
  kubelet_server->stop();
  pods.stop();
  containerd->stop();
  return {};
}

AgentThread::AgentThread(config::AgentConfig config, std::function<void()> on_failure) {
  thread_ = std::thread([this, config = std::move(config), on_failure = std::move(on_failure)] {
    result_ = run_agent(config, [this](std::chrono::milliseconds d) {
      std::unique_lock lock(mu_);
      return cv_.wait_for(lock, d, [this] { return stopping_; });
    });
    if (!result_) {
      core::log::error("agent: {}", result_.error().message());
      on_failure();
    }
  });
}

core::Result<void> AgentThread::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  return result_;
}

}  // namespace k3s::agent
