#include "core/http/session.h"

#include <fmt/core.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <deque>
#include <mutex>
#include <optional>
#include <type_traits>

#include "core/base/log.h"
#include "core/base/strings.h"

namespace core::http::detail {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kIoTimeout = std::chrono::seconds(60);
constexpr auto kCloseTimeout = std::chrono::seconds(2);

// A Beast body that streams a byte range of an open file with pread, 64 KiB at a time, so a
// large blob never sits in memory.
struct FileRangeBody {
  using value_type = ResponseWriter::FilePart;
  static std::uint64_t size(const value_type& body) { return body.length; }

  class writer {
   public:
    using const_buffers_type = asio::const_buffer;
    template <bool isRequest, class Fields>
    writer(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(error_code& ec) { ec = {}; }
    boost::optional<std::pair<const_buffers_type, bool>> get(error_code& ec) {
      ec = {};
      if (sent_ == body_.length) return boost::none;
      size_t want = static_cast<size_t>(std::min<uint64_t>(body_.length - sent_, buf_.size()));
      ssize_t n;
      do {
        n = ::pread(body_.fd.get(), buf_.data(), want, static_cast<off_t>(body_.offset + sent_));
      } while (n < 0 && errno == EINTR);
      if (n <= 0) {  // an error, or the file shrank under us
        ec = error_code(n < 0 ? errno : EIO, boost::system::system_category());
        return boost::none;
      }
      sent_ += static_cast<uint64_t>(n);
      return std::make_pair(const_buffers_type(buf_.data(), static_cast<size_t>(n)),
                            sent_ < body_.length);
    }

   private:
    value_type& body_;
    uint64_t sent_ = 0;
    std::array<char, 64 * 1024> buf_;
  };
};

bool has_line_break(std::string_view s) { return s.find_first_of("\r\n") != s.npos; }

bool status_has_no_body(int status) { return status / 100 == 1 || status == 204 || status == 304; }

ServerRequest to_server_request(http::request<http::string_body>& message, std::string remote) {
  ServerRequest request;
  request.method = std::string(message.method_string());
  std::string_view target = message.target();
  if (target.starts_with("http://") || target.starts_with("https://")) {  // absolute-form
    size_t slash = target.find('/', target.find("://") + 3);
    target = slash == target.npos ? std::string_view("/") : target.substr(slash);
  }
  request.target = std::string(target);
  size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != target.npos) request.query = std::string(target.substr(q + 1));
  for (const auto& field : message) {
    request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  request.body = std::move(message.body());
  request.remote = std::move(remote);
  return request;
}

template <class Body>
void set_head(http::response<Body>& response, const ResponseWriter& writer, unsigned version,
              bool keep_alive) {
  int status = writer.status();
  response.version(version);
  response.result(static_cast<unsigned>(status >= 100 && status <= 999 ? status : 500));
  for (const auto& [name, value] : writer.headers()) {
    if (name.empty() || has_line_break(name) || has_line_break(value)) {
      log::warn("http server: dropping bad response header {}", quote(name));
      continue;
    }
    response.insert(name, value);
  }
  response.keep_alive(keep_alive);
}

template <class Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(std::shared_ptr<ServerState> state, tcp::socket socket, std::string remote)
      : state_(std::move(state)),
        stream_(make_stream(std::move(socket), *state_)),
        remote_(std::move(remote)) {}
  ~Session() override {
    if (raw_) raw_->finished();
    if (registered_) state_->remove_session(id_);
  }

