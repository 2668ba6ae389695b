// Client: the project's one HTTP/1.1 client (registries, mirrors, the API server's peers).
// Owns what Beast leaves to us: redirects, retries with backoff, keep-alive connection reuse,
// HTTPS verified against a CA bundle (SNI + hostname check, TLS 1.2 minimum, optional client
// certificate), HTTP(S)_PROXY / NO_PROXY, streamed downloads that hash and resume, and streamed
// uploads. Names resolve without NSS for numeric addresses and "localhost" (static binaries run
// in an empty chroot).
//
// Thread-safety: one Client may be used from several threads at once; idle connections sit in a
// pool guarded by a mutex and a request owns its connection until its response is read. The
// Client must outlive every call in progress; sinks and sources belong to the caller and are not
// referenced after a call returns. HTTP statuses are not errors: a 404 is a Response.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/error.h"
#include "core/fs/stream.h"

namespace core {
class Sha256;
}

namespace core::http {

using Headers = std::vector<std::pair<std::string, std::string>>;
// The first header called name (compared case-insensitively), or nullopt.
std::optional<std::string> find_header(const Headers& headers, std::string_view name);

struct Request {
  std::string method = "GET";
  std::string url;
  Headers headers;  // sent as given; Host, User-Agent and Content-Length are added when absent
  std::string body;
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;  // empty for download() with a 2xx status
  std::string url;   // final URL after redirects
  std::optional<std::string> header(std::string_view name) const {
    return find_header(headers, name);
  }
};

struct ClientOptions {
  std::string ca_file;  // PEM bundle for https; empty = OpenSSL's default paths
  bool insecure_skip_verify = false;
  std::string client_cert_file, client_key_file;  // optional mTLS (PEM)
  // The same as text, as kubeconfigs carry them inline; used when the file is not given.
  std::string ca_pem, client_cert_pem, client_key_pem;
  // connect_timeout bounds resolving (except a lookup stuck in the system resolver), connecting
  // and the TLS handshake; io_timeout bounds each read or write.
  std::chrono::milliseconds connect_timeout{10000}, io_timeout{60000};
  int max_redirects = 10;  // 0: redirects are returned as they are, not followed
  // Extra attempts on connection errors, 429, 502, 503, 504 (idempotent methods only).
  int retries = 3;
  // Doubled each attempt; a Retry-After in seconds replaces it (capped at 30 s).
  std::chrono::milliseconds retry_backoff{200};
  // Proxy URL for every target ("http://user:pass@proxy:3128"; "" = no proxy). nullopt reads
  // HTTPS_PROXY/https_proxy (https targets) and HTTP_PROXY/http_proxy (http targets) from the
  // environment when the Client is constructed.
  std::optional<std::string> proxy;
  // Comma-separated hosts that bypass the proxy, curl's rules: "*", exact hosts and domain
  // suffixes ("example.com" and ".example.com" both match a.example.com), IP literals and CIDR
  // blocks. nullopt reads NO_PROXY/no_proxy. Like curl, loopback targets are proxied unless listed.
  std::optional<std::string> no_proxy;
  uint64_t max_body = 64ull << 20;  // buffered bodies larger than this fail with kTooLarge
  std::string user_agent = "k3s-airgap";
};

struct DownloadOptions {
  std::optional<uint64_t> expected_size;       // size of the whole resource
  std::optional<std::string> expected_sha256;  // lowercase hex of the whole resource
  // Called after each chunk reaches the sink with that chunk's size (fits Progress::advance).
  std::function<void(uint64_t)> on_bytes;
  // Bytes already held by the sink's owner; sends "Range: bytes=N-". A server that ignores the
  // range (200) has its first N bytes skipped.
  uint64_t resume_from = 0;
  // Hash of the first resume_from bytes, fed every downloaded byte (and finished when
  // expected_sha256 is checked). Required with expected_sha256 when resume_from > 0.
  Sha256* prefix_hash = nullptr;
};

class Client {
 public:
  // Never fails: a CA, certificate or key file that does not load makes every https request
  // fail with kInvalid naming the file; a bad proxy URL does the same for proxied requests.
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends a request and buffers the response body (up to max_body). Follows redirects (301, 302,
  // 303, 307, 308; 303, and 301/302 after a POST, turn into a GET without body; Authorization is
  // dropped once a redirect leaves the scheme, host and port of the original URL) and retries as
  // configured. Errors: kInvalid (bad URL, method or header; TLS files), kUnavailable
  // (connect/TLS/IO failure after the retries, naming host and cause), kTimeout, kTooLarge (body or
  // redirect count).
  Result<Response> send(const Request& request);

  // Streams a GET body into sink while hashing it. Checks Content-Length, expected_size and
  // expected_sha256 (kIntegrity naming expected and actual). If the connection drops mid-body it
  // reconnects and continues with a Range request, only when the server supports ranges and its
  // ETag / Last-Modified are unchanged (else kUnavailable, or kConflict when the resource
  // changed), so the sink receives every byte exactly once. A non-2xx status returns the Response
  // with its buffered (bounded) body and writes nothing. Other errors as for send(), plus the
  // sink's own errors.
  Result<Response> download(const Request& request, ByteSink& sink,
                            const DownloadOptions& options = {});

  // Sends request.headers with a streamed body of exactly size bytes read from body (registry
  // blob pushes). The body cannot be replayed, so there are no retries and redirects are
  // returned as Responses. Errors as for send(); kIntegrity when body yields another size.
  Result<Response> upload(const Request& request, ByteSource& body, uint64_t size);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace core::http
