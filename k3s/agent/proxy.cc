#include "k3s/agent/proxy.h"

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/fs/files.h"
#include "core/proc/process.h"
#include "k3s/agent/containerd.h"
#include "k3s/agent/proxy_rules.h"
#include "k3s/agent/routes.h"
#include "k3s/client/reflector.h"

namespace k3s::agent {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr char kRulesFile[] = "/run/k3s/proxy/rules";

// The jumps into our chains from the built-in ones: table, chain, rule.
const std::vector<std::vector<std::string>> kHooks = {
    {"nat", "PREROUTING", "-m comment --comment kubernetes-service-portals -j KUBE-SERVICES"},
    {"nat", "OUTPUT", "-m comment --comment kubernetes-service-portals -j KUBE-SERVICES"},
    {"nat", "POSTROUTING", "-m comment --comment kubernetes-postrouting-rules -j KUBE-POSTROUTING"},
    {"filter", "OUTPUT", "-m conntrack --ctstate NEW -j KUBE-SERVICES"},
    {"filter", "FORWARD", "-m conntrack --ctstate NEW -j KUBE-SERVICES"},
    {"filter", "INPUT", "-m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES"},
    {"filter", "FORWARD", "-m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES"}};
const std::vector<std::string> kFlannelHook = {"nat", "POSTROUTING",
                                               "-m comment --comment flanneld-masq -j "
                                               "FLANNEL-POSTRTG"};

std::string internal_ip(const json& node) {
  for (const json& a : node.value("status", json::object()).value("addresses", json::array()))
    if (a.value("type", "") == "InternalIP") return a.value("address", "");
  return "";
}

// Writes a /proc/sys value in place (sysctl -w).
void set_sysctl(const std::string& name, const char* value) {
  std::string path = "/proc/sys/" + name;
  FILE* f = std::fopen(path.c_str(), "we");
  bool written = f && std::fputs(value, f) >= 0;
  if (f && std::fclose(f) != 0) written = false;
  if (!written) core::log::warn("sysctl {}={}: {}", name, value, std::strerror(errno));
}

std::vector<json> values(const std::map<std::string, json>& objects) {
  std::vector<json> out;
  for (const auto& [key, o] : objects) out.push_back(o);
  return out;
}

}  // namespace

struct NetworkKeeper::Impl {
  ProxyOptions options;
  std::string iptables_restore, iptables, iptables_save;
  std::unique_ptr<client::Reflector> services, slices, nodes;
  std::mutex mu;
  std::condition_variable wake;
  bool dirty = true, stopping = false;
  std::thread thread;
  std::string applied;                        // the rules last applied
  std::map<std::string, std::string> routes;  // pod CIDR → gateway, as installed

  void changed() {
    std::lock_guard lock(mu);
    dirty = true;
    wake.notify_all();
  }

