#include "k3s/server/server.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/fs/files.h"
#include "core/http/server.h"
#include "core/proc/process.h"
#include "k3s/agent/agent.h"
#include "k3s/apiserver/apiserver.h"
#include "k3s/controllers/manager.h"
#include "k3s/datastore/sqlite_backend.h"
#include "k3s/deploy/deploy_controller.h"
#include "k3s/deploy/manifests.h"
#include "k3s/server/net.h"
#include "k3s/server/pki.h"
#include "k3s/server/supervisor.h"

namespace k3s::server {
namespace {

using core::Errc;

// sd_notify(READY=1) without libsystemd: one datagram to $NOTIFY_SOCKET ("@name" is abstract).
void notify_ready() {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t n = std::min(std::strlen(path), sizeof addr.sun_path - 1);
  std::memcpy(addr.sun_path, path, n);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = 0;
  const char msg[] = "READY=1";
  (void)::sendto(fd, msg, sizeof msg - 1, 0, reinterpret_cast<sockaddr*>(&addr),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n));
  ::close(fd);
}

core::Result<std::string> datastore_path(const config::ServerConfig& config) {
  const std::string& ep = config.datastore_endpoint;
  if (ep.empty()) return config.data_dir + "/server/db/state.db";
  if (ep.starts_with("sqlite://")) {
    std::string path = ep.substr(9, ep.find('?') - 9);
    return path.starts_with('/') ? path : config.data_dir + "/server/" + path;
  }
  std::string scheme = ep.substr(0, ep.find(':'));
  return core::failf(Errc::kUnsupported,
                     "datastore endpoint {}: the {} backend is not supported yet (SQLite only)", ep,
                     scheme);
}

// The %{...}% variables of the packaged manifests (k3s-facts.md 3.2).
std::map<std::string, std::string> manifest_variables(const config::ServerConfig& config) {
  const std::string& registry = config.system_default_registry;
  return {{"CLUSTER_DNS", config.cluster_dns},
          {"CLUSTER_DNS_LIST", "[" + config.cluster_dns + "]"},
          {"CLUSTER_DNS_IPFAMILYPOLICY", "SingleStack"},
          {"CLUSTER_DOMAIN", config.cluster_domain},
          {"DEFAULT_LOCAL_STORAGE_PATH", config.default_local_storage_path.empty()
                                             ? config.data_dir + "/storage"
                                             : config.default_local_storage_path},
          {"SYSTEM_DEFAULT_REGISTRY", registry.empty() ? "" : registry + "/"},
          {"SYSTEM_DEFAULT_REGISTRY_RAW", registry},
          {"PREFERRED_ADDRESS_TYPES", "InternalIP,ExternalIP,Hostname"}};
}

// The settings agents read from /v1-k3s/config, under upstream's names.
nlohmann::json agent_config(const config::ServerConfig& config) {
  return {{"ClusterIPRange", config.cluster_cidr},
          {"ServiceIPRange", config.service_cidr},
          {"ClusterDNS", config.cluster_dns},
          {"ClusterDomain", config.cluster_domain},
          {"HTTPSPort", config.https_port},
          {"SupervisorPort", config.https_port},
          {"SystemDefaultRegistry", config.system_default_registry},
          {"FlannelBackend", config.flannel_backend},
          {"DisableKubeProxy", config.disable_kube_proxy},
          {"EgressSelectorMode", "agent"},
          {"Disables", config.disable}};
}

bool binds_any(const config::ServerConfig& config) {
  return config.bind_address == "0.0.0.0" || config.bind_address == "::";
}

// How this host reaches its own listener: over loopback when it listens on every address.
std::string local_url(const config::ServerConfig& config, uint16_t port) {
  std::string host = binds_any(config) ? "127.0.0.1" : config.bind_address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return fmt::format("https://{}:{}", host, port);
}

// The embedded agent's settings: it joins this server at `server_url` with the node token.
core::Result<config::AgentConfig> embedded_agent(const config::ServerConfig& config,
                                                 const std::string& server_url) {
  config::AgentConfig a = config.agent;
  a.server_url = server_url;
  a.token =
      std::string(core::trim(K3A_TRY(core::read_file(config.data_dir + "/server/node-token"))));
  a.data_dir = config.data_dir;
  a.node_name = config.node_name;
  a.control_plane = true;
  return a;
}

}  // namespace

core::Result<void> complete(config::ServerConfig& config) {
  if (config.node_name.empty()) config.node_name = host_name();
  for (const std::string* cidr : {&config.cluster_cidr, &config.service_cidr}) {
    if (!valid_cidr(*cidr)) return core::failf(Errc::kInvalid, "invalid CIDR {}", *cidr);
  }
  if (config.cluster_dns.empty()) {
    auto dns = nth_address(config.service_cidr, 10);
    if (!dns)
      return core::failf(Errc::kInvalid, "--service-cidr {} is too small", config.service_cidr);
    config.cluster_dns = *dns;
  } else if (!parse_ip(config.cluster_dns)) {
    return core::failf(Errc::kInvalid, "--cluster-dns {}: not an IP address", config.cluster_dns);
  }
  for (const std::string* ip : {&config.bind_address, &config.advertise_address}) {
    if (!ip->empty() && !parse_ip(*ip)) {
      return core::failf(Errc::kInvalid, "{}: not an IP address", *ip);
    }
  }
  if (config.advertise_port == 0) config.advertise_port = config.https_port;
  const std::string& backend = config.flannel_backend;
  if (backend.starts_with("wireguard") || backend == "ipsec")
    return core::failf(Errc::kUnsupported,
                       "--flannel-backend={} is not supported (vxlan, host-gw or none)", backend);
  if (backend != "vxlan" && backend != "host-gw" && backend != "none")
    return core::failf(Errc::kInvalid, "invalid flannel backend: {}", backend);
  (void)K3A_TRY(datastore_path(config));
  return {};
}

