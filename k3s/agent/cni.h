// The node's pod network, as the agent configures containerd's CNI: a bridge (cni0) with the
// node's pod CIDR handed out by host-local IPAM (its leases under /run/k3s/cni, so they go with
// the sandboxes at reboot), masquerading for traffic that leaves the node's pod network unless
// the agent's FLANNEL-POSTRTG chain does it for the cluster (proxy.h), and portmap for hostPort.
// The plugins are taken from the bundled bin directory, else the distribution's.
#pragma once

#include <optional>
#include <string>

namespace k3s::agent {

// The .conflist for containerd's CNI configuration directory.
std::string cni_conflist(const std::string& pod_cidr, bool masquerade);

// The first directory holding the bridge plugin: <data-dir>/data/current/bin, the directory of
// the running k3s (a bundle's bin/), /usr/lib/cni, /opt/cni/bin; nullopt when none has it.
std::optional<std::string> cni_bin_dir(const std::string& data_dir);

}  // namespace k3s::agent