  void start() {
    id_ = state_->add_session(this->weak_from_this());
    registered_ = true;
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->begin(); });
  }

  // Also ends an upgraded connection: it has no request boundary to wait for.
  void close_if_idle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->raw_) return self->end_upgrade();
      if (self->idle_) self->close_now();
    });
  }

 private:
  static Stream make_stream(tcp::socket socket, ServerState& state) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *state.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& socket() { return beast::get_lowest_layer(stream_); }

  void begin() {
    if constexpr (kTls) {
      socket().expires_after(kIoTimeout);
      stream_.async_handshake(
          ssl::stream_base::server, [self = this->shared_from_this()](error_code ec) {
            if (ec) {
              log::debug("http server: TLS handshake with {}: {}", self->remote_, ec.message());
              return self->close_now();
            }
            self->read_request();
          });
    } else {
      read_request();
    }
  }

  void read_request() {
    if (state_->stopping) return close_gracefully();
    parser_.emplace();
    parser_->body_limit(state_->options.max_request_body);
    parser_->header_limit(64 * 1024);
    idle_ = true;
    socket().expires_after(kIdleTimeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    idle_ = false;
    if (ec == http::error::header_limit) return reply_error(431, "request header too large\n");
    // The parser checks Content-Length against the body limit as soon as the header is in.
    if (ec == http::error::body_limit) return reply_error(413, "request body too large\n");
    if (ec) return close_now();
    auto expect = parser_->get().find(http::field::expect);
    if (expect == parser_->get().end() || !beast::iequals(expect->value(), "100-continue")) {
      return read_body();
    }
    auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
    http::async_write(stream_, *interim,
                      [self = this->shared_from_this(), interim](error_code ec, size_t) {
                        if (ec) return self->close_now();
                        self->read_body();
                      });
  }

  void read_body() {
    socket().expires_after(kIoTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       if (ec == http::error::body_limit) {
                         return self->reply_error(413, "request body too large\n");
                       }
                       if (ec) return self->close_now();
                       self->handle();
                     });
  }

  void handle() {
    http::request<http::string_body> message = parser_->release();
    ServerRequest request = to_server_request(message, remote_);
    if constexpr (kTls) read_client_certificate(request);
    ResponseWriter writer(request);
    try {
      state_->handler(request, writer);
    } catch (const std::exception& e) {
      log::error("http server: handler for {} {} threw: {}", request.method, request.path,
                 e.what());
      return reply_error(500, "internal error\n");
    }
    bool keep_alive = message.keep_alive() && !writer.closing() && !state_->stopping;
    respond(writer, message.version(), message.method() == http::verb::head, keep_alive);
  }

  void read_client_certificate(ServerRequest& request) {
    SSL* ssl = stream_.native_handle();
    X509* peer = SSL_get1_peer_certificate(ssl);
    if (!peer) return;
    if (SSL_get_verify_result(ssl) == X509_V_OK) {
      X509_NAME* name = X509_get_subject_name(peer);
      auto entry = [&](int i) {
        ASN1_STRING* d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
        return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(d)),
                           ASN1_STRING_length(d));
      };
      request.client_verified = true;
      int cn = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
      if (cn >= 0) request.client_cn = entry(cn);
      for (int i = X509_NAME_get_index_by_NID(name, NID_organizationName, -1); i >= 0;
           i = X509_NAME_get_index_by_NID(name, NID_organizationName, i)) {
        request.client_orgs.push_back(entry(i));
      }
    }
    X509_free(peer);
  }

  // --- streamed (chunked) responses ---------------------------------------------------------

  class ChunkStream final : public ResponseStream {
   public:
    explicit ChunkStream(std::weak_ptr<Session> session) : session_(std::move(session)) {}
    void write(std::string chunk) override {
      if (closed_ || chunk.empty()) return;
      if (auto s = session_.lock()) {
        asio::post(s->stream_.get_executor(),
                   [s, chunk = std::move(chunk)]() mutable { s->queue_chunk(std::move(chunk)); });
      }
    }
    void close() override {
      if (closed_.exchange(true)) return;
      if (auto s = session_.lock()) {
        asio::post(s->stream_.get_executor(), [s] { s->queue_chunk(std::nullopt); });
      }
    }
    bool closed() const override { return closed_; }
    void on_close(std::function<void()> callback) override {
      std::lock_guard lock(mu_);
      on_close_ = std::move(callback);
    }
    void finished() {
      closed_ = true;
      std::function<void()> cb;
      {
        std::lock_guard lock(mu_);
        cb = std::move(on_close_);
      }
      if (cb) cb();
    }

   private:
    std::weak_ptr<Session> session_;
    std::atomic<bool> closed_{false};
    std::mutex mu_;
    std::function<void()> on_close_;
  };

  void start_stream(ResponseWriter& writer, unsigned version, bool keep_alive) {
    auto response = std::make_shared<http::response<http::empty_body>>();
    set_head(*response, writer, version, keep_alive);
    response->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*response);
    socket().expires_never();  // a watch lives as long as the client wants it
    stream_obj_ = std::make_shared<ChunkStream>(this->weak_from_this());
    auto start = std::move(writer.streamer());
    http::async_write_header(
        stream_, *serializer,
        [self = this->shared_from_this(), response, serializer, start](error_code ec, size_t) {
          if (ec) return self->end_stream(true);
          self->watch_peer();
          start(self->stream_obj_);
        });
  }

  // Reads while streaming only to notice the client leaving.
  void watch_peer() {
    socket().async_read_some(asio::buffer(scratch_),
                             [self = this->shared_from_this()](error_code ec, size_t) {
                               if (ec) return self->end_stream(true);
                               self->watch_peer();
                             });
  }

  void queue_chunk(std::optional<std::string> chunk) {
    if (!stream_obj_ && !raw_) return;
    pending_.push_back(std::move(chunk));
    if (!writing_) write_next_chunk();
  }

  void write_next_chunk() {
    if (pending_.empty() || (!stream_obj_ && !raw_)) return;
    writing_ = true;
    auto chunk = std::make_shared<std::optional<std::string>>(std::move(pending_.front()));
    pending_.pop_front();
    auto done = [self = this->shared_from_this(), chunk](error_code ec, size_t) {
      self->writing_ = false;
      if (self->raw_ && (ec || !*chunk)) return self->end_upgrade();
      if (ec) return self->end_stream(true);
      if (!*chunk) return self->end_stream(false);
      self->write_next_chunk();
    };
    if (raw_ && *chunk) {
      asio::async_write(stream_, asio::buffer(**chunk), std::move(done));
    } else if (raw_) {
      asio::post(stream_.get_executor(), [done] { done(error_code(), 0); });
    } else if (*chunk) {
      asio::async_write(stream_, http::make_chunk(asio::buffer(**chunk)), std::move(done));
    } else {
      asio::async_write(stream_, http::make_chunk_last(), std::move(done));
    }
  }

  // The stream is over: the peer left (or a write failed), or the producer closed it.
  void end_stream(bool broken) {
    if (!stream_obj_) return;
    auto stream = std::move(stream_obj_);
    pending_.clear();
    stream->finished();
    // The read that watched the peer is cancelled by closing; keep-alive is not resumed after a
    // stream (the watching read may have consumed input).
    if (broken) return close_now();
    close_gracefully();
  }

  // --- upgraded connections ---------------------------------------------------------------

  class RawConnection final : public UpgradedConnection {
   public:
    explicit RawConnection(std::weak_ptr<Session> session) : session_(std::move(session)) {}
    void write(std::string data) override {
      if (data.empty()) return;
      if (auto s = session_.lock()) {
        asio::post(s->stream_.get_executor(),
                   [s, data = std::move(data)]() mutable { s->queue_chunk(std::move(data)); });
      }
    }
    void close() override {
      if (auto s = session_.lock())
        asio::post(s->stream_.get_executor(), [s] { s->queue_chunk(std::nullopt); });
    }
    // The callbacks may be replaced from any thread while the session's thread calls them.
    void on_read(std::function<void(std::string_view)> data,
                 std::function<void()> closed) override {
      std::lock_guard lock(mu_);
      data_ = std::move(data);
      closed_ = std::move(closed);
    }
    void received(std::string_view piece) {
      std::function<void(std::string_view)> cb;
      {
        std::lock_guard lock(mu_);
        cb = data_;
      }
      if (cb) cb(piece);
    }
    void finished() {
      std::function<void()> cb;
      {
        std::lock_guard lock(mu_);
        cb = std::move(closed_);
        data_ = nullptr;
      }
      if (cb) cb();
    }

   private:
    std::weak_ptr<Session> session_;
    std::mutex mu_;
    std::function<void(std::string_view)> data_;
    std::function<void()> closed_;
  };

  void start_upgrade(ResponseWriter& writer, unsigned version) {
    auto response = std::make_shared<http::response<http::empty_body>>();
    set_head(*response, writer, version, true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*response);
    socket().expires_never();  // an exec session lasts as long as its user
    raw_ = std::make_shared<RawConnection>(this->weak_from_this());
    auto start = std::move(writer.upgrader());
    http::async_write_header(
        stream_, *serializer,
        [self = this->shared_from_this(), response, serializer, start](error_code ec, size_t) {
          if (ec || !self->raw_) return self->end_upgrade();  // ended by stop() meanwhile
          start(self->raw_);
          if (self->buffer_.size() > 0) {  // sent right behind the request
            self->raw_->received(beast::buffers_to_string(self->buffer_.data()));
            self->buffer_.consume(self->buffer_.size());
          }
          self->read_raw();
        });
  }

  void read_raw() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = this->shared_from_this()](error_code ec, size_t n) {
                              if (!self->raw_) return;
                              if (ec) return self->end_upgrade();
                              self->raw_->received(std::string_view(self->scratch_.data(), n));
                              self->read_raw();
                            });
  }

  void end_upgrade() {
    if (!raw_) return;
    auto raw = std::move(raw_);
    pending_.clear();
    raw->finished();
    close_now();
  }

  void respond(ResponseWriter& writer, unsigned version, bool head, bool keep_alive) {
    if (writer.upgrader()) return start_upgrade(writer, version);
    if (writer.streamer() && !head) return start_stream(writer, version, keep_alive);
    const bool no_body = head || status_has_no_body(writer.status());
    if (writer.file() && !no_body) {
      auto response = std::make_shared<http::response<FileRangeBody>>();
      set_head(*response, writer, version, keep_alive);
      response->body() = std::move(*writer.file());
      response->prepare_payload();
      return write(std::move(response));
    }
    if (no_body) {
      auto response = std::make_shared<http::response<http::empty_body>>();
      set_head(*response, writer, version, keep_alive);
      // A HEAD answer announces the length a GET would get, unless the handler said it.
      if (head && !status_has_no_body(writer.status()) &&
          response->find(http::field::content_length) == response->end()) {
        response->content_length(writer.file() ? writer.file()->length : writer.body().size());
      }
      return write(std::move(response));
    }
    auto response = std::make_shared<http::response<http::string_body>>();
    set_head(*response, writer, version, keep_alive);
    response->body() = std::move(writer.body());
    response->prepare_payload();
    write(std::move(response));
  }

  void reply_error(int status, std::string body) {
    ServerRequest none;
    ResponseWriter writer(none);
    writer.set_status(status);
    writer.add_header("Content-Type", "text/plain");
    writer.send(std::move(body));
    respond(writer, 11, false, false);
  }

  // Writes piece by piece so that the deadline bounds each write, not a whole large body.
  template <class Body>
  void write(std::shared_ptr<http::response<Body>> response) {
    auto serializer = std::make_shared<http::response_serializer<Body>>(*response);
    write_some(std::move(response), std::move(serializer));
  }

  template <class Body>
  void write_some(std::shared_ptr<http::response<Body>> response,
                  std::shared_ptr<http::response_serializer<Body>> serializer) {
    socket().expires_after(kIoTimeout);
    http::async_write_some(
        stream_, *serializer,
        [self = this->shared_from_this(), response, serializer](error_code ec, size_t) mutable {
          if (ec) return self->close_now();
          if (!serializer->is_done()) {
            return self->write_some(std::move(response), std::move(serializer));
          }
          if (response->keep_alive()) return self->read_request();
          self->close_gracefully();
        });
  }

  // Half-closes and drains what the peer still sends before closing: closing a socket with
  // unread input sends a reset that can destroy the response (a 413) before the peer reads it.
  void close_gracefully() {
    idle_ = true;
    socket().expires_after(kCloseTimeout);
    if constexpr (kTls) {
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->close_now(); });
    } else {
      error_code ec;
      socket().socket().shutdown(tcp::socket::shutdown_send, ec);
      drain();
    }
  }

  void drain() {
    socket().async_read_some(asio::buffer(scratch_),
                             [self = this->shared_from_this()](error_code ec, size_t) {
                               if (ec) return self->close_now();
                               self->drain();
                             });
  }

  void close_now() {
    if (closed_) return;
    closed_ = true;
    idle_ = false;
    error_code ec;
    socket().socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close();
  }

  std::shared_ptr<ServerState> state_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::array<char, 4096> scratch_{};
  std::shared_ptr<ChunkStream> stream_obj_;
  std::shared_ptr<RawConnection> raw_;
  std::deque<std::optional<std::string>> pending_;
  bool writing_ = false;
  uint64_t id_ = 0;
  bool registered_ = false;
  bool idle_ = false;
  bool closed_ = false;
};

