// `k3s agent`'s settings after flags and environment: plain values with upstream's defaults.
// Built by k3s/cmd; read by k3s/agent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace k3s::config {

struct AgentConfig {
  std::string server_url;  // --server, K3S_URL
  std::string token;       // --token, K3S_TOKEN
  std::string token_file;  // --token-file, K3S_TOKEN_FILE
  std::string data_dir = "/var/lib/rancher/k3s";
  std::string node_name;  // default: the host name, lower-cased
  bool with_node_id = false;
  std::vector<std::string> node_ip, node_external_ip;
  std::vector<std::string> node_labels, node_taints;  // key=value, key=value:Effect
  std::string private_registry = "/etc/rancher/k3s/registries.yaml";
  std::string pause_image = "docker.io/rancher/mirrored-pause:3.6";
  std::string resolv_conf;  // "" = /etc/resolv.conf, or systemd-resolved's upstream file
  std::vector<std::string> kubelet_args;  // "root-dir=/var/lib/kubelet" ...
  // Where the node's password and id live; upstream's fixed /etc/rancher/node.
  std::string node_identity_dir = "/etc/rancher/node";
  bool control_plane = false;       // the server's embedded agent: labelled with the server roles
  bool prefer_bundled_bin = false;  // <data-dir>/data/current/bin before the host's binaries
  uint16_t lb_server_port = 6444;   // the client-side load balancer on 127.0.0.1
};

}  // namespace k3s::config
