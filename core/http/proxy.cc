#include "core/http/proxy.h"

#include <arpa/inet.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/base/strings.h"
#include "core/crypto/base64.h"

namespace core::http::detail {
namespace {

std::string env_first(const char* lower, const char* upper) {
  for (const char* name : {lower, upper}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return value;
  }
  return "";
}

// An address in network byte order with its family, for literal and CIDR comparisons.
struct IpBytes {
  int family = 0;
  std::array<unsigned char, 16> bytes{};
  size_t size() const { return family == AF_INET ? 4 : 16; }
};

std::optional<IpBytes> parse_ip(std::string_view text) {
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  std::string s(text);
  IpBytes ip;
  if (::inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  if (::inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

bool cidr_contains(std::string_view cidr, const IpBytes& host) {
  size_t slash = cidr.find('/');
  auto net = parse_ip(cidr.substr(0, slash));
  auto bits = parse_u64(cidr.substr(slash + 1));
  if (!net || !bits || net->family != host.family || *bits > net->size() * 8) return false;
  for (size_t i = 0; i < net->size(); ++i) {
    uint64_t covered = *bits > i * 8 ? *bits - i * 8 : 0;
    if (covered == 0) break;
    unsigned mask = covered >= 8 ? 0xff : (0xff << (8 - covered)) & 0xff;
    if ((net->bytes[i] & mask) != (host.bytes[i] & mask)) return false;
  }
  return true;
}

bool entry_matches(std::string_view entry, std::string_view host,
                   const std::optional<IpBytes>& ip) {
  if (entry == "*") return true;
  if (entry.find('/') != std::string_view::npos) return ip && cidr_contains(entry, *ip);
  if (auto entry_ip = parse_ip(entry)) {
    return ip && ip->family == entry_ip->family &&
           std::memcmp(ip->bytes.data(), entry_ip->bytes.data(), ip->size()) == 0;
  }
  while (entry.starts_with('.')) entry.remove_prefix(1);
  while (entry.ends_with('.')) entry.remove_suffix(1);
  if (entry.empty()) return false;
  if (host == entry) return true;
  return host.size() > entry.size() && host.ends_with(entry) &&
         host[host.size() - entry.size() - 1] == '.';
}

Result<Url> parse_proxy_url(const std::string& text) {
  std::string full = text.find("://") == std::string::npos ? "http://" + text : text;
  if (!starts_with_ci(full, "http://")) {
    return failf(Errc::kUnsupported, "proxy {}: only http:// proxies are supported",
                 quote(full.substr(0, full.find("://"))));
  }
  auto url = Url::parse(full);
  if (!url) return std::unexpected(std::move(url).error().context("proxy"));
  return url;
}

}  // namespace

ProxySettings::ProxySettings(const ClientOptions& options) {
  if (options.proxy) {
    http_proxy_ = https_proxy_ = *options.proxy;
  } else {
    http_proxy_ = env_first("http_proxy", "HTTP_PROXY");
    https_proxy_ = env_first("https_proxy", "HTTPS_PROXY");
  }
  no_proxy_ = options.no_proxy ? *options.no_proxy : env_first("no_proxy", "NO_PROXY");
}

Result<std::optional<Url>> ProxySettings::select(const Url& target) const {
  const std::string& proxy = target.scheme == "https" ? https_proxy_ : http_proxy_;
  if (proxy.empty() || no_proxy_matches(no_proxy_, target.host)) return std::nullopt;
  return K3A_TRY(parse_proxy_url(proxy));
}

bool no_proxy_matches(std::string_view list, std::string_view host_text) {
  std::string host = to_lower(host_text);
  while (host.ends_with('.')) host.pop_back();
  std::optional<IpBytes> ip = parse_ip(host);
  for (std::string_view comma_part : split(list, ',')) {
    for (std::string_view entry : split(trim(comma_part), ' ')) {
      entry = trim(entry);
      if (!entry.empty() && entry_matches(to_lower(entry), host, ip)) return true;
    }
  }
  return false;
}

std::string proxy_authorization(const Url& proxy) {
  if (proxy.userinfo.empty()) return "";
  size_t colon = proxy.userinfo.find(':');
  std::string_view info = proxy.userinfo;
  auto user = url_decode(info.substr(0, colon));
  auto pass = colon == std::string::npos ? std::optional<std::string>("")
                                         : url_decode(info.substr(colon + 1));
  std::string plain = (user ? *user : std::string(info.substr(0, colon))) + ":" +
                      (pass ? *pass : std::string(info.substr(colon + 1)));
  return "Basic " + base64_encode(plain);
}

}  // namespace core::http::detail
