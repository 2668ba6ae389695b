// Proxy selection, internal to core/http: which proxy a request goes through, from
// ClientOptions or the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY and their lowercase
// forms), with curl's NO_PROXY rules. Immutable after construction: thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/http/client.h"
#include "core/http/url.h"

namespace core::http::detail {

class ProxySettings {
 public:
  // Reads the environment for whatever options leave unset.
  explicit ProxySettings(const ClientOptions& options);

  // The proxy for target, or nullopt for a direct connection. Fails with kInvalid (or
  // kUnsupported for a non-http proxy scheme) when the configured proxy URL is bad.
  Result<std::optional<Url>> select(const Url& target) const;

 private:
  std::string http_proxy_;
  std::string https_proxy_;
  std::string no_proxy_;
};

// True when host matches an entry of a NO_PROXY list: "*", an IP literal or CIDR block, or a
// domain that equals host or is a suffix of it at a dot. Comparisons ignore case.
bool no_proxy_matches(std::string_view list, std::string_view host);

// "Basic <base64(user:password)>" from the proxy URL's userinfo, or "" when it has none.
std::string proxy_authorization(const Url& proxy);

}  // namespace core::http::detail
