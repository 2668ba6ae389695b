#include "k3s/server/net.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <unistd.h>
#include <net/if.h>

#include <cstring>

#include "core/base/strings.h"

namespace k3s::server {
namespace {

struct Parsed {
  int family = 0;
  unsigned char bytes[16] = {0};
  int prefix = -1;
};

std::optional<Parsed> parse(const std::string& text, bool with_prefix) {
  Parsed p;
  std::string addr = text;
  if (with_prefix) {
    size_t slash = text.find('/');
    if (slash == std::string::npos) return std::nullopt;
    auto n = core::parse_u64(std::string_view(text).substr(slash + 1));
    if (!n) return std::nullopt;
    p.prefix = static_cast<int>(*n);
    addr = text.substr(0, slash);
  }
  if (inet_pton(AF_INET, addr.c_str(), p.bytes) == 1) {
    p.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr.c_str(), p.bytes) == 1) {
    p.family = AF_INET6;
  } else {
    return std::nullopt;
  }
  if (with_prefix && p.prefix > (p.family == AF_INET ? 32 : 128)) return std::nullopt;
  return p;
}

std::string format(const Parsed& p) {
  char buf[INET6_ADDRSTRLEN] = {0};
  inet_ntop(p.family, p.bytes, buf, sizeof buf);
  return buf;
}

}  // namespace

std::optional<std::string> parse_ip(const std::string& text) {
  auto p = parse(text, false);
  if (!p) return std::nullopt;
  return format(*p);
}

bool valid_cidr(const std::string& text) { return parse(text, true).has_value(); }

std::optional<std::string> nth_address(const std::string& cidr, uint64_t n) {
  auto p = parse(cidr, true);
  if (!p) return std::nullopt;
  int bits = p->family == AF_INET ? 32 : 128;
  int host_bits = bits - p->prefix;
  if (host_bits < 64 && n >= (uint64_t{1} << host_bits)) return std::nullopt;
  int len = bits / 8;
  // Clear the host part, then add n.
  for (int i = 0; i < len; ++i) {
    int bit = i * 8;
    if (bit >= p->prefix) {
      p->bytes[i] = 0;
    } else if (bit + 8 > p->prefix) {
      p->bytes[i] &= static_cast<unsigned char>(0xff << (8 - (p->prefix - bit)));
    }
  }
  uint64_t carry = n;
  for (int i = len - 1; i >= 0 && carry; --i) {
    uint64_t v = p->bytes[i] + (carry & 0xff);
    p->bytes[i] = static_cast<unsigned char>(v & 0xff);
    carry = (carry >> 8) + (v >> 8);
  }
  return format(*p);
}

}  // namespace k3s::server

namespace k3s::server {

std::string host_name() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof buf - 1);
  return core::to_lower(buf);
}

std::string node_ip() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found = "127.0.0.1";
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
        (i->ifa_flags & IFF_LOOPBACK))
      continue;
    char text[INET_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    found = text;
    break;
  }
  freeifaddrs(list);
  return found;
}

}  // namespace k3s::server
