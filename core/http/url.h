// Url: an absolute http or https URL split into the parts a client needs (scheme, host, port,
// request target), with redirect resolution and query-component encoding. Plain values and pure
// functions: thread-safe, no shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace core::http {

struct Url {
  std::string scheme;    // "http" or "https", lowercase
  std::string userinfo;  // "user:password" as written (percent-encoded); empty when absent
  std::string host;      // lowercase; IPv6 literals without brackets
  uint16_t port = 0;     // explicit or the scheme's default (80/443)
  std::string target;    // path + "?query", at least "/"; the fragment is dropped

  // Parses an absolute URL. Accepts IPv6 literals ("http://[::1]:5000/v2/") and percent-encodes
  // bytes above 0x7f in the target. Fails with kInvalid naming the text for any other scheme, a
  // missing or malformed host, a bad port, or control characters and spaces.
  static Result<Url> parse(std::string_view text);

  // "scheme://[userinfo@]host[:port]target"; the port only when it is not the default.
  std::string str() const;
  // "host:port" with brackets around IPv6 literals; the port always present.
  std::string host_port() const;
  // The Host header value: host_port() without a default port.
  std::string authority() const;
  // The path part of target (before '?').
  std::string_view path() const;
  // True when host is a numeric IPv4 or IPv6 address.
  bool host_is_ip() const;

  // Resolves a redirect Location (absolute, scheme-relative "//host/x", absolute-path or relative
  // reference) against this URL, removing dot segments. Fails with kInvalid on an empty or
  // unparsable location.
  Result<Url> resolve(std::string_view location) const;
};

// Percent-encodes everything except the RFC 3986 unreserved characters, for use in a query
// component ("a b/c" -> "a%20b%2Fc").
std::string url_encode(std::string_view text);
// Decodes %XX sequences; returns nullopt on a malformed sequence. '+' is left as it is.
std::optional<std::string> url_decode(std::string_view text);
// True when text is a numeric IPv4 or IPv6 address (no brackets).
bool is_ip_literal(std::string_view text);

}  // namespace core::http
