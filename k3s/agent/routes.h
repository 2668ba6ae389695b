// Routes to the other nodes' pod CIDRs through their node addresses, as flannel's host-gw
// backend keeps them, written over rtnetlink. A node that is not on a link of ours is reached
// through the gateway that leads to it (the next hop of `ip route get NODE`), which forwards
// to the node's pods when it is that node itself or a router that knows the pod networks. Routes
// are added with protocol "static" so `ip route` shows them as such.
#pragma once

#include <string>

#include "core/base/error.h"

namespace k3s::agent {

// `ip route replace CIDR via NEXT-HOP` where NEXT-HOP leads to `gateway` (IPv4). kInvalid for a
// malformed address, else the kernel's refusal by name (an unreachable gateway: "Network is
// unreachable").
core::Result<void> replace_route(const std::string& cidr, const std::string& gateway);
// `ip route del CIDR`; a route that is not there is no error.
core::Result<void> delete_route(const std::string& cidr);

}  // namespace k3s::agent
