#include "core/grpc/grpc_client.h"

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "core/fs/fd.h"

namespace core::grpc {
namespace {

// What one call collects from its stream.
struct Exchange {
  Client::NextMessage next;
  std::string request;  // the framed message being sent
  size_t sent = 0;
  bool exhausted = false;
  std::optional<Error> source_error;
  std::string response;  // framed
  int http_status = 0;
  int grpc_status = -1;
  std::string grpc_message;
  bool closed = false;
  uint32_t error = 0;  // RST_STREAM code
};

nghttp2_nv header(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

Errc errc_of(int status) {
  switch (static_cast<Status>(status)) {
    case Status::kNotFound:
      return Errc::kNotFound;
    case Status::kAlreadyExists:
      return Errc::kAlreadyExists;
    case Status::kInvalidArgument:
      return Errc::kInvalid;
    case Status::kFailedPrecondition:
      return Errc::kConflict;
    case Status::kPermissionDenied:
      return Errc::kForbidden;
    case Status::kUnimplemented:
      return Errc::kUnsupported;
    default:
      return Errc::kUnavailable;
  }
}

// Percent-decoding of grpc-message.
std::string decode_message(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

struct detail::Connection {
  Fd fd;
  nghttp2_session* session = nullptr;
  Exchange* current = nullptr;
  bool broken = false;
  ~Connection() {
    if (session) nghttp2_session_del(session);
  }
};

namespace {

ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t length, int, void* user) {
  auto* c = static_cast<detail::Connection*>(user);
  ssize_t n = ::send(c->fd.get(), data, length, MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
  return n;
}

int on_data(nghttp2_session*, uint8_t, int32_t, const uint8_t* data, size_t len, void* user) {
  auto* c = static_cast<detail::Connection*>(user);
  if (c->current) c->current->response.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int on_header(nghttp2_session*, const nghttp2_frame*, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* c = static_cast<detail::Connection*>(user);
  if (!c->current) return 0;
  std::string n(reinterpret_cast<const char*>(name), namelen);
  std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") c->current->http_status = std::atoi(v.c_str());
  if (n == "grpc-status") c->current->grpc_status = std::atoi(v.c_str());
  if (n == "grpc-message") c->current->grpc_message = decode_message(v);
  return 0;
}

int on_close(nghttp2_session*, int32_t, uint32_t error, void* user) {
  auto* c = static_cast<detail::Connection*>(user);
  if (c->current) {
    c->current->closed = true;
    c->current->error = error;
  }
  return 0;
}

ssize_t read_request(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                     nghttp2_data_source* source, void*) {
  auto* x = static_cast<Exchange*>(source->ptr);
  while (x->sent == x->request.size() && !x->exhausted) {
    auto m = x->next();
    if (!m) {
      x->source_error = m.error();
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    }
    if (!*m) {
      x->exhausted = true;
      break;
    }
    uint32_t len = static_cast<uint32_t>((*m)->size());
    x->request.assign(1, '\0');  // not compressed
    for (int shift : {24, 16, 8, 0}) x->request.push_back(static_cast<char>((len >> shift) & 0xff));
    x->request += **m;
    x->sent = 0;
  }
  size_t n = std::min(length, x->request.size() - x->sent);
  std::memcpy(buf, x->request.data() + x->sent, n);
  x->sent += n;
  if (x->exhausted && x->sent == x->request.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

}  // namespace

Client::Client(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}
Client::~Client() = default;

Result<void> Client::connect() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno(errno, "socket");
  auto conn = std::make_unique<detail::Connection>();
  conn->fd = Fd(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof addr.sun_path)
    return failf(Errc::kInvalid, "{}: socket path too long", socket_path_);
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return failf(Errc::kUnavailable, "{}: cannot connect: {}", socket_path_, std::strerror(errno));
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_send_callback(cb, on_send);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
  int rv = nghttp2_session_client_new(&conn->session, cb, conn.get());
  nghttp2_session_callbacks_del(cb);
  if (rv != 0) return fail(Errc::kInternal, "cannot create an HTTP/2 session");
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100},
                                       {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 16 << 20}};
  nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE, 0, 64 << 20);
  conn_ = std::move(conn);
  return {};
}

Result<std::string> Client::call(const std::string& method, const std::string& request,
                                 const Metadata& metadata) {
  bool given = false;
  auto responses = K3A_TRY(stream(
      method,
      [&]() -> Result<std::optional<std::string>> {
        if (given) return std::optional<std::string>();
        given = true;
        return std::optional<std::string>(request);
      },
      metadata));
  return responses.empty() ? std::string() : std::move(responses.front());
}

Result<std::vector<std::string>> Client::stream(const std::string& method, NextMessage next,
                                                const Metadata& metadata) {
  std::lock_guard lock(mu_);
  if (!conn_ || conn_->broken) K3A_CHECK(connect());
  Exchange x;
  x.next = std::move(next);
  std::vector<std::string> keep = {
      ":method",   "POST",         ":scheme",          "http", ":path",   method, ":authority",
      "localhost", "content-type", "application/grpc", "te",   "trailers"};
  for (const auto& [k, v] : metadata) {
    keep.push_back(k);
    keep.push_back(v);
  }
  std::vector<nghttp2_nv> headers;
  for (size_t i = 0; i < keep.size(); i += 2) headers.push_back(header(keep[i], keep[i + 1]));
  nghttp2_data_provider body{};
  body.source.ptr = &x;
  body.read_callback = read_request;
  conn_->current = &x;
  struct Reset {
    detail::Connection* c;
    ~Reset() { c->current = nullptr; }
  } reset{conn_.get()};
  if (nghttp2_submit_request(conn_->session, nullptr, headers.data(), headers.size(), &body,
                             nullptr) < 0) {
    conn_->broken = true;
    return fail(Errc::kUnavailable, "cannot submit an HTTP/2 request");
  }
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  char buf[16384];
  while (!x.closed) {
    if (nghttp2_session_send(conn_->session) != 0) {
      conn_->broken = true;
      return failf(Errc::kUnavailable, "{}: connection lost", socket_path_);
    }
    if (x.closed) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      conn_->broken = true;
      return failf(Errc::kUnavailable, "{} {}: deadline exceeded", socket_path_, method);
    }
    // While the request still has data to send, poll briefly: the window may open again.
    bool sending = nghttp2_session_want_write(conn_->session) != 0;
    pollfd p{conn_->fd.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, sending ? 0 : static_cast<int>(left.count()));
    if (ready <= 0) continue;
    ssize_t n = ::recv(conn_->fd.get(), buf, sizeof buf, 0);
    if (n <= 0 || nghttp2_session_mem_recv(conn_->session, reinterpret_cast<uint8_t*>(buf),
                                           static_cast<size_t>(n)) < 0) {
      conn_->broken = true;
      return failf(Errc::kUnavailable, "{}: connection lost", socket_path_);
    }
  }
  if (x.source_error) return std::unexpected(*x.source_error);
  if (x.error != 0 && x.grpc_status < 0)
    return failf(Errc::kUnavailable, "{} {}: stream reset ({})", socket_path_, method, x.error);
  if (x.http_status != 200)
    return failf(Errc::kUnavailable, "{} {}: HTTP status {}", socket_path_, method, x.http_status);
  if (x.grpc_status != 0) {
    return failf(errc_of(x.grpc_status), "{}: {} (grpc status {})", method,
                 x.grpc_message.empty() ? "failed" : x.grpc_message, x.grpc_status);
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < x.response.size();) {
    if (x.response.size() - i < 5 || x.response[i] != 0)
      return failf(Errc::kUnavailable, "{}: malformed or compressed response", method);
    uint32_t size = (static_cast<uint8_t>(x.response[i + 1]) << 24) |
                    (static_cast<uint8_t>(x.response[i + 2]) << 16) |
                    (static_cast<uint8_t>(x.response[i + 3]) << 8) |
                    static_cast<uint8_t>(x.response[i + 4]);
    if (x.response.size() - i - 5 < size)
      return failf(Errc::kUnavailable, "{}: truncated response", method);
    out.push_back(x.response.substr(i + 5, size));
    i += 5 + size;
  }
  return out;
}

}  // namespace core::grpc
