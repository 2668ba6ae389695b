// Transport, internal to core/http: one request/response exchange over a pooled keep-alive
// connection (plain, TLS, or through an http proxy), with Beast kept behind this interface so
// that client.cc and download.cc compile without it.
//
// Thread-safety: Transport is safe to share between threads (the idle pool is guarded by a
// mutex; the TLS context is read-only after construction). An Exchange owns its connection and
// is used by one thread; destroying it returns the connection to the pool when the response was
// read to its end and the peer allows keep-alive, and closes it otherwise. Every Exchange must
// be destroyed before its Transport.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/base/error.h"
#include "core/fs/stream.h"
#include "core/http/client.h"
#include "core/http/url.h"

namespace core::http::detail {

// Where a request physically goes: the origin, possibly through an http proxy.
struct Route {
  Url origin;
  std::optional<Url> proxy;
  // Pool key: connections are shared only between requests with equal keys.
  std::string key() const;
};

// An outgoing request: its method, headers and a buffered or streamed body.
struct Message {
  std::string method = "GET";
  Headers headers;
  std::string body;              // sent when source is null
  ByteSource* source = nullptr;  // streamed body of exactly source_size bytes
  uint64_t source_size = 0;
};

class Exchange {
 public:
  struct State;
  explicit Exchange(std::unique_ptr<State> state);
  Exchange(Exchange&&) noexcept;
  Exchange& operator=(Exchange&&) noexcept;
  ~Exchange();

  int status() const;
  const Headers& headers() const;
  std::optional<std::string> header(std::string_view name) const;
  // Reads up to n body bytes; 0 at the end of the body. Errors: kUnavailable or kTimeout naming
  // the peer (including a body cut short of its Content-Length).
  Result<size_t> read(char* buf, size_t n);
  // Reads the rest of the body; kTooLarge beyond limit bytes.
  Result<std::string> read_all(uint64_t limit);
  // Reads and drops a short remaining body so the connection can be reused; closes otherwise.
  void discard();

 private:
  std::unique_ptr<State> state_;
};

class Transport {
 public:
  // Prepares the TLS context; a bad CA, certificate or key file is reported by every exchange().
  explicit Transport(const ClientOptions& options);
  ~Transport();

  // Sends message to route.origin's target over an idle pooled connection (replaying it once on
  // a fresh connection if the pooled one turns out dead and the body is buffered) or a new one,
  // and reads the response head. Errors: kInvalid (TLS files), kUnavailable (resolve, connect,
  // proxy, TLS or IO failure, naming the host and cause), kTimeout, kIntegrity (a source that
  // yields another size than announced).
  Result<Exchange> exchange(const Route& route, const Message& message);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace core::http::detail
