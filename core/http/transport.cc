#include "core/http/transport.h"

#include <fmt/core.h>

#include <limits>
#include <map>
#include <mutex>
#include <vector>

#include "core/base/strings.h"
#include "core/http/connection.h"
#include "core/http/proxy.h"

namespace core::http::detail {
namespace http = beast::http;
namespace {

using ResponseParser = http::response_parser<http::buffer_body>;

constexpr size_t kMaxIdlePerKey = 8;
// Servers commonly close idle connections after 60 s or more; give up on ours a little earlier.
constexpr auto kMaxIdleTime = std::chrono::seconds(50);
constexpr size_t kChunk = 64 * 1024;
constexpr uint64_t kMaxDiscard = 64 * 1024;

// Through an http proxy, plain-http requests carry the absolute URL (without userinfo).
bool absolute_form(const Route& route) { return route.proxy && route.origin.scheme == "http"; }

// The message was validated by the Fetcher (no line breaks can reach the wire).
template <class Body>
void fill_head(http::request<Body>& request, const Route& route, const Message& message,
               const ClientOptions& options) {
  request.version(11);
  request.method_string(message.method);
  const Url& origin = route.origin;
  request.target(absolute_form(route) ? origin.scheme + "://" + origin.authority() + origin.target
                                      : origin.target);
  for (const auto& [name, value] : message.headers) request.insert(name, value);
  if (request.find(http::field::host) == request.end()) {
    request.set(http::field::host, origin.authority());
  }
  if (request.find(http::field::user_agent) == request.end()) {
    request.set(http::field::user_agent, options.user_agent);
  }
  if (absolute_form(route)) {
    if (std::string auth = proxy_authorization(*route.proxy); !auth.empty()) {
      request.set(http::field::proxy_authorization, auth);
    }
  }
}

Result<void> write_buffered(Connection& conn, const Route& route, const Message& message,
                            const ClientOptions& options) {
  http::request<http::string_body> request;
  fill_head(request, route, message, options);
  request.body() = message.body;
  request.prepare_payload();
  error_code ec = conn.run(
      [&](auto handler) {
        conn.with_stream([&](auto& s) { http::async_write(s, request, std::move(handler)); });
      },
      options.io_timeout);
  if (ec) return std::unexpected(network_error(ec, "sending request to", conn.peer()));
  return {};
}

// Streams message.source; *touched_source is set once the source has been read from, after
// which the request can no longer be replayed.
Result<void> write_streamed(Connection& conn, const Route& route, const Message& message,
                            const ClientOptions& options, bool* touched_source) {
  http::request<http::buffer_body> request;
  fill_head(request, route, message, options);
  request.content_length(message.source_size);
  request.body().data = nullptr;
  request.body().more = true;
  http::request_serializer<http::buffer_body> serializer{request};
  auto write = [&](bool header_only) {
    error_code ec = conn.run(
        [&](auto handler) {
          conn.with_stream([&](auto& s) {
            if (header_only) {
              http::async_write_header(s, serializer, std::move(handler));
            } else {
              http::async_write(s, serializer, std::move(handler));
            }
          });
        },
        options.io_timeout);
    return ec == http::error::need_buffer ? error_code() : ec;
  };
  if (error_code ec = write(true)) {
    return std::unexpected(network_error(ec, "sending request to", conn.peer()));
  }
  std::vector<char> buf(kChunk);
  uint64_t sent = 0;
  for (bool more = true; more;) {
    *touched_source = true;
    size_t n = K3A_TRY(message.source->read(buf.data(), buf.size()));
    sent += n;
    more = n > 0;
    if (sent > message.source_size || (!more && sent != message.source_size)) {
      return failf(Errc::kIntegrity, "upload body for {} has {} bytes than the announced {}",
                   conn.peer(), more ? "more" : "fewer", message.source_size);
    }
    request.body().data = more ? buf.data() : nullptr;
    request.body().size = n;
    request.body().more = more;
    if (error_code ec = write(false)) {
      return std::unexpected(network_error(ec, "sending request body to", conn.peer()));
    }
  }
  return {};
}

// Reads a response head, skipping interim 1xx responses. *got_nothing tells whether the peer
// closed without sending a byte (a stale keep-alive connection).
Result<std::unique_ptr<ResponseParser>> read_head(Connection& conn, bool head_request,
                                                  std::chrono::milliseconds timeout,
                                                  bool* got_nothing) {
  while (true) {
    auto parser = std::make_unique<ResponseParser>();
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser->header_limit(64 * 1024);
    if (head_request) parser->skip(true);
    error_code ec = conn.run(
        [&](auto handler) {
          conn.with_stream([&](auto& s) {
            http::async_read_header(s, conn.buffer(), *parser, std::move(handler));
          });
        },
        timeout);
    if (ec) {
      *got_nothing = !parser->got_some();
      return std::unexpected(network_error(ec, "reading response from", conn.peer()));
    }
    int status = parser->get().result_int();
    if (status >= 200 || status == 101) return parser;
  }
}

}  // namespace

std::string Route::key() const {
  std::string key = origin.scheme + "://" + origin.host_port();
  if (proxy) key += " via " + proxy->userinfo + "@" + proxy->host_port();
  return key;
}

struct Transport::Impl {
  ClientOptions options;
  std::unique_ptr<ssl::context> tls;
  std::optional<Error> tls_error;
  std::mutex mu;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;  // guarded by mu

