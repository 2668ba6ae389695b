#include "core/http/tunnel.h"

#include <deque>
#include <thread>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/http/connection.h"

namespace core::http {

namespace http = boost::beast::http;
namespace asio = boost::asio;
namespace beast = boost::beast;
using detail::error_code;

struct Tunnel::Impl : std::enable_shared_from_this<Tunnel::Impl> {
  std::unique_ptr<detail::ssl::context> tls;
  std::unique_ptr<detail::Connection> conn;
  Response response;
  std::shared_ptr<UpgradedConnection> peer;
  std::array<char, 16384> scratch{};
  std::deque<std::string> outgoing;
  bool writing = false;
  bool closed = false;

  // On the tunnel's thread from here on.
  void read_loop() {
    conn->with_stream([&](auto& s) {
      s.async_read_some(asio::buffer(scratch),
                        [self = shared_from_this()](error_code ec, size_t n) {
                          if (ec) return self->finish();
                          if (self->peer) self->peer->write(std::string(self->scratch.data(), n));
                          self->read_loop();
                        });
    });
  }

  void send(std::string data) {
    if (closed) return;
    outgoing.push_back(std::move(data));
    if (!writing) write_next();
  }

  void write_next() {
    if (outgoing.empty() || closed) return;
    writing = true;
    auto data = std::make_shared<std::string>(std::move(outgoing.front()));
    outgoing.pop_front();
    conn->with_stream([&](auto& s) {
      asio::async_write(s, asio::buffer(*data),
                        [self = shared_from_this(), data](error_code ec, size_t) {
                          self->writing = false;
                          if (ec) return self->finish();
                          self->write_next();
                        });
    });
  }

  void finish() {
    if (closed) return;
    closed = true;
    if (auto p = std::move(peer)) {
      p->on_read(nullptr, nullptr);
      p->close();
    }
    error_code ec;
    conn->with_stream([&](auto& s) { beast::get_lowest_layer(s).socket().close(ec); });
  }
};

Tunnel::Tunnel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tunnel::~Tunnel() = default;
const Response& Tunnel::response() const { return impl_->response; }

Result<std::unique_ptr<Tunnel>> Tunnel::open(const Request& request, const ClientOptions& options) {
  auto impl = std::make_unique<Impl>();
  detail::Route route{.origin = K3A_TRY(Url::parse(request.url))};
  if (route.origin.scheme == "https") impl->tls = K3A_TRY(detail::make_client_tls(options));
  impl->conn = K3A_TRY(detail::Connection::open(route, impl->tls.get(), options));
  detail::Connection& conn = *impl->conn;
  http::request<http::string_body> head{http::string_to_verb(request.method), route.origin.target,
                                        11};
  for (const auto& [name, value] : request.headers) head.insert(name, value);
  head.set(http::field::host, route.origin.authority());
  head.body() = request.body;
  if (!request.body.empty()) head.prepare_payload();
  error_code ec = conn.run(
      [&](auto handler) {
        conn.with_stream([&](auto& s) { http::async_write(s, head, std::move(handler)); });
      },
      options.io_timeout);
  if (ec) return std::unexpected(detail::network_error(ec, "sending request to", conn.peer()));
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  ec = conn.run(
      [&](auto handler) {
        conn.with_stream([&](auto& s) {
          http::async_read_header(s, conn.buffer(), parser, std::move(handler));
        });
      },
      options.io_timeout);
  if (ec) return std::unexpected(detail::network_error(ec, "reading answer from", conn.peer()));
  Response& r = impl->response;
  r.status = static_cast<int>(parser.get().result_int());
  r.url = request.url;
  for (const auto& field : parser.get())
    r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  if (r.status != 101 && !parser.is_done()) {
    ec = conn.run(
        [&](auto handler) {
          conn.with_stream(
              [&](auto& s) { http::async_read(s, conn.buffer(), parser, std::move(handler)); });
        },
        options.io_timeout);
    if (ec) return std::unexpected(detail::network_error(ec, "reading answer from", conn.peer()));
    r.body = parser.get().body();
  }
  return std::make_unique<Tunnel>(std::move(impl));
}

void Tunnel::splice(std::unique_ptr<Tunnel> tunnel, std::shared_ptr<UpgradedConnection> peer) {
  std::shared_ptr<Impl> impl = std::move(tunnel->impl_);
  impl->peer = peer;
  impl->conn->no_deadline();
  asio::io_context& ioc = impl->conn->context();
  std::weak_ptr<Impl> weak = impl;
  peer->on_read(
      [weak](std::string_view data) {
        if (auto self = weak.lock())
          asio::post(self->conn->context(),
                     [self, d = std::string(data)]() mutable { self->send(std::move(d)); });
      },
      [weak] {
        if (auto self = weak.lock()) asio::post(self->conn->context(), [self] { self->finish(); });
      });
  // Bytes the peer sent right behind its 101 head.
  beast::flat_buffer& early = impl->conn->buffer();
  if (early.size() > 0) {
    peer->write(beast::buffers_to_string(early.data()));
    early.consume(early.size());
  }
  asio::post(ioc, [impl] { impl->read_loop(); });
  // The thread ends when finish() has closed the socket and the last handler ran.
  std::thread([impl, &ioc] {
    ioc.restart();
    ioc.run();
  }).detach();
}

void proxy_upgrade(const ServerRequest& request, const std::string& url,
                   const ClientOptions& options, ResponseWriter& w) {
  Request out{.method = request.method, .url = url, .body = request.body};
  for (const auto& [name, value] : request.headers) {
    std::string lower = to_lower(name);
    if (lower == "host" || lower == "authorization" || lower == "content-length") continue;
    out.headers.emplace_back(name, value);
  }
  auto tunnel = Tunnel::open(out, options);
  if (!tunnel) {
    w.set_status(502);
    w.add_header("Content-Type", "text/plain");
    return w.send(tunnel.error().message() + "\n");
  }
  const Response& r = (*tunnel)->response();
  w.set_status(r.status);
  for (const auto& [name, value] : r.headers) {
    std::string lower = to_lower(name);
    if (lower == "content-length" || lower == "transfer-encoding") continue;
    w.add_header(name, value);
  }
  if (r.status != 101) return w.send(r.body);
  auto shared = std::make_shared<std::unique_ptr<Tunnel>>(std::move(*tunnel));
  w.upgrade([shared](std::shared_ptr<UpgradedConnection> peer) {
    Tunnel::splice(std::move(*shared), std::move(peer));
  });
}

}  // namespace core::http
