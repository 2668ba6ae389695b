#include "core/http/connection.h"

#include <fmt/core.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include "core/http/proxy.h"

namespace core::http::detail {
namespace http = beast::http;

namespace {

// host_name_verification, plus an X509 error code on a mismatch so that the handshake error
// can say "hostname mismatch" instead of a bare "certificate verify failed".
struct VerifyHostName {
  std::string host;
  bool operator()(bool preverified, ssl::verify_context& ctx) const {
    bool ok = ssl::host_name_verification(host)(preverified, ctx);
    if (preverified && !ok) {
      X509_STORE_CTX_set_error(ctx.native_handle(), is_ip_literal(host)
                                                        ? X509_V_ERR_IP_ADDRESS_MISMATCH
                                                        : X509_V_ERR_HOSTNAME_MISMATCH);
    }
    return ok;
  }
};

// Numeric addresses and "localhost" resolve without NSS: a static binary in an empty chroot has
// no resolver configuration or NSS modules, and tests talk to 127.0.0.1. Other names go through
// getaddrinfo on a private io_context, whose resolver thread ends with it (a pooled connection
// keeps no thread).
Result<tcp::resolver::results_type> resolve(const Url& to, std::chrono::milliseconds timeout) {
  const std::string port = std::to_string(to.port);
  error_code ec;
  auto address = asio::ip::make_address(to.host == "localhost" ? "127.0.0.1" : to.host, ec);
  if (!ec) {
    return tcp::resolver::results_type::create(tcp::endpoint(address, to.port), to.host, port);
  }
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type results;
  bool done = false;
  resolver.async_resolve(to.host, port, [&](error_code e, tcp::resolver::results_type r) {
    ec = e;
    results = std::move(r);
    done = true;
  });
  ioc.run_for(timeout);
  if (!done) {
    resolver.cancel();
    ioc.restart();
    ioc.run();
    return failf(Errc::kTimeout, "resolving {}: timed out after {} ms", to.host, timeout.count());
  }
  if (ec) return failf(Errc::kUnavailable, "resolving {}: {}", to.host, ec.message());
  return results;
}

}  // namespace

Result<std::unique_ptr<ssl::context>> make_client_tls(const ClientOptions& options) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  if (!options.insecure_skip_verify) {
    if (!options.ca_file.empty()) {
      ctx->load_verify_file(options.ca_file, ec);
    } else if (!options.ca_pem.empty()) {
      ctx->add_certificate_authority(asio::buffer(options.ca_pem), ec);
    } else {
      ctx->set_default_verify_paths(ec);
    }
    if (ec) {
      return failf(Errc::kInvalid, "CA {}: {}",
                   !options.ca_file.empty() ? options.ca_file
                   : options.ca_pem.empty() ? "(default paths)"
                                            : "(inline PEM)",
                   ec.message());
    }
  }
  if (!options.client_cert_file.empty()) {
    ctx->use_certificate_chain_file(options.client_cert_file, ec);
    if (ec)
      return failf(Errc::kInvalid, "client certificate {}: {}", options.client_cert_file,
                   ec.message());
    const std::string& key =
        options.client_key_file.empty() ? options.client_cert_file : options.client_key_file;
    ctx->use_private_key_file(key, ssl::context::pem, ec);
    if (ec) return failf(Errc::kInvalid, "client key {}: {}", key, ec.message());
  } else if (!options.client_cert_pem.empty()) {
    ctx->use_certificate_chain(asio::buffer(options.client_cert_pem), ec);
    if (ec) return failf(Errc::kInvalid, "client certificate (inline PEM): {}", ec.message());
    ctx->use_private_key(asio::buffer(options.client_key_pem), ssl::context::pem, ec);
    if (ec) return failf(Errc::kInvalid, "client key (inline PEM): {}", ec.message());
  }
  return ctx;
}

Error network_error(const error_code& ec, std::string_view what, std::string_view peer) {
  if (ec == beast::error::timeout) {
    return Error(Errc::kTimeout, fmt::format("{} {}: timed out", what, peer));
  }
  return Error(Errc::kUnavailable, fmt::format("{} {}: {}", what, peer, ec.message()));
}