  std::unique_ptr<Connection> take(const std::string& key);
  void put(const std::string& key, std::unique_ptr<Connection> conn);
  Result<Exchange> attempt(std::unique_ptr<Connection> conn, const Route& route,
                           const Message& message, bool* replayable);
};

struct Exchange::State {
  Transport::Impl* owner = nullptr;
  std::string key;
  std::unique_ptr<Connection> conn;
  std::unique_ptr<ResponseParser> parser;
  std::chrono::milliseconds io_timeout{0};
  Headers headers;
  bool broken = false;
  std::optional<Error> error;  // a failed body read, repeated by later reads

  // Returns a connection whose response was read to its end to the pool.
  ~State() {
    if (conn && !broken && parser->is_done() && parser->keep_alive()) {
      owner->put(key, std::move(conn));
    }
  }
};

std::unique_ptr<Connection> Transport::Impl::take(const std::string& key) {
  std::lock_guard lock(mu);
  auto it = idle.find(key);
  if (it == idle.end()) return nullptr;
  auto now = std::chrono::steady_clock::now();
  while (!it->second.empty()) {
    std::unique_ptr<Connection> conn = std::move(it->second.back());
    it->second.pop_back();
    if (now - conn->idle_since < kMaxIdleTime && conn->idle_usable()) {
      conn->reused = true;
      return conn;
    }
  }
  return nullptr;
}

void Transport::Impl::put(const std::string& key, std::unique_ptr<Connection> conn) {
  if (!conn->idle_usable()) return;
  conn->idle_since = std::chrono::steady_clock::now();
  std::lock_guard lock(mu);
  auto& list = idle[key];
  if (list.size() < kMaxIdlePerKey) list.push_back(std::move(conn));
}

Result<Exchange> Transport::Impl::attempt(std::unique_ptr<Connection> conn, const Route& route,
                                          const Message& message, bool* replayable) {
  bool touched_source = false;
  auto sent = message.source ? write_streamed(*conn, route, message, options, &touched_source)
                             : write_buffered(*conn, route, message, options);
  if (!sent) {
    *replayable = conn->reused && !touched_source && sent.error().code() == Errc::kUnavailable;
    return std::unexpected(std::move(sent).error());
  }
  bool got_nothing = false;
  auto parser = read_head(*conn, message.method == "HEAD", options.io_timeout, &got_nothing);
  if (!parser) {
    *replayable = conn->reused && !message.source && got_nothing &&
                  parser.error().code() == Errc::kUnavailable;
    return std::unexpected(std::move(parser).error());
  }
  auto state = std::make_unique<Exchange::State>();
  for (const auto& field : (*parser)->get()) {
    state->headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  state->owner = this;
  state->key = route.key();
  state->conn = std::move(conn);
  state->parser = std::move(*parser);
  state->io_timeout = options.io_timeout;
  return Exchange(std::move(state));
}

Transport::Transport(const ClientOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  auto tls = make_client_tls(options);
  if (tls) {
    impl_->tls = std::move(*tls);
  } else {
    impl_->tls_error = std::move(tls).error();
  }
}

Transport::~Transport() = default;

Result<Exchange> Transport::exchange(const Route& route, const Message& message) {
  if (route.origin.scheme == "https" && impl_->tls_error) {
    return std::unexpected(*impl_->tls_error);
  }
  if (auto pooled = impl_->take(route.key())) {
    bool replayable = false;
    auto result = impl_->attempt(std::move(pooled), route, message, &replayable);
    if (result || !replayable) return result;
  }
  auto conn = K3A_TRY(Connection::open(route, impl_->tls.get(), impl_->options));
  bool replayable = false;
  return impl_->attempt(std::move(conn), route, message, &replayable);
}

Exchange::Exchange(std::unique_ptr<State> state) : state_(std::move(state)) {}
Exchange::Exchange(Exchange&&) noexcept = default;
Exchange& Exchange::operator=(Exchange&&) noexcept = default;
Exchange::~Exchange() = default;

int Exchange::status() const { return state_->parser->get().result_int(); }

const Headers& Exchange::headers() const { return state_->headers; }

std::optional<std::string> Exchange::header(std::string_view name) const {
  return find_header(state_->headers, name);
}

Result<size_t> Exchange::read(char* buf, size_t n) {
  State& s = *state_;
  if (s.error) return std::unexpected(*s.error);
  while (!s.parser->is_done()) {
    auto& body = s.parser->get().body();
    body.data = buf;
    body.size = n;
    error_code ec = s.conn->run(
        [&](auto handler) {
          s.conn->with_stream([&](auto& stream) {
            http::async_read_some(stream, s.conn->buffer(), *s.parser, std::move(handler));
          });
        },
        s.io_timeout);
    if (ec == http::error::need_buffer) ec = {};
    size_t got = n - body.size;
    if (ec) {
      s.broken = true;
      s.error = ec == http::error::partial_message
                    ? Error(Errc::kUnavailable,
                            fmt::format("reading response body from {}: connection closed early",
                                        s.conn->peer()))
                    : network_error(ec, "reading response body from", s.conn->peer());
      // Bytes that arrived before the failure still count; the error comes with the next read.
      if (got > 0) return got;
      return std::unexpected(*s.error);
    }
    if (got > 0) return got;
  }
  return size_t{0};
}

Result<std::string> Exchange::read_all(uint64_t limit) {
  auto too_large = [&] {
    state_->broken = true;
    return failf(Errc::kTooLarge, "response body from {} exceeds the limit of {} bytes",
                 state_->conn->peer(), limit);
  };
  auto length = state_->parser->content_length();
  if (length && *length > limit) return too_large();
  std::string out;
  while (true) {
    size_t old = out.size();
    out.resize(old + kChunk);
    size_t n = K3A_TRY(read(out.data() + old, kChunk));
    out.resize(old + n);
    if (n == 0) return out;
    if (out.size() > limit) return too_large();
  }
}

void Exchange::discard() {
  if (state_->broken || state_->parser->is_done()) return;
  auto length = state_->parser->content_length();
  if (!length || *length > kMaxDiscard || !read_all(kMaxDiscard)) state_->broken = true;
}

}  // namespace core::http::detail