core::Result<void> run_server(config::ServerConfig config) {
  K3A_CHECK(complete(config));
  auto started = std::chrono::steady_clock::now();
  core::log::info("Starting k3s {}", config::kVersion);
  if (config.flannel_backend == "vxlan")
    core::log::info(
        "Flannel backend vxlan: pod traffic between nodes is routed through the "
        "nodes (host-gw), without encapsulation");
  K3A_CHECK(core::make_dirs(config.data_dir + "/server/db", 0700));
  std::string db_path = K3A_TRY(datastore_path(config));
  auto store = K3A_TRY(datastore::open_sqlite({.path = db_path}));
  core::log::info("Datastore: SQLite {} at revision {}", db_path,
                  K3A_TRY(store->current_revision()));

  Pki pki = K3A_TRY(ensure_pki(config, core::system_now()));
  for (const auto& name : pki.reissued) core::log::info("Certificate {} issued", name);
  std::string kubeconfig =
      config.write_kubeconfig.empty() ? "/etc/rancher/k3s/k3s.yaml" : config.write_kubeconfig;
  K3A_CHECK(write_kubeconfig(pki, kubeconfig, local_url(config, config.https_port),
                             config.write_kubeconfig_mode));
  core::log::info("Wrote kubeconfig {}", kubeconfig);

  apiserver::ApiServer api(
      {.version = config::kVersion,
       .server_ca_pem = K3A_TRY(core::read_file(pki.server_ca)),
       .server_token_password = K3A_TRY(parse_token(pki.server_token)).password,
       .agent_token_password = K3A_TRY(parse_token(pki.agent_token)).password,
       .service_key_pem = K3A_TRY(core::read_file(pki.service_key)),
       .service_cidr = config.service_cidr,
       .kubelet_client = {.ca_file = pki.server_ca,
                          .client_cert_file = pki.kubelet_client_cert,
                          .client_key_file = pki.kubelet_client_key}},
      *store);
  K3A_CHECK(api.rest().seed(*nth_address(config.service_cidr, 1), config.https_port));
  std::string advertise = !config.advertise_address.empty() ? config.advertise_address
                          : !binds_any(config)              ? config.bind_address
                                                            : node_ip();
  std::set<std::string> disabled(config.disable.begin(), config.disable.end());
  controllers::ControllerManager controllers(
      api, *store,
      {.server_ca_pem = K3A_TRY(core::read_file(pki.server_ca)),
       .api_address = advertise,
       .api_port = config.advertise_port,
       .cluster_cidr = config.cluster_cidr,
       .service_lb = !disabled.count("servicelb")});
  K3A_CHECK(controllers.start());
  std::string manifests = config.data_dir + "/server/manifests";
  K3A_CHECK(deploy::stage_manifests(manifests, deploy::packaged_manifests(),
                                    manifest_variables(config), disabled));
  controllers::LocalApi in_process(api);
  controllers::EventRecorder recorder(in_process);
  deploy::DeployController deployer(in_process, api.catalog(), recorder,
                                    {.dir = manifests, .disabled = disabled});
  K3A_CHECK(deployer.start());
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // the server's threads inherit the mask
  auto supervisor = K3A_TRY(Supervisor::create(
      api, {.tls_dir = pki.tls_dir,
            .server_password = K3A_TRY(parse_token(pki.server_token)).password,
            .agent_password = K3A_TRY(parse_token(pki.agent_token)).password,
            .config = agent_config(config),
            .apiservers = {fmt::format("{}:{}", advertise, config.advertise_port)}}));
  auto http = K3A_TRY(core::http::Server::start(
      {.address = config.bind_address,
       .port = config.https_port,
       .tls_cert_file = pki.serving_cert,
       .tls_key_file = pki.serving_key,
       .client_ca_file = pki.client_ca,
       .threads = 4},
      [&api, &supervisor](const core::http::ServerRequest& req, core::http::ResponseWriter& w) {
        if (!supervisor->handle(req, w)) api.handle(req, w);
      }));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started)
                .count();
  core::log::info("k3s is up and running: https://{}:{} (ready in {} ms)", config.bind_address,
                  http->port(), ms);
  notify_ready();
  // The embedded agent joins this server over loopback (or the bound address) with the node
  // token; if it fails, the server stops with its error, as upstream's does.
  std::unique_ptr<agent::AgentThread> agent;
  if (!config.disable_agent) {
    agent = std::make_unique<agent::AgentThread>(
        K3A_TRY(embedded_agent(config, local_url(config, http->port()))),
        [] { ::kill(::getpid(), SIGTERM); });
  }
  int sig = 0;
  sigwait(&signals, &sig);
  core::log::info("Received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  core::exit_after(agent::kShutdownGrace);
  core::Result<void> agent_result = agent ? agent->stop() : core::Result<void>();
  http->stop();
  deployer.stop();
  controllers.stop();
  return agent_result;
}

}  // namespace k3s::server