  // False when stopping.
  bool wait_for_change() {
    std::unique_lock lock(mu);
    wake.wait_for(lock, std::chrono::seconds(30), [this] { return dirty || stopping; });
    if (stopping) return false;
    // Changes come in bursts (a Service, then its slice): take them together.
    wake.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping; });
    dirty = false;
    return !stopping;
  }

  void sync_routes() {
    std::map<std::string, std::string> wanted;
    for (const auto& [name, node] : nodes->copy()) {
      std::string cidr = node.value("spec", json::object()).value("podCIDR", "");
      std::string ip = internal_ip(node);
      if (name != options.node_name && !cidr.empty() && !ip.empty()) wanted[cidr] = ip;
    }
    for (const auto& [cidr, gateway] : wanted) {
      auto it = routes.find(cidr);
      if (it != routes.end() && it->second == gateway) continue;
      if (auto r = replace_route(cidr, gateway); !r) {
        core::log::warn("flannel: {}", r.error().message());
        continue;
      }
      core::log::info("flannel: pod network {} via node {}", cidr, gateway);
      routes[cidr] = gateway;
    }
    for (auto it = routes.begin(); it != routes.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      (void)delete_route(it->first);
      it = routes.erase(it);
    }
  }

  // Chains of ours in the nat table now (left by an earlier run, or by the last sync).
  std::set<std::string> existing_chains() {
    std::set<std::string> out;
    auto saved = core::run_command({iptables_save, "-t", "nat"});
    if (!saved || saved->exit_code != 0) return out;
    for (auto line : core::split(saved->out, '\n')) {
      if (!line.starts_with(":KUBE-SVC-") && !line.starts_with(":KUBE-SEP-") &&
          !line.starts_with(":KUBE-EXT-"))
        continue;
      out.insert(std::string(line.substr(1, line.find(' ') - 1)));
    }
    return out;
  }

  core::Result<void> run(std::vector<std::string> argv) {
    auto r = core::run_command(argv);
    if (!r) return std::unexpected(r.error());
    if (r->exit_code != 0)
      return core::failf(core::Errc::kIo, "{} failed: {}", core::base_name(argv[0]),
                         core::trim(r->out.substr(0, r->out.find('\n'))));
    return {};
  }

  // The jump in place: checked (-C), inserted first (-I) when missing.
  core::Result<void> hook(const std::vector<std::string>& h) {
    auto command = [&](const char* op) {
      std::vector<std::string> argv = {iptables, "-w", "5", "-t", h[0], op, h[1]};
      for (auto word : core::split(h[2], ' ')) argv.emplace_back(word);
      return argv;
    };
    if (run(command("-C"))) return {};
    return run(command("-I"));
  }

  core::Result<void> sync_rules(bool force) {
    ProxyState state{.services = values(services->copy()),
                     .slices = values(slices->copy()),
                     .cluster_cidr = options.cluster_cidr,
                     .service_rules = options.service_rules,
                     .pod_network = options.pod_network};
    std::string rules = render_proxy_rules(state);
    if (rules == applied && !force) return {};
    state.existing_chains = existing_chains();
    K3A_CHECK(core::write_file_atomic(kRulesFile, render_proxy_rules(state)));
    K3A_CHECK(run({iptables_restore, "--noflush", "-w", "5", kRulesFile}));
    if (options.service_rules)
      for (const auto& h : kHooks) K3A_CHECK(hook(h));
    if (options.pod_network) K3A_CHECK(hook(kFlannelHook));
    applied = std::move(rules);
    return {};
  }

  void loop() {
    auto last_full = Clock::now();
    while (wait_for_change()) {
      if (!services->synced() || !slices->synced() || !nodes->synced()) continue;
      if (options.pod_network) sync_routes();
      bool force = Clock::now() - last_full > std::chrono::seconds(30);
      if (auto r = sync_rules(force); !r) {
        core::log::warn("kube-proxy: {}", r.error().message());
        std::unique_lock lock(mu);  // again in 2 s
        if (!wake.wait_for(lock, std::chrono::seconds(2), [this] { return stopping; }))
          dirty = true;
        continue;
      }
      if (force) last_full = Clock::now();
    }
  }
};

core::Result<std::unique_ptr<NetworkKeeper>> NetworkKeeper::start(client::Endpoint api,
                                                                  ProxyOptions options) {
  auto impl = std::make_unique<Impl>();
  for (auto [name, path] :
       {std::pair{"iptables-restore", &impl->iptables_restore},
        std::pair{"iptables", &impl->iptables}, std::pair{"iptables-save", &impl->iptables_save}}) {
    auto found = find_binary(name, options.bin_dir);
    if (!found)
      return core::failf(core::Errc::kNotFound,
                         "{}: not found beside k3s, on PATH, in /usr/sbin or /sbin (Services "
                         "and pod routing need iptables)",
                         name);
    *path = *found;
  }
  K3A_CHECK(core::make_dirs(core::dir_name(kRulesFile), 0700));
  // Forwarding between nodes and pods, and bridged pod traffic through iptables (Services
  // whose endpoint is on the same bridge), as upstream's agent sets them.
  set_sysctl("net/ipv4/ip_forward", "1");
  if (core::path_exists("/proc/sys/net/bridge/bridge-nf-call-iptables"))
    set_sysctl("net/bridge/bridge-nf-call-iptables", "1");
  impl->options = std::move(options);
  Impl* i = impl.get();
  auto changed = [i] { i->changed(); };
  impl->services = std::make_unique<client::Reflector>(api, "/api/v1/services", changed);
  impl->slices =
      std::make_unique<client::Reflector>(api, "/apis/discovery.k8s.io/v1/endpointslices", changed);
  impl->nodes = std::make_unique<client::Reflector>(api, "/api/v1/nodes", changed);
  for (auto* r : {impl->services.get(), impl->slices.get(), impl->nodes.get()}) r->start();
  impl->thread = std::thread([i] { i->loop(); });
  return std::unique_ptr<NetworkKeeper>(new NetworkKeeper(std::move(impl)));
}

NetworkKeeper::NetworkKeeper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NetworkKeeper::~NetworkKeeper() { stop(); }

void NetworkKeeper::stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto* r : {impl_->services.get(), impl_->slices.get(), impl_->nodes.get()}) r->stop();
}

}  // namespace k3s::agent
