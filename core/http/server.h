// Server: a small asynchronous HTTP/1.1 server over Beast (keep-alive, many concurrent
// connections, optional TLS 1.2+ from PEM files), for tests now and for the mirror and the API
// server. Requests are read whole (bodies up to max_request_body, 413 beyond) and passed to one
// Handler; the ResponseWriter collects the answer, which the server writes after the handler
// returns (buffered, or a file streamed from disk with Range and ETag support). Connections idle
// for 60 s are closed, and so are peers that stall a read or write for 60 s.
//
// Thread-safety: handlers run on the server's threads, several at once for different
// connections (requests on one connection are handled in order); a handler may block briefly
// and must be safe to call concurrently. Server's own methods may be called from any thread.
// Ownership: Server owns its threads and connections; stop() (or the destructor) ends them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/fs/fd.h"
#include "core/http/client.h"

namespace core::http {

struct ServerRequest {
  std::string method;
  std::string target;  // as sent; an absolute-form target is reduced to path and query
  std::string path;    // target before '?', not percent-decoded
  std::string query;   // target after '?', without it
  Headers headers;
  std::string body;
  std::string remote;  // peer "ip:port"
  // A client certificate verified against ServerOptions::client_ca_file: its subject's CN and
  // O entries (Kubernetes reads them as the user and the groups).
  bool client_verified = false;
  std::string client_cn;
  std::vector<std::string> client_orgs;
  std::optional<std::string> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

// A response body produced over time, sent with chunked transfer encoding (watches, logs).
// write() and close() may be called from any thread and never block: chunks are queued for the
// connection. After the client goes away (or close()), writes are dropped and the on-close
// callback runs once, on the server's thread.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  virtual void write(std::string chunk) = 0;
  virtual void close() = 0;
  virtual bool closed() const = 0;
  virtual void on_close(std::function<void()> callback) = 0;
};
using StreamStart = std::function<void(std::shared_ptr<ResponseStream>)>;

// A connection taken over after a 101 Switching Protocols answer (WebSocket and SPDY upgrades):
// raw bytes both ways. write() and close() may be called from any thread and never block
// (close() lets queued writes go out first). The callbacks given to on_read() run on the
// server's thread and must be quick: `data` for each piece the client sends, `closed` once
// when either side ends the connection.
class UpgradedConnection {
 public:
  virtual ~UpgradedConnection() = default;
  virtual void write(std::string data) = 0;
  virtual void close() = 0;
  virtual void on_read(std::function<void(std::string_view)> data,
                       std::function<void()> closed) = 0;
};
using UpgradeStart = std::function<void(std::shared_ptr<UpgradedConnection>)>;

// The answer to one request, filled by the handler. Only the first send()/send_file() counts;
// a handler that calls neither answers with an empty body and the status set (default 200).
class ResponseWriter {
 public:
  explicit ResponseWriter(const ServerRequest& request) : request_(request) {}

  void set_status(int status) { status_ = status; }
  // Header values with line breaks are dropped when the response is written.
  void add_header(std::string name, std::string value);
  // Sends a buffered body with the status set (default 200).
  void send(std::string body);
  // Streams a regular file: answers 200, 206 for a satisfiable single "Range: bytes=" (honouring
  // If-Range), 416 for an unsatisfiable one, and 304 when If-None-Match lists its strong ETag
  // (from size and mtime). Adds ETag, Last-Modified, Accept-Ranges and Content-Type (when not
  // empty). A missing file answers 404, an unreadable one 500 (the path is not disclosed).
  void send_file(const std::string& path, std::string content_type);
  // Answers with the status and headers set and a chunked body: `start` gets the stream once
  // the head is on its way (on the server's thread); keep it to write later.
  void stream(StreamStart start);
  // Answers with the status (101) and headers set and no body, then hands the connection over:
  // `start` gets it once the head is written (on the server's thread).
  void upgrade(UpgradeStart start);
  // Closes the connection after this response instead of keeping it alive.
  void close_connection() { close_ = true; }

  // Read by the server after the handler returns.
  struct FilePart {
    Fd fd;
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  int status() const { return status_; }
  const Headers& headers() const { return headers_; }
  bool closing() const { return close_; }
  std::string& body() { return body_; }
  std::optional<FilePart>& file() { return file_; }
  StreamStart& streamer() { return streamer_; }
  UpgradeStart& upgrader() { return upgrader_; }

 private:
  bool begin_send();

  const ServerRequest& request_;
  int status_ = 200;
  Headers headers_;
  std::string body_;
  std::optional<FilePart> file_;
  StreamStart streamer_;
  UpgradeStart upgrader_;
  bool sent_ = false;
  bool close_ = false;
};

using Handler = std::function<void(const ServerRequest&, ResponseWriter&)>;

struct ServerOptions {
  std::string address = "127.0.0.1";        // IPv4 or IPv6 literal
  uint16_t port = 0;                        // 0 picks a free port; see port()
  std::string tls_cert_file, tls_key_file;  // PEM; both set = HTTPS (TLS 1.2 minimum)
  std::string client_ca_file;               // PEM CAs for optional client certificates
  int threads = 2;
  uint64_t max_request_body = 64ull << 20;
};

class Server {
 public:
  // Binds and listens, then serves on its own threads. Errors: kInvalid (bad address, TLS files
  // that do not load), kUnavailable (bind/listen refused, naming address and cause).
  static Result<std::unique_ptr<Server>> start(ServerOptions options, Handler handler);

  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);  // through start() only
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Calls stop().
  ~Server();

  uint16_t port() const;
  // "http://127.0.0.1:PORT" ("https://" with TLS; brackets for IPv6).
  std::string url() const;
  // Connections accepted so far (tests check keep-alive reuse with it).
  uint64_t connections_accepted() const;
  // Graceful: stops accepting, closes idle connections, lets requests in flight finish (up to
  // 5 s), then stops and joins the threads. Idempotent. Must not be called from a handler.
  void stop();

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace core::http