Connection::Connection(Private, std::string peer) : peer_(std::move(peer)) {}

Connection::~Connection() = default;

Result<std::unique_ptr<Connection>> Connection::open(const Route& route, ssl::context* tls,
                                                     const ClientOptions& options) {
  auto conn = std::make_unique<Connection>(Private{}, route.origin.host_port());
  K3A_CHECK(conn->connect(route.proxy ? *route.proxy : route.origin, route.proxy.has_value(),
                          options.connect_timeout));
  if (route.origin.scheme != "https") return conn;
  if (route.proxy) K3A_CHECK(conn->tunnel(route, options.io_timeout));
  if (tls == nullptr) return failf(Errc::kInternal, "no TLS context for {}", conn->peer_);
  K3A_CHECK(
      conn->handshake(route.origin, *tls, !options.insecure_skip_verify, options.connect_timeout));
  return conn;
}

Result<void> Connection::connect(const Url& to, bool is_proxy, std::chrono::milliseconds timeout) {
  auto endpoints = K3A_TRY(resolve(to, timeout));
  plain_ = std::make_unique<beast::tcp_stream>(ioc_);
  error_code ec =
      run([&](auto handler) { plain_->async_connect(endpoints, std::move(handler)); }, timeout);
  if (ec) {
    return std::unexpected(
        network_error(ec, is_proxy ? "connecting to proxy" : "connecting to", to.host_port()));
  }
  plain_->socket().set_option(tcp::no_delay(true), ec);
  return {};
}

Result<void> Connection::tunnel(const Route& route, std::chrono::milliseconds timeout) {
  const std::string target = route.origin.host_port();
  const std::string proxy = "proxy " + route.proxy->host_port();
  http::request<http::empty_body> request{http::verb::connect, target, 11};
  request.set(http::field::host, target);
  if (std::string auth = proxy_authorization(*route.proxy); !auth.empty()) {
    request.set(http::field::proxy_authorization, auth);
  }
  error_code ec =
      run([&](auto handler) { http::async_write(*plain_, request, std::move(handler)); }, timeout);
  if (ec) return std::unexpected(network_error(ec, "sending CONNECT to", proxy));
  http::response_parser<http::empty_body> parser;
  parser.skip(true);
  ec = run(
      [&](auto handler) { http::async_read_header(*plain_, buffer_, parser, std::move(handler)); },
      timeout);
  if (ec) return std::unexpected(network_error(ec, "reading CONNECT response from", proxy));
  int status = parser.get().result_int();
  if (status / 100 != 2) {
    return failf(Errc::kUnavailable, "{} refused CONNECT to {}: HTTP {}", proxy, target, status);
  }
  buffer_.consume(buffer_.size());
  return {};
}

Result<void> Connection::handshake(const Url& origin, ssl::context& tls, bool verify,
                                   std::chrono::milliseconds timeout) {
  tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*plain_), tls);
  plain_.reset();
  SSL* ssl = tls_->native_handle();
  if (!origin.host_is_ip() && SSL_set_tlsext_host_name(ssl, origin.host.c_str()) != 1) {
    return failf(Errc::kInvalid, "TLS with {}: cannot set SNI name", peer_);
  }
  if (verify) {
    tls_->set_verify_mode(ssl::verify_peer);
    tls_->set_verify_callback(VerifyHostName{origin.host});
  } else {
    tls_->set_verify_mode(ssl::verify_none);
  }
  error_code ec = run(
      [&](auto handler) { tls_->async_handshake(ssl::stream_base::client, std::move(handler)); },
      timeout);
  if (!ec) return {};
  long verify_result = SSL_get_verify_result(ssl);
  if (verify && verify_result != X509_V_OK) {
    return failf(Errc::kUnavailable, "TLS handshake with {}: certificate verify failed: {}", peer_,
                 X509_verify_cert_error_string(verify_result));
  }
  return std::unexpected(network_error(ec, "TLS handshake with", peer_));
}

bool Connection::idle_usable() {
  if (buffer_.size() != 0) return false;
  pollfd entry{};
  entry.fd = socket_stream().socket().native_handle();
  entry.events = POLLIN;
  return ::poll(&entry, 1, 0) == 0;
}

}  // namespace core::http::detail
