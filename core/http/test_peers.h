// Test peers for core/http tests: a raw-socket HTTP server whose handler writes bytes by hand
// (to cut connections mid-body), a CONNECT / absolute-form proxy, a PKI made with the openssl
// command, and in-memory byte sinks and sources. Test-only. Each peer serves on its own threads
// and may be queried from the test thread (recorded data is guarded by a mutex).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/crypto/hashing_stream.h"
#include "core/crypto/sha256.h"
#include "core/fs/stream.h"

namespace core::http::testing {

// Reads a request head (through the blank line) from fd; "" on EOF or error.
std::string read_head(int fd);
// The value of header name in a raw head, or "".
std::string head_field(const std::string& head, const std::string& name);
// Sends all of data on the socket; false when the peer is gone.
bool write_all(int fd, std::string_view data);

// Listens on 127.0.0.1:0 and handles one request per connection with handler(fd, head), then
// closes the connection. Connections are served one at a time.
class RawServer {
 public:
  using Handler = std::function<void(int fd, const std::string& head)>;
  explicit RawServer(Handler handler);
  ~RawServer();
  uint16_t port() const { return port_; }
  std::string url() const;
  int connections() const { return connections_; }
  std::vector<std::string> heads() const;

 private:
  void serve();
  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<std::string> heads_;
  std::thread thread_;
};

// An http proxy: tunnels "CONNECT host:port" and forwards absolute-form requests to their
// origin, recording each request line. With required_auth set, requests whose
// Proxy-Authorization differs get 407.
class TestProxy {
 public:
  explicit TestProxy(std::string required_auth = "");
  ~TestProxy();
  std::string url() const;
  std::vector<std::string> request_lines() const;

 private:
  void serve();
  void handle(int client);
  std::string required_auth_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::vector<std::string> lines_;    // guarded by mu_
  std::vector<int> open_fds_;         // guarded by mu_
  std::vector<std::thread> workers_;  // guarded by mu_
  std::thread thread_;
};

// Certificates made with the openssl command in dir: a CA, a leaf signed by it for
// IP:127.0.0.1 and DNS:localhost, a leaf for another name, and an unrelated CA.
struct TestPki {
  std::string ca_cert;
  std::string leaf_cert, leaf_key;
  std::string wrong_name_cert, wrong_name_key;  // SAN DNS:example.test only
  std::string other_ca_cert;
};
// nullopt (after printing why) when the openssl command is missing or fails.
std::optional<TestPki> make_test_pki(const std::string& dir);
// One PKI for the whole test binary, in a directory removed at exit; null without openssl.
const TestPki* shared_test_pki();

using core::HashingSink;
using core::StringSink;
using core::StringSource;

// Deterministic pseudo-random bytes.
std::string pattern_bytes(size_t n, uint32_t seed = 1);

}  // namespace core::http::testing
