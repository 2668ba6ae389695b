#include "core/http/server.h"

#include <fmt/core.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <thread>
#include <vector>

#include "core/base/log.h"
#include "core/base/strings.h"
#include "core/http/session.h"

namespace core::http {
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto kStopGrace = std::chrono::seconds(5);

Result<std::unique_ptr<ssl::context>> make_server_tls(const ServerOptions& options) {
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return fail(Errc::kInvalid, "TLS needs both tls_cert_file and tls_key_file");
  }
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  error_code ec;
  ctx->use_certificate_chain_file(options.tls_cert_file, ec);
  if (ec)
    return failf(Errc::kInvalid, "TLS certificate {}: {}", options.tls_cert_file, ec.message());
  ctx->use_private_key_file(options.tls_key_file, ssl::context::pem, ec);
  if (ec) return failf(Errc::kInvalid, "TLS key {}: {}", options.tls_key_file, ec.message());
  // TLS 1.2 with forward-secret AEAD suites only (TLS 1.3's suites are all of that kind).
  SSL_CTX_set_cipher_list(ctx->native_handle(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  if (!options.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx->native_handle(), options.client_ca_file.c_str(),
                                      nullptr) != 1) {
      return failf(Errc::kInvalid, "TLS client CA {}: cannot load", options.client_ca_file);
    }
    // A client certificate is optional; one that is presented must chain to the CA.
    SSL_CTX_set_verify(ctx->native_handle(), SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

}  // namespace

struct Server::Impl {
  std::shared_ptr<detail::ServerState> state = std::make_shared<detail::ServerState>();
  asio::io_context ioc;
  tcp::acceptor acceptor{asio::make_strand(ioc)};
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::string url;
  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu

  Result<void> listen();
  void accept();
};

Result<void> Server::Impl::listen() {
  const ServerOptions& options = state->options;
  error_code ec;
  auto address = asio::ip::make_address(options.address, ec);
  if (ec)
    return failf(Errc::kInvalid, "server address {}: {}", quote(options.address), ec.message());
  tcp::endpoint endpoint(address, options.port);
  std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  auto refused = [&](std::string_view step) {
    return failf(Errc::kUnavailable, "{} on {}:{}: {}", step, host, options.port, ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return refused("opening a socket");
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  acceptor.bind(endpoint, ec);
  if (ec) return refused("binding");
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return refused("listening");
  port = acceptor.local_endpoint(ec).port();
  url = fmt::format("{}://{}:{}", state->tls ? "https" : "http", host, port);
  return {};
}

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      log::warn("http server {}: accept: {}", url, ec.message());
    } else {
      ++state->accepted;
      detail::start_session(state, std::move(socket));
    }
    accept();
  });
}

Result<std::unique_ptr<Server>> Server::start(ServerOptions options, Handler handler) {
  auto impl = std::make_unique<Impl>();
  detail::ServerState& state = *impl->state;
  state.options = std::move(options);
  state.handler = std::move(handler);
  if (!state.options.tls_cert_file.empty() || !state.options.tls_key_file.empty()) {
    state.tls = K3A_TRY(make_server_tls(state.options));
  }
  K3A_CHECK(impl->listen());
  impl->accept();
  for (int i = 0; i < std::max(1, state.options.threads); ++i) {
    impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  }
  return std::make_unique<Server>(std::move(impl));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

uint16_t Server::port() const { return impl_->port; }

std::string Server::url() const { return impl_->url; }

uint64_t Server::connections_accepted() const { return impl_->state->accepted; }

void Server::stop() {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  detail::ServerState& state = *impl_->state;
  state.stopping = true;
  asio::post(impl_->acceptor.get_executor(), [impl = impl_.get()] {
    error_code ec;
    impl->acceptor.close(ec);
  });
  for (const auto& session : state.live_sessions()) session->close_if_idle();
  if (!state.wait_for_sessions(std::chrono::steady_clock::now() + kStopGrace)) {
    log::warn("http server {}: requests still running after {} s; stopping anyway", impl_->url,
              kStopGrace.count());
  }
  impl_->ioc.stop();
  for (auto& thread : impl_->threads) thread.join();
  // The posted close may not have run before ioc.stop(); with the threads gone this is safe.
  error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace core::http
