#include "core/http/fetcher.h"

#include <fmt/core.h>

#include <algorithm>
#include <thread>

#include "core/base/log.h"
#include "core/base/strings.h"

namespace core::http::detail {
namespace {

constexpr uint64_t kMaxRetryAfterSeconds = 30;

bool retryable_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

bool retryable_error(const Error& error) {
  return error.code() == Errc::kUnavailable || error.code() == Errc::kTimeout;
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool same_origin(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.port == b.port;
}

bool equals_ci(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_ci(a, b);
}

void erase_header(Headers& headers, std::string_view name) {
  std::erase_if(headers, [&](const auto& field) { return equals_ci(field.first, name); });
}

// Retry-After in seconds (an HTTP-date is ignored), capped so a server cannot park us.
std::optional<std::chrono::milliseconds> retry_after(const Exchange& exchange) {
  auto value = exchange.header("Retry-After");
  if (!value) return std::nullopt;
  auto seconds = parse_u64(trim(*value));
  if (!seconds) return std::nullopt;
  return std::chrono::seconds(std::min(*seconds, kMaxRetryAfterSeconds));
}

// RFC 9110 section 15.4: a 303 becomes a GET, and so does a 301/302 after a POST, as browsers
// and curl do; the body and its headers go.
void redirect_message(Message& message, int status) {
  bool to_get = (status == 303 && message.method != "HEAD") ||
                ((status == 301 || status == 302) && message.method == "POST");
  if (!to_get) return;
  message.method = "GET";
  message.body.clear();
  for (std::string_view name :
       {"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding"}) {
    erase_header(message.headers, name);
  }
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || std::string_view("()<>@,;:\\\"/[]?={}").find(c) != s.npos) {
      return false;
    }
  }
  return true;
}

// Nothing from a caller may smuggle a line break (and so a header or a request) onto the wire.
Result<void> validate(const Message& message) {
  if (!is_token(message.method))
    return failf(Errc::kInvalid, "bad method {}", quote(message.method));
  for (const auto& [name, value] : message.headers) {
    if (!is_token(name) || value.find_first_of("\r\n") != std::string::npos) {
      return failf(Errc::kInvalid, "bad request header {}", quote(name));
    }
  }
  return {};
}

Error annotate(const Error& error, const Message& message, const Url& url, int attempts) {
  return Error(error.code(),
               fmt::format("{} {}: {}{}", message.method, display_url(url), error.message(),
                           attempts > 1 ? fmt::format(" (after {} attempts)", attempts) : ""));
}

}  // namespace

std::string display_url(const Url& url) {
  Url copy = url;
  copy.userinfo.clear();
  return copy.str();
}

bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS" || method == "TRACE";
}

Fetcher::Fetcher(const ClientOptions& options)
    : options_(options), proxies_(options), transport_(options) {}

Result<Reply> Fetcher::once(const Url& url, const Message& message, BodyMode mode) {
  Route route{url, K3A_TRY(proxies_.select(url))};
  Reply reply{K3A_TRY(transport_.exchange(route, message)), ""};
  if (mode == BodyMode::kBuffer) reply.body = K3A_TRY(reply.exchange.read_all(options_.max_body));
  return reply;
}

Result<Reply> Fetcher::attempt(const Url& url, const Message& message, BodyMode mode) {
  if (auto valid = validate(message); !valid) {
    return std::unexpected(annotate(valid.error(), message, url, 1));
  }
  const bool replayable = is_idempotent(message.method) && message.source == nullptr;
  const int attempts = replayable ? 1 + std::max(0, options_.retries) : 1;
  std::chrono::milliseconds backoff = options_.retry_backoff;
  for (int i = 1;; ++i) {
    std::chrono::milliseconds delay = backoff;
    {
      auto reply = once(url, message, mode);
      const bool last = i >= attempts;
      if (!reply) {
        if (last || !retryable_error(reply.error())) {
          return std::unexpected(annotate(reply.error(), message, url, i));
        }
        log::debug("{} {}: {}; retrying", message.method, display_url(url),
                   reply.error().message());
      } else {
        int status = reply->exchange.status();
        if (last || !retryable_status(status)) return reply;
        delay = retry_after(reply->exchange).value_or(backoff);
        reply->exchange.discard();
        log::debug("{} {}: HTTP {}; retrying", message.method, display_url(url), status);
      }
    }
    std::this_thread::sleep_for(delay);
    backoff *= 2;
  }
}

Result<Reply> Fetcher::follow(Url& url, Message message, BodyMode mode) {
  const Url original = url;
  for (int hop = 0;; ++hop) {
    Reply reply = K3A_TRY(attempt(url, message, mode));
    int status = reply.exchange.status();
    auto location = reply.exchange.header("Location");
    // max_redirects 0 means "do not follow": the redirect itself is the answer.
    if (!is_redirect(status) || !location || options_.max_redirects == 0) return reply;
    if (hop >= options_.max_redirects) {
      return failf(Errc::kTooLarge, "{} {}: too many redirects (more than {})", message.method,
                   display_url(original), options_.max_redirects);
    }
    auto next = url.resolve(*location);
    if (!next) {
      return std::unexpected(
          std::move(next).error().context(fmt::format("{} {}", message.method, display_url(url))));
    }
    reply.exchange.discard();
    redirect_message(message, status);
    // Registries redirect blob downloads to storage hosts that must not see the credentials.
    if (!same_origin(*next, original)) erase_header(message.headers, "Authorization");
    log::debug("{} {}: HTTP {} to {}", message.method, display_url(url), status,
               display_url(*next));
    url = std::move(*next);
  }
}

}  // namespace core::http::detail
