// k3s: the multi-call binary. `k3s server` with upstream's flags, their K3S_* variables and
// config.yaml(.d); `k3s kubectl|crictl|ctr ...` (or argv[0] kubectl, crictl, ctr) run those
// tools with k3s's defaults. Only this file sees CLI11 and argv.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/fs/files.h"
#include "k3s/agent/agent.h"
#include "k3s/config/agent_config.h"
#include "k3s/config/config_file.h"
#include "k3s/config/server_config.h"
#include "k3s/ctl/certificate.h"
#include "k3s/ctl/check_config.h"
#include "k3s/ctl/token.h"
#include "k3s/server/server.h"

namespace {

using k3s::config::ServerConfig;

// Runs an external tool found beside this binary or on PATH (never this binary itself:
// kubectl may be a link to k3s).
int exec_tool(const std::string& tool, const std::vector<std::string>& args) {
  char self[4096] = {0};
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  std::string me = n > 0 ? std::string(self, n) : "";
  const char* path = std::getenv("PATH");
  std::string found;
  std::vector<std::string_view> dirs =
      core::split(path ? path : "/usr/local/bin:/usr/bin:/bin", ':');
  std::string beside = core::dir_name(me);
  if (!me.empty()) dirs.insert(dirs.begin(), beside);
  for (auto dir : dirs) {
    std::string candidate = std::string(dir) + "/" + tool;
    char real[4096] = {0};
    if (::access(candidate.c_str(), X_OK) != 0 || !::realpath(candidate.c_str(), real)) continue;
    if (real == me) continue;
    found = candidate;
    break;
  }
  if (found.empty()) {
    std::fprintf(stderr, "k3s: %s not found on PATH\n", tool.c_str());
    return 127;
  }
  if (tool == "kubectl" && !std::getenv("KUBECONFIG") &&
      core::path_exists("/etc/rancher/k3s/k3s.yaml")) {
    ::setenv("KUBECONFIG", "/etc/rancher/k3s/k3s.yaml", 1);
  }
  if (tool == "ctr" && !std::getenv("CONTAINERD_ADDRESS")) {
    ::setenv("CONTAINERD_ADDRESS", "/run/k3s/containerd/containerd.sock", 1);
  }
  if (tool == "crictl" && !std::getenv("CONTAINER_RUNTIME_ENDPOINT")) {
    ::setenv("CONTAINER_RUNTIME_ENDPOINT", "unix:///run/k3s/containerd/containerd.sock", 1);
  }
  std::vector<char*> argv;
  std::string name = tool;
  argv.push_back(name.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(found.c_str(), argv.data());
  std::perror(("k3s: exec " + found).c_str());
  return 126;
}

// The server's flags: long name, short alias, K3S_* variable, help.
void add_node_flags(CLI::App* cmd, k3s::config::AgentConfig& c);

void add_agent_flags(CLI::App* cmd, k3s::config::AgentConfig& c) {
  cmd->add_option("-s,--server", c.server_url, "Server to connect to")->envname("K3S_URL");
  cmd->add_option("-t,--token", c.token, "Token to use for authentication")->envname("K3S_TOKEN");
  cmd->add_option("--token-file", c.token_file, "Token file to use for authentication")
      ->envname("K3S_TOKEN_FILE");
  cmd->add_option("-d,--data-dir", c.data_dir, "Folder to hold state")
      ->envname("K3S_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--node-name", c.node_name, "Node name")->envname("K3S_NODE_NAME");
  add_node_flags(cmd, c);
}

void add_node_flags(CLI::App* cmd, k3s::config::AgentConfig& c) {
  cmd->add_flag("--with-node-id", c.with_node_id, "Append id to node name");
  cmd->add_option("-i,--node-ip", c.node_ip, "IPv4/IPv6 addresses to advertise for node")
      ->delimiter(',');
  cmd->add_option("--node-external-ip", c.node_external_ip,
                  "IPv4/IPv6 external IP addresses to advertise for node")
      ->delimiter(',');
  cmd->add_option("--node-label", c.node_labels,
                  "Registering and starting kubelet with set of labels");
  cmd->add_option("--node-taint", c.node_taints, "Registering kubelet with set of taints");
  cmd->add_option("--private-registry", c.private_registry, "Private registry configuration file")
      ->capture_default_str();
  cmd->add_option("--pause-image", c.pause_image, "Customized pause image for containerd sandbox")
      ->capture_default_str();
  cmd->add_option("--resolv-conf", c.resolv_conf, "Kubelet resolv.conf file")
      ->envname("K3S_RESOLV_CONF");
  cmd->add_option("--kubelet-arg", c.kubelet_args, "Customized flag for kubelet process");
  cmd->add_option("--lb-server-port", c.lb_server_port,
                  "Local port for supervisor client load-balancer")
      ->envname("K3S_LB_SERVER_PORT")
      ->capture_default_str();
  cmd->add_flag("--prefer-bundled-bin", c.prefer_bundled_bin,
                "Prefer bundled userspace binaries over host binaries");
}

void add_server_flags(CLI::App* cmd, ServerConfig& c, std::string& config_file) {
  cmd->add_option("-c,--config", config_file, "Load configuration from FILE")
      ->envname("K3S_CONFIG_FILE");
  cmd->add_option("-d,--data-dir", c.data_dir, "Folder to hold state")
      ->envname("K3S_DATA_DIR")
      ->capture_default_str();
  cmd->add_option("--bind-address", c.bind_address, "k3s bind address")
      ->envname("K3S_BIND_ADDRESS")
      ->capture_default_str();
  cmd->add_option("--https-listen-port", c.https_port, "HTTPS listen port")
      ->envname("K3S_HTTPS_LISTEN_PORT")
      ->capture_default_str();
  cmd->add_option("--advertise-address", c.advertise_address,
                  "IPv4/IPv6 address that apiserver uses to advertise to members of the cluster")
      ->envname("K3S_ADVERTISE_ADDRESS");
  cmd->add_option("--advertise-port", c.advertise_port,
                  "Port that apiserver uses to advertise to members of the cluster")
      ->envname("K3S_ADVERTISE_PORT");
  cmd->add_option("--tls-san", c.tls_san,
                  "Add additional hostnames or IPv4/IPv6 addresses as Subject Alternative Names")
      ->envname("K3S_TLS_SAN")
      ->delimiter(',');
  cmd->add_option("--cluster-cidr", c.cluster_cidr, "IPv4/IPv6 network CIDRs to use for pod IPs")
      ->envname("K3S_CLUSTER_CIDR")
      ->capture_default_str();
  cmd->add_option("--service-cidr", c.service_cidr,
                  "IPv4/IPv6 network CIDRs to use for service IPs")
      ->envname("K3S_SERVICE_CIDR")
      ->capture_default_str();
  cmd->add_option("--cluster-dns", c.cluster_dns, "IPv4 Cluster IP for coredns service")
      ->envname("K3S_CLUSTER_DNS");
  cmd->add_option("--cluster-domain", c.cluster_domain, "Cluster Domain")
      ->envname("K3S_CLUSTER_DOMAIN")
      ->capture_default_str();
  cmd->add_option("-t,--token", c.token, "Shared secret used to join a server or agent")
      ->envname("K3S_TOKEN");
  cmd->add_option("--token-file", c.token_file, "File containing the token")
      ->envname("K3S_TOKEN_FILE");
  cmd->add_option("--agent-token", c.agent_token, "Shared secret used to join agents")
      ->envname("K3S_AGENT_TOKEN");
  cmd->add_option("-o,--write-kubeconfig", c.write_kubeconfig,
                  "Write kubeconfig for admin client to this file")
      ->envname("K3S_KUBECONFIG_OUTPUT");
  cmd->add_option("--write-kubeconfig-mode", c.write_kubeconfig_mode,
                  "Write kubeconfig with this mode")
      ->envname("K3S_KUBECONFIG_MODE");
  cmd->add_option("--datastore-endpoint", c.datastore_endpoint,
                  "Specify etcd, NATS, MySQL, Postgres, or SQLite (default) data source name")
      ->envname("K3S_DATASTORE_ENDPOINT");
  cmd->add_option("--disable", c.disable,
                  "Do not deploy packaged components and delete any deployed components "
                  "(valid items: coredns, servicelb, traefik, local-storage, metrics-server, "
                  "runtimes)")
      ->delimiter(',');
  cmd->add_option("--default-local-storage-path", c.default_local_storage_path,
                  "Default local storage path for local provisioner storage class");
  cmd->add_option("--system-default-registry", c.system_default_registry,
                  "Private registry to be used for all system images")
      ->envname("K3S_SYSTEM_DEFAULT_REGISTRY");
  cmd->add_flag("--disable-agent", c.disable_agent, "Do not run a local agent");
  cmd->add_flag("--disable-kube-proxy", c.disable_kube_proxy, "Disable running kube-proxy");
  cmd->add_option("--flannel-backend", c.flannel_backend,
                  "Backend (valid values: 'none', 'vxlan', 'host-gw')")
      ->capture_default_str();
  cmd->add_flag("--disable-network-policy", c.disable_network_policy,
                "Disable k3s default network policy controller");
  cmd->add_option("--node-name", c.node_name, "Node name")->envname("K3S_NODE_NAME");
  add_node_flags(cmd, c.agent);
}

k3s::config::FlagSpec server_spec(const CLI::App* cmd) {
  k3s::config::FlagSpec spec;
  for (const CLI::Option* o : cmd->get_options()) {
    for (const auto& l : o->get_lnames()) {
      spec.known.insert(l);
      if (o->get_expected_max() > 1) spec.lists.insert(l);
      for (const auto& s : o->get_snames()) spec.aliases.emplace_back(s, l);
    }
  }
  spec.known.erase("help");
  return spec;
}

void add_token_commands(CLI::App& app, k3s::ctl::TokenOptions& o, std::vector<std::string>& args,
                        std::function<core::Result<void>()>& action) {
  CLI::App* token = app.add_subcommand("token", "Manage bootstrap tokens");
  token->require_subcommand(1);
  auto kubeconfig = [&o](CLI::App* c) {
    // $KUBECONFIG is read by kubeconfig_path(): an env binding here would be applied by every
    // token subcommand sharing the variable, overriding the flag.
    c->add_option("--kubeconfig", o.kubeconfig, "Server to connect to [$KUBECONFIG]");
    c->add_option("-d,--data-dir", o.data_dir, "Folder to hold state");
  };
  CLI::App* create = token->add_subcommand("create", "Create bootstrap tokens on the server");
  kubeconfig(create);
  create->add_option("--description", o.description,
                     "A human friendly description of how this token is used");
  create
      ->add_option("--groups", o.groups,
                   "Extra groups that this token will authenticate as when used for "
                   "authentication (default: system:bootstrappers:k3s:default-node-token)")
      ->delimiter(',');
  create
      ->add_option("--ttl", o.ttl,
                   "The duration before the token is automatically deleted (e.g. 1s, 2m, 3h). "
                   "If set to '0', the token will never expire")
      ->capture_default_str();
  create
      ->add_option("--usages", o.usages,
                   "Describes the ways in which this token can be used (default: "
                   "signing,authentication)")
      ->delimiter(',');
  create->add_option("token", args, "The token to create ([a-z0-9]{6}.[a-z0-9]{16})")
      ->expected(0, 1);
  create->callback([&] {
    action = [&] { return k3s::ctl::token_create(o, args.empty() ? "" : args[0], stdout); };
  });
  CLI::App* del = token->add_subcommand("delete", "Delete bootstrap tokens on the server");
  kubeconfig(del);
  del->add_option("tokens", args, "Token ids or tokens");
  del->callback([&] { action = [&] { return k3s::ctl::token_delete(o, args, stdout); }; });
  CLI::App* list = token->add_subcommand("list", "List bootstrap tokens on the server");
  kubeconfig(list);
  list->add_option("-o,--output", o.output, "Output format. Valid options: text, json, yaml")
      ->capture_default_str();
  list->callback([&] { action = [&] { return k3s::ctl::token_list(o, stdout); }; });
  CLI::App* generate = token->add_subcommand(
      "generate", "Generate and print a bootstrap token, but do not create it on the server");
  kubeconfig(generate);
  generate->callback([&] {
    action = [] {
      k3s::ctl::token_generate(stdout);
      return core::Result<void>{};
    };
  });
}

// check and rotate keep separate options: CLI11 applies an option's environment variable even
// in subcommands that were not given, so two options may not share one variable.
void add_certificate_commands(CLI::App& app, k3s::ctl::CertificateOptions (&o)[2],
                              std::function<core::Result<void>()>& action) {
  CLI::App* cert = app.add_subcommand("certificate", "Manage K3s certificates");
  cert->require_subcommand(1);
  CLI::App* check = cert->add_subcommand("check", "Check K3s component certificates on disk");
  CLI::App* rotate = cert->add_subcommand("rotate", "Rotate K3s component certificates on disk");
  for (int i : {0, 1}) {
    (i == 0 ? check : rotate)
        ->add_option("-d,--data-dir", o[i].data_dir, "Folder to hold state")
        ->envname("K3S_DATA_DIR")
        ->capture_default_str();
  }
  check->add_option("-o,--output", o[0].output, "Format output. Options: text, table, json")
      ->capture_default_str();
  check->callback([&] { action = [&] { return k3s::ctl::certificate_check(o[0], stdout); }; });
  rotate->add_option("-s,--service", o[1].services, "List of services to rotate certificates for")
      ->delimiter(',');
  rotate->callback([&] { action = [&] { return k3s::ctl::certificate_rotate(o[1]); }; });
}

}  // namespace

int main(int argc, char** argv) {
  std::string invoked = core::base_name(argv[0]);
  if (invoked == "kubectl" || invoked == "crictl" || invoked == "ctr") {
    return exec_tool(invoked, std::vector<std::string>(argv + 1, argv + argc));
  }
  if (argc > 1) {
    std::string first = argv[1];
    if (first == "kubectl" || first == "crictl" || first == "ctr") {
      return exec_tool(first, std::vector<std::string>(argv + 2, argv + argc));
    }
  }
  core::log::set_style(core::log::Style::kLogrus);

  CLI::App app{"Kubernetes, but small and simple", "k3s"};
  app.set_version_flag("-v,--version",
                       std::string("k3s version ") + k3s::config::kVersion + " (k3s-airgap)");
  app.require_subcommand(1);
  ServerConfig config;
  std::string config_file;
  bool debug = false;
  app.add_flag("--debug", debug, "Turn on debug logs")->envname("K3S_DEBUG");
  CLI::App* server = app.add_subcommand("server", "Run management server");
  add_server_flags(server, config, config_file);
  std::function<core::Result<void>()> action = [&config] {
    return k3s::server::run_server(config);
  };
  k3s::config::AgentConfig agent_config;
  CLI::App* agent = app.add_subcommand("agent", "Run node agent");
  add_agent_flags(agent, agent_config);
  agent->callback(
      [&] { action = [&agent_config] { return k3s::agent::run_agent(agent_config); }; });
  k3s::ctl::TokenOptions token_options;
  std::vector<std::string> token_args;
  add_token_commands(app, token_options, token_args, action);
  k3s::ctl::CertificateOptions cert_options[2];
  for (auto& c : cert_options) c = {.data_dir = config.data_dir, .now = core::system_now()};
  add_certificate_commands(app, cert_options, action);
  k3s::ctl::CheckConfigOptions check_options;
  CLI::App* check = app.add_subcommand("check-config", "Run config check");
  check->add_option("-d,--data-dir", check_options.data_dir, "Folder to hold state")
      ->envname("K3S_DATA_DIR")
      ->capture_default_str();
  check->callback([&] {
    action = [&] {
      return k3s::ctl::print_check_config(k3s::ctl::check_config(check_options), stdout);
    };
  });

  // config.yaml(.d) flags go right after the subcommand, before the user's arguments.
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args.front() == "server") {
    std::vector<std::string> rest(args.begin() + 1, args.end());
    auto merged = k3s::config::merge_config(
        k3s::config::config_path(rest, std::getenv("K3S_CONFIG_FILE")), rest, server_spec(server),
        [](std::string w) { core::log::warn("{}", w); });
    if (!merged) {
      core::log::error("{}", merged.error().message());
      return 1;
    }
    args = {"server"};
    args.insert(args.end(), merged->begin(), merged->end());
  }
  std::vector<char*> cargv{argv[0]};
  for (auto& a : args) cargv.push_back(a.data());
  try {
    app.parse(static_cast<int>(cargv.size()), cargv.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (debug) core::log::set_level(core::log::Level::kDebug);
  auto r = action();
  if (!r) {
    core::log::error("{}", r.error().message());
    return core::errc_exit_code(r.error().code());
  }
  return 0;
}
