// Joining a cluster as upstream's agent does (k3s-facts.md 4.3 to 4.5): the server's CA fetched
// from /cacerts and checked against the K10 token's hash, the cluster's settings from
// /v1-k3s/config, the node's name and password (/etc/rancher/node), keys generated on the node
// and certificates issued from CSRs for the kubelet (client and serving), kube-proxy and the
// k3s controller, and the list of API servers (the --server's when the list is empty). Not
// thread-safe; run once at start.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "k3s/config/agent_config.h"

namespace k3s::agent {

struct Joined {
  std::string server_url;
  std::string node_name;
  nlohmann::json config;                // /v1-k3s/config
  std::vector<std::string> apiservers;  // "host:port"; never empty
  std::string agent_dir;                // <data-dir>/agent
  std::string kubelet_kubeconfig;       // the kubelet's identity: system:node:<name>
};

// Fails with upstream's messages: kIntegrity "token CA hash does not match the Cluster CA
// certificate hash: X != Y"; kForbidden "Node password rejected, ..."; kUnauthorized for a
// token the server refuses; kUnavailable when the server cannot be reached.
core::Result<Joined> join(const config::AgentConfig& config);

// kubelet.kubeconfig, kubeproxy.kubeconfig and k3scontroller.kubeconfig under <data-dir>/agent
// for the agent's identities, pointing at server_url (the client-side load balancer).
core::Result<void> write_kubeconfigs(const Joined& j, const std::string& server_url);

// The SHA-256 of a CA bundle as the K10 token carries it: of the PEM bytes as served.
std::string ca_hash(const std::string& pem);

}  // namespace k3s::agent
