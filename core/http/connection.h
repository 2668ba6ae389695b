// Connection, internal to core/http (includes Beast: only transport.cc and connection.cc use
// it): one client connection to an origin, plain, TLS, or tunnelled through an http proxy.
// Each connection owns a private io_context and runs asynchronous Beast operations to
// completion on the calling thread, so that every operation gets a deadline. Not thread-safe:
// one thread at a time (the pool hands a connection to one request).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/base/error.h"
#include "core/http/client.h"
#include "core/http/transport.h"

namespace core::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

// A client TLS context from the options: TLS 1.2 minimum, the CA file or OpenSSL's default
// paths, an optional client certificate. Fails with kInvalid naming the file that did not load.
Result<std::unique_ptr<ssl::context>> make_client_tls(const ClientOptions& options);

// An Error for a failed network operation: "<what> <peer>: <cause>", kTimeout for deadlines and
// kUnavailable otherwise.
Error network_error(const error_code& ec, std::string_view what, std::string_view peer);

class Connection {
  struct Private {};

 public:
  explicit Connection(Private, std::string peer);  // through open() only
  // Resolves and connects (to the proxy when the route has one), tunnels https through the
  // proxy with CONNECT, then does the TLS handshake with SNI and hostname verification (unless
  // verify is false). tls may be null for http origins. Errors: kUnavailable or kTimeout naming
  // the host and the cause (including "certificate verify failed: <reason>").
  static Result<std::unique_ptr<Connection>> open(const Route& route, ssl::context* tls,
                                                  const ClientOptions& options);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Starts an asynchronous operation with initiate(handler), runs it to completion with a
  // deadline of timeout on the socket, and returns its error code.
  template <class Initiate>
  error_code run(Initiate&& initiate, std::chrono::milliseconds timeout) {
    socket_stream().expires_after(timeout);
    error_code result = asio::error::would_block;
    std::forward<Initiate>(initiate)([&result](error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  // Calls f with the stream requests are written to (tcp_stream or ssl_stream<tcp_stream>).
  template <class F>
  void with_stream(F&& f) {
    if (tls_) {
      f(*tls_);
    } else {
      f(*plain_);
    }
  }

  beast::flat_buffer& buffer() { return buffer_; }
  // For a connection taken over after an upgrade: its io_context, to run on a thread of its
  // own, and no deadlines from now on.
  asio::io_context& context() { return ioc_; }
  void no_deadline() { socket_stream().expires_never(); }
  // True when an idle connection has nothing readable (no EOF, no stray bytes): reusable.
  bool idle_usable();
  const std::string& peer() const { return peer_; }

  bool reused = false;
  std::chrono::steady_clock::time_point idle_since;

 private:
  beast::tcp_stream& socket_stream() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
  Result<void> connect(const Url& to, bool is_proxy, std::chrono::milliseconds timeout);
  Result<void> tunnel(const Route& route, std::chrono::milliseconds timeout);
  Result<void> handshake(const Url& origin, ssl::context& tls, bool verify,
                         std::chrono::milliseconds timeout);

  asio::io_context ioc_;  // first: outlives the streams bound to it
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls_;
  beast::flat_buffer buffer_;
  std::string peer_;
};

}  // namespace core::http::detail
