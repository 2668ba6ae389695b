// Fetcher, internal to core/http: the request policy above Transport — proxy selection,
// retries with backoff on connection errors and retryable statuses, redirects. Client and its
// download logic are thin layers over it. Thread-safe as Transport is; options are read-only.
#pragma once

#include <string>

#include "core/base/error.h"
#include "core/http/client.h"
#include "core/http/proxy.h"
#include "core/http/transport.h"
#include "core/http/url.h"

namespace core::http::detail {

enum class BodyMode {
  kBuffer,  // read the body (up to max_body) inside the retry loop
  kStream,  // leave the body in the exchange for the caller
};

struct Reply {
  Exchange exchange;
  std::string body;  // kBuffer only
};

class Fetcher {
 public:
  explicit Fetcher(const ClientOptions& options);

  const ClientOptions& options() const { return options_; }

  // One request, retried (idempotent methods with a buffered body only) on kUnavailable and
  // kTimeout and on 429/502/503/504 answers; the last answer is returned as it is. Errors name
  // the method and URL, the cause and the number of attempts.
  Result<Reply> attempt(const Url& url, const Message& message, BodyMode mode);

  // attempt() following redirects; url becomes the final URL. Errors as for attempt(), plus
  // kTooLarge after max_redirects and kInvalid for a bad Location.
  Result<Reply> follow(Url& url, Message message, BodyMode mode);

 private:
  Result<Reply> once(const Url& url, const Message& message, BodyMode mode);

  ClientOptions options_;
  ProxySettings proxies_;
  Transport transport_;
};

// The URL without userinfo, for messages and logs.
std::string display_url(const Url& url);
// True for methods that may be repeated without changing the outcome.
bool is_idempotent(std::string_view method);

}  // namespace core::http::detail

namespace core::http {

// Client's private state, shared by client.cc and download.cc.
struct Client::Impl {
  explicit Impl(const ClientOptions& options) : fetcher(options) {}
  detail::Fetcher fetcher;
};

}  // namespace core::http
