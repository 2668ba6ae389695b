// The agent's network keeper, kube-proxy's and flannel's parts of upstream's agent: it watches
// Services, EndpointSlices and Nodes, and after each change (at most every 200 ms, and every
// 30 s regardless) applies the Service rules (proxy_rules.h) with iptables-restore and keeps a
// route to every other node's pod CIDR through that node's InternalIP (routes.h). Forwarding
// and bridge netfilter are switched on at start, as upstream's agent does.
#pragma once

#include <memory>
#include <string>

#include "core/base/error.h"
#include "k3s/client/kube_client.h"

namespace k3s::agent {

struct ProxyOptions {
  std::string node_name;
  std::string cluster_cidr = "10.42.0.0/16";
  std::string bin_dir;        // the bundled binaries, searched for iptables-restore first
  bool service_rules = true;  // false with --disable-kube-proxy
  bool pod_network = true;    // false with --flannel-backend=none: no routes, no masquerading
};

class NetworkKeeper {
 public:
  // Fails when iptables-restore cannot be found (service_rules) and names what is missing.
  static core::Result<std::unique_ptr<NetworkKeeper>> start(client::Endpoint api,
                                                            ProxyOptions options);
  ~NetworkKeeper();
  NetworkKeeper(const NetworkKeeper&) = delete;
  NetworkKeeper& operator=(const NetworkKeeper&) = delete;
  void stop();

  struct Impl;

 private:
  explicit NetworkKeeper(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace k3s::agent
