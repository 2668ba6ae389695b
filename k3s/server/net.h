// Address helpers for the server's flags: IP literals and CIDRs (IPv4 and IPv6), and the
// node's own address. Pure but for node_ip(), which reads the interfaces.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace k3s::server {

// The canonical text of an IP literal, or nullopt.
std::optional<std::string> parse_ip(const std::string& text);
// Whether text is "ADDRESS/PREFIX" with a prefix that fits the family.
bool valid_cidr(const std::string& text);
// The n-th address of a CIDR (1: the first after the network address), or nullopt when it does
// not fit. 10.43.0.0/16, 1 → 10.43.0.1; 10 → 10.43.0.10.
std::optional<std::string> nth_address(const std::string& cidr, uint64_t n);
// The node's IP as upstream picks it by default: the first IPv4 address of an interface that is
// up and not loopback; 127.0.0.1 when there is none (a namespace without network).
std::string node_ip();
// The host name, lower-cased: the default node name.
std::string host_name();

}  // namespace k3s::server
