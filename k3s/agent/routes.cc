#include "k3s/agent/routes.h"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/base/strings.h"
#include "core/fs/fd.h"

namespace k3s::agent {
namespace {

struct Request {
  nlmsghdr header;
  rtmsg route;
  char attributes[64];
};

void add_attribute(Request& r, uint16_t type, const void* data, size_t size) {
  auto* a =
      reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&r) + NLMSG_ALIGN(r.header.nlmsg_len));
  a->rta_type = type;
  a->rta_len = static_cast<uint16_t>(RTA_LENGTH(size));
  std::memcpy(RTA_DATA(a), data, size);
  r.header.nlmsg_len = NLMSG_ALIGN(r.header.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

core::Result<void> parse_cidr(const std::string& cidr, in_addr& address, int& bits) {
  auto slash = cidr.find('/');
  std::string ip = cidr.substr(0, slash);
  auto length = slash == std::string::npos
                    ? std::optional<uint64_t>(32)
                    : core::parse_u64(std::string_view(cidr).substr(slash + 1));
  bits = length && *length <= 32 ? static_cast<int>(*length) : -1;
  if (inet_pton(AF_INET, ip.c_str(), &address) != 1 || bits < 0)
    return core::failf(core::Errc::kInvalid, "{}: not an IPv4 CIDR", cidr);
  return {};
}

// Sends one request and reads the kernel's answer into `reply`: an acknowledgement, or the
// route asked for. Returns its length.
core::Result<size_t> send(Request& r, char (&reply)[1024], const std::string& what) {
  core::Fd fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd.valid())
    return core::failf(core::Errc::kIo, "{}: netlink socket: {}", what, strerror(errno));
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t n = -1;
  if (::sendto(fd.get(), &r, r.header.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) >= 0)
    n = ::recv(fd.get(), reply, sizeof reply, 0);
  if (n < 0) return core::failf(core::Errc::kIo, "{}: netlink: {}", what, strerror(errno));
  return static_cast<size_t>(n);
}

core::Result<void> talk(Request& r, const std::string& what, bool missing_ok) {
  char reply[1024];
  size_t n = K3A_TRY(send(r, reply, what));
  auto* h = reinterpret_cast<nlmsghdr*>(reply);
  if (!NLMSG_OK(h, n) || h->nlmsg_type != NLMSG_ERROR) return {};
  int code = -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
  if (code == 0 || (missing_ok && code == ESRCH)) return {};
  return core::failf(core::Errc::kIo, "{}: {}", what, strerror(code));
}

Request route_request(uint16_t type, uint16_t flags, const in_addr& dst, int bits) {
  Request r{};
  r.header.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  r.header.nlmsg_type = type;
  r.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r.route.rtm_family = AF_INET;
  r.route.rtm_dst_len = static_cast<unsigned char>(bits);
  r.route.rtm_table = RT_TABLE_MAIN;
  r.route.rtm_protocol = RTPROT_STATIC;
  r.route.rtm_scope = RT_SCOPE_UNIVERSE;
  r.route.rtm_type = RTN_UNICAST;
  add_attribute(r, RTA_DST, &dst, sizeof dst);
  return r;
}

// The next hop towards `node` (`ip route get`): its gateway, or the node itself when it is on
// a link of ours.
core::Result<in_addr> next_hop(const in_addr& node, const std::string& what) {
  Request r = route_request(RTM_GETROUTE, 0, node, 32);
  r.header.nlmsg_flags = NLM_F_REQUEST;
  char reply[1024];
  size_t n = K3A_TRY(send(r, reply, what));
  auto* h = reinterpret_cast<nlmsghdr*>(reply);
  if (!NLMSG_OK(h, n)) return core::failf(core::Errc::kIo, "{}: short netlink answer", what);
  if (h->nlmsg_type == NLMSG_ERROR)
    return core::failf(core::Errc::kIo, "{}: {}", what,
                       strerror(-reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error));
  auto* route = reinterpret_cast<rtmsg*>(NLMSG_DATA(h));
  int len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(rtmsg)));
  for (auto* a = RTM_RTA(route); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == RTA_GATEWAY) return *reinterpret_cast<in_addr*>(RTA_DATA(a));
  }
  return node;
}

}  // namespace

core::Result<void> replace_route(const std::string& cidr, const std::string& gateway) {
  in_addr dst{}, via{};
  int bits = 0;
  K3A_CHECK(parse_cidr(cidr, dst, bits));
  if (inet_pton(AF_INET, gateway.c_str(), &via) != 1)
    return core::failf(core::Errc::kInvalid, "{}: not an IPv4 address", gateway);
  std::string what = fmt::format("route {} via {}", cidr, gateway);
  via = K3A_TRY(next_hop(via, what));
  Request r = route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, dst, bits);
  add_attribute(r, RTA_GATEWAY, &via, sizeof via);
  return talk(r, what, false);
}

core::Result<void> delete_route(const std::string& cidr) {
  in_addr dst{};
  int bits = 0;
  K3A_CHECK(parse_cidr(cidr, dst, bits));
  Request r = route_request(RTM_DELROUTE, 0, dst, bits);
  r.route.rtm_scope = RT_SCOPE_NOWHERE;
  return talk(r, "route " + cidr, true);
}

}  // namespace k3s::agent