std::string remote_name(const tcp::socket& socket) {
  error_code ec;
  tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  std::string address = peer.address().to_string();
  return peer.address().is_v6() ? fmt::format("[{}]:{}", address, peer.port())
                                : fmt::format("{}:{}", address, peer.port());
}

}  // namespace

uint64_t ServerState::add_session(std::weak_ptr<SessionBase> session) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  sessions_.emplace(id, std::move(session));
  return id;
}

void ServerState::remove_session(uint64_t id) {
  {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
  }
  cv_.notify_all();
}

std::vector<std::shared_ptr<SessionBase>> ServerState::live_sessions() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<SessionBase>> out;
  for (auto& [id, weak] : sessions_) {
    if (auto session = weak.lock()) out.push_back(std::move(session));
  }
  return out;
}

bool ServerState::wait_for_sessions(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [&] { return sessions_.empty(); });
}

void start_session(std::shared_ptr<ServerState> state, tcp::socket socket) {
  std::string remote = remote_name(socket);
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  if (state->tls) {
    using TlsStream = beast::ssl_stream<beast::tcp_stream>;
    std::make_shared<Session<TlsStream>>(std::move(state), std::move(socket), std::move(remote))
        ->start();
  } else {
    std::make_shared<Session<beast::tcp_stream>>(std::move(state), std::move(socket),
                                                 std::move(remote))
        ->start();
  }
}

}  // namespace core::http::detail
