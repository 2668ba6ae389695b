// The Service rules of the agent's proxy, in kube-proxy's iptables mode and with its chain
// names, so `iptables-save | grep KUBE-` reads as on any Kubernetes node. nat: KUBE-SERVICES
// (from PREROUTING and OUTPUT) sends each ClusterIP, external IP and LoadBalancer ingress IP
// port to KUBE-SVC-<hash>, which picks one of the ready endpoints' KUBE-SEP-<hash> with equal
// probability and DNATs to it; node ports (KUBE-NODEPORTS, addresses local to the node) and
// external addresses pass through KUBE-EXT-<hash>, which marks the packet for masquerading;
// KUBE-POSTROUTING masquerades marked packets; FLANNEL-POSTRTG masquerades pod traffic leaving
// the cluster network and nothing between pods. filter: a port of a Service without ready
// endpoints is rejected (connection refused) instead of timing out. Pure: the caller applies
// the text with `iptables-restore --noflush`.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace k3s::agent {

struct ProxyState {
  std::vector<nlohmann::json> services;
  std::vector<nlohmann::json> slices;  // discovery.k8s.io/v1 EndpointSlices
  std::string cluster_cidr;            // pod traffic from it is not masqueraded for ClusterIPs
  bool service_rules = true;           // false: no KUBE- chains (--disable-kube-proxy)
  bool pod_network = true;             // false: no FLANNEL-POSTRTG (--flannel-backend=none)
  // KUBE-SVC-, KUBE-SEP- and KUBE-EXT- chains present in the nat table now: those no longer
  // needed are flushed and deleted.
  std::set<std::string> existing_chains;
};

// kube-proxy's chain name: prefix + the first 16 base32 characters of SHA-256(text).
std::string chain_name(const std::string& prefix, const std::string& text);

// The nat and filter tables for iptables-restore --noflush.
std::string render_proxy_rules(const ProxyState& state);

}  // namespace k3s::agent
