#include "core/http/url.h"

#include <arpa/inet.h>
#include <fmt/core.h>

#include <vector>

#include "core/base/strings.h"

namespace core::http {
namespace {

uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool is_host_char(unsigned char c) { return is_unreserved(c) || c == '%'; }

// Control characters and spaces would let a URL smuggle header lines into a request.
bool has_forbidden_bytes(std::string_view text) {
  for (unsigned char c : text) {
    if (c <= 0x20 || c == 0x7f) return true;
  }
  return false;
}

// Drops the fragment, makes the path absolute and percent-encodes bytes above 0x7f.
std::string make_target(std::string_view tail) {
  tail = tail.substr(0, tail.find('#'));
  std::string out;
  if (tail.empty() || tail.front() != '/') out.push_back('/');
  for (unsigned char c : tail) {
    if (c >= 0x80) {
      out += fmt::format("%{:02X}", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::optional<std::string> parse_host(std::string_view host_text, std::string_view* rest) {
  if (!host_text.empty() && host_text.front() == '[') {
    size_t close = host_text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string host(host_text.substr(1, close - 1));
    in6_addr addr{};
    if (::inet_pton(AF_INET6, host.c_str(), &addr) != 1) return std::nullopt;
    *rest = host_text.substr(close + 1);
    return to_lower(host);
  }
  size_t colon = host_text.find(':');
  std::string_view host = host_text.substr(0, colon);
  *rest = colon == std::string_view::npos ? std::string_view() : host_text.substr(colon);
  if (host.empty()) return std::nullopt;
  for (unsigned char c : host) {
    if (!is_host_char(c)) return std::nullopt;
  }
  return to_lower(host);
}

Result<void> parse_authority(std::string_view authority, Url& url) {
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    url.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  std::string_view rest;
  auto host = parse_host(authority, &rest);
  if (!host) return fail(Errc::kInvalid, "bad host");
  url.host = std::move(*host);
  url.port = default_port(url.scheme);
  if (rest.empty() || rest == ":") return {};
  if (rest.front() != ':') return fail(Errc::kInvalid, "bad host");
  auto port = parse_u64(rest.substr(1));
  if (!port || *port == 0 || *port > 65535) return fail(Errc::kInvalid, "bad port");
  url.port = static_cast<uint16_t>(*port);
  return {};
}

bool has_scheme(std::string_view ref) {
  size_t colon = ref.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  if (ref.find_first_of("/?#") < colon) return false;
  for (unsigned char c : ref.substr(0, colon)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// RFC 3986 section 5.2.4, for a path that begins with '/'.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> segments;
  std::vector<std::string_view> parts = split(path.substr(1), '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    bool last = i + 1 == parts.size();
    if (parts[i] == "." || parts[i] == "..") {
      if (parts[i] == ".." && !segments.empty()) segments.pop_back();
      if (last) segments.push_back("");
      continue;
    }
    segments.push_back(parts[i]);
  }
  std::string out;
  for (std::string_view s : segments) {
    out.push_back('/');
    out.append(s);
  }
  return out.empty() ? "/" : out;
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return failf(Errc::kInvalid, "invalid URL {}: {}", quote(text), why);
  };
  if (has_forbidden_bytes(text)) return bad("contains spaces or control characters");
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) return bad("not an absolute URL");
  Url url;
  url.scheme = to_lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") return bad("scheme is not http or https");
  std::string_view rest = text.substr(sep + 3);
  size_t authority_end = rest.find_first_of("/?#");
  auto parsed = parse_authority(rest.substr(0, authority_end), url);
  if (!parsed) return bad(parsed.error().message());
  url.target =
      make_target(authority_end == std::string_view::npos ? "" : rest.substr(authority_end));
  return url;
}

std::string Url::host_port() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

std::string Url::authority() const {
  if (port != default_port(scheme)) return host_port();
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string Url::str() const {
  std::string out = scheme + "://";
  if (!userinfo.empty()) out += userinfo + "@";
  return out + authority() + target;
}

std::string_view Url::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

bool Url::host_is_ip() const { return is_ip_literal(host); }

Result<Url> Url::resolve(std::string_view location) const {
  std::string_view ref = trim(location);
  if (ref.empty())
    return fail(Errc::kInvalid, fmt::format("empty redirect location from {}", str()));
  if (has_scheme(ref)) return parse(ref);
  if (ref.starts_with("//")) return parse(scheme + ":" + std::string(ref));
  if (has_forbidden_bytes(ref)) {
    return failf(Errc::kInvalid, "invalid redirect location {} from {}", quote(ref), str());
  }
  ref = ref.substr(0, ref.find('#'));
  size_t q = ref.find('?');
  std::string_view ref_path = ref.substr(0, q);
  std::string_view ref_query = q == std::string_view::npos ? "" : ref.substr(q);
  Url out = *this;
  std::string_view base_path = path();
  std::string new_path;
  if (ref_path.empty()) {
    new_path = std::string(base_path);
    if (q == std::string_view::npos) ref_query = std::string_view(target).substr(base_path.size());
  } else if (ref_path.front() == '/') {
    new_path = remove_dot_segments(ref_path);
  } else {
    std::string merged(base_path.substr(0, base_path.rfind('/') + 1));
    merged.append(ref_path);
    new_path = remove_dot_segments(merged);
  }
  out.target = make_target(new_path + std::string(ref_query));
  return out;
}

std::string url_encode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (is_unreserved(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::optional<std::string> url_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned value = 0;
    for (size_t j = i + 1; j <= i + 2; ++j) {
      char c = text[j];
      int digit = (c >= '0' && c <= '9')   ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                           : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<unsigned>(digit);
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

bool is_ip_literal(std::string_view text) {
  std::string s(text);
  in_addr v4{};
  in6_addr v6{};
  return ::inet_pton(AF_INET, s.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, s.c_str(), &v6) == 1;
}

}  // namespace core::http
