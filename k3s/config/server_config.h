// `k3s server`'s settings after flags, environment and config files are merged: plain values,
// with upstream's defaults. Built by k3s/cmd; read by the server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "k3s/config/agent_config.h"

namespace k3s::config {

inline constexpr char kVersion[] = "v1.32.4+k3s1";  // the Kubernetes version we speak

struct ServerConfig {
  std::string data_dir = "/var/lib/rancher/k3s";
  std::string bind_address = "0.0.0.0";
  uint16_t https_port = 6443;
  std::string advertise_address;  // default: the node IP
  uint16_t advertise_port = 0;    // default: https_port
  std::vector<std::string> tls_san;
  std::string cluster_cidr = "10.42.0.0/16";
  std::string service_cidr = "10.43.0.0/16";
  std::string cluster_dns;  // default: the tenth address of service_cidr
  std::string cluster_domain = "cluster.local";
  std::string token;
  std::string token_file;
  std::string agent_token;
  std::string write_kubeconfig;  // default /etc/rancher/k3s/k3s.yaml
  std::string write_kubeconfig_mode;
  std::string datastore_endpoint;  // "" or sqlite://...
  std::vector<std::string> disable;
  std::string default_local_storage_path;  // default: <data-dir>/storage
  std::string system_default_registry;     // prefixes the packaged components' images
  bool disable_agent = false;
  bool disable_kube_proxy = false;  // agents keep pod routes but no Service rules
  // vxlan (upstream's default; routed here as host-gw, without encapsulation), host-gw, or
  // none: the agents write no CNI configuration and keep no routes (a CNI of the user's).
  std::string flannel_backend = "vxlan";
  bool disable_network_policy = false;  // accepted; there is no network policy controller
  std::string node_name;                // default: the host name
  // The embedded agent's node settings (--node-ip, --node-label, --private-registry ...); its
  // server, token, data dir and name come from the server's.
  AgentConfig agent;
};

}  // namespace k3s::config
