// Tests of the agent's load balancer against real loopback sockets: echo backends that answer
// "<tag>" + what they receive, failover to the next server, list replacement, closing clients when
// no server answers, port handling and a large transfer in both directions at once.
#include "k3s/agent/load_balancer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace k3s::agent {
namespace {

using Clock = std::chrono::steady_clock;

// A socket bound to 127.0.0.1:port (0 picks one); -1 on failure. `bound` gets the port.
int bind_loopback(uint16_t port, uint16_t* bound) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  *bound = ntohs(addr.sin_port);
  return fd;
}

std::string loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// A port that nothing listens on (bound, then released).
uint16_t dead_port() {
  uint16_t port = 0;
  int fd = bind_loopback(0, &port);
  if (fd >= 0) ::close(fd);
  return port;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// A TCP server on 127.0.0.1 that answers each connection with tag + every byte it reads, and
// half-closes when the client does. The destructor stops it: listener, connections, threads.
class EchoBackend {
 public:
  static std::unique_ptr<EchoBackend> start(std::string tag) {
    std::unique_ptr<EchoBackend> b(new EchoBackend(std::move(tag)));
    b->listen_fd_ = bind_loopback(0, &b->port_);
    if (b->listen_fd_ < 0 || ::listen(b->listen_fd_, 16) != 0) return nullptr;
    b->acceptor_ = std::thread([p = b.get()] { p->accept_loop(); });
    return b;
  }
  ~EchoBackend() {
    if (listen_fd_ < 0) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    std::lock_guard lock(mu_);
    for (int fd : conns_) ::shutdown(fd, SHUT_RDWR);
    for (std::thread& t : threads_) t.join();
    for (int fd : conns_) ::close(fd);
  }
  std::string address() const { return loopback(port_); }

 private:
  explicit EchoBackend(std::string tag) : tag_(std::move(tag)) {}
  void accept_loop() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // the listener was shut down
      std::lock_guard lock(mu_);
      conns_.push_back(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    char buf[65536];
    bool tagged = false;
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
      if (!tagged && !send_all(fd, tag_)) break;
      tagged = true;
      if (!send_all(fd, std::string_view(buf, static_cast<size_t>(n)))) break;
    }
    ::shutdown(fd, SHUT_WR);  // closed by the destructor, so the number is never reused early
  }

  std::string tag_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<int> conns_;            // guarded by mu_
  std::vector<std::thread> threads_;  // guarded by mu_
  std::thread acceptor_;
};

// A client connection to 127.0.0.1:port.
class Client {
 public:
  explicit Client(uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      fd_ = fd;
    else if (fd >= 0)
      ::close(fd);
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return fd_ >= 0; }
  bool send(std::string_view data) { return send_all(fd_, data); }
  void finish_sending() { ::shutdown(fd_, SHUT_WR); }
  // Reads until `want` bytes, EOF, an error or the deadline; ended() tells EOF/error apart.
  std::string read(size_t want = SIZE_MAX, std::chrono::milliseconds timeout = kTimeout) {
    std::string got;
    auto deadline = Clock::now() + timeout;
    char buf[65536];
    while (got.size() < want && !ended_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        ended_ = true;
      else
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  bool ended() const { return ended_; }
  static constexpr std::chrono::milliseconds kTimeout{5000};

 private:
  int fd_ = -1;
  bool ended_ = false;
};

// Sends msg through 127.0.0.1:port, half-closes, and returns the whole reply.
std::string exchange(uint16_t port, std::string_view msg) {
  Client c(port);
  if (!c.connected() || !c.send(msg)) return "<no connection>";
  c.finish_sending();
  std::string got = c.read();
  return c.ended() ? got : got + "<timed out>";
}

TEST(LoadBalancerTest, ProxiesToTheServerAndServesConnectionsConcurrently) {
  auto a = EchoBackend::start("A:");
  ASSERT_TRUE(a);
  auto lb = LoadBalancer::start(0, {a->address()});
  ASSERT_TRUE(lb) << lb.error().message();
  EXPECT_EQ(exchange((*lb)->port(), "hello"), "A:hello");
  Client one((*lb)->port()), two((*lb)->port());
  ASSERT_TRUE(one.connected() && two.connected());
  ASSERT_TRUE(one.send("one") && two.send("two"));
  EXPECT_EQ(two.read(5), "A:two");  // both connections open at once
  EXPECT_EQ(one.read(5), "A:one");
}

TEST(LoadBalancerTest, SkipsAServerThatRefuses) {
  auto a = EchoBackend::start("A:");
  ASSERT_TRUE(a);
  std::vector<std::string> servers = {loopback(dead_port()), a->address()};
  auto lb = LoadBalancer::start(0, servers);
  ASSERT_TRUE(lb) << lb.error().message();
  EXPECT_EQ(exchange((*lb)->port(), "hello"), "A:hello");
  EXPECT_EQ((*lb)->servers(), servers);
}

TEST(LoadBalancerTest, SetServersReplacesTheListButIgnoresAnEmptyOne) {
  auto a = EchoBackend::start("A:"), b = EchoBackend::start("B:");
  ASSERT_TRUE(a && b);
  auto lb = LoadBalancer::start(0, {a->address()});
  ASSERT_TRUE(lb) << lb.error().message();
  EXPECT_EQ(exchange((*lb)->port(), "x"), "A:x");
  (*lb)->set_servers({b->address()});
  EXPECT_EQ(exchange((*lb)->port(), "y"), "B:y");
  (*lb)->set_servers({});
  EXPECT_EQ((*lb)->servers(), std::vector<std::string>{b->address()});
  EXPECT_EQ(exchange((*lb)->port(), "z"), "B:z");
}

TEST(LoadBalancerTest, FailsOverWhenTheLastServerGoesAway) {
  auto a = EchoBackend::start("A:"), b = EchoBackend::start("B:");
  ASSERT_TRUE(a && b);
  auto lb = LoadBalancer::start(0, {a->address(), b->address()});
  ASSERT_TRUE(lb) << lb.error().message();
  EXPECT_EQ(exchange((*lb)->port(), "1"), "A:1");
  a.reset();
  EXPECT_EQ(exchange((*lb)->port(), "2"), "B:2");
  EXPECT_EQ(exchange((*lb)->port(), "3"), "B:3");
}

TEST(LoadBalancerTest, ClosesTheClientWhenNoServerAnswers) {
  auto lb = LoadBalancer::start(0, {loopback(dead_port()), loopback(dead_port())});
  ASSERT_TRUE(lb) << lb.error().message();
  Client c((*lb)->port());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.read(SIZE_MAX, std::chrono::milliseconds(10000)), "");
  EXPECT_TRUE(c.ended()) << "the load balancer kept the connection open";
}

TEST(LoadBalancerTest, PicksAFreePortAndRefusesATakenOne) {
  auto lb = LoadBalancer::start(0, {"127.0.0.1:1"});
  ASSERT_TRUE(lb) << lb.error().message();
  ASSERT_NE((*lb)->port(), 0);
  EXPECT_EQ((*lb)->url(), "https://127.0.0.1:" + std::to_string((*lb)->port()));
  auto second = LoadBalancer::start((*lb)->port(), {"127.0.0.1:1"});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), core::Errc::kUnavailable) << second.error().message();
}

TEST(LoadBalancerTest, CarriesALargePayloadCompleteAndInOrder) {
  auto a = EchoBackend::start("A:");
  ASSERT_TRUE(a);
  auto lb = LoadBalancer::start(0, {a->address()});
  ASSERT_TRUE(lb) << lb.error().message();
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 % 251);
  Client c((*lb)->port());
  ASSERT_TRUE(c.connected());
  bool sent = false;
  std::thread sender([&] {
    sent = c.send(payload);
    c.finish_sending();
  });
  std::string got = c.read(SIZE_MAX, std::chrono::milliseconds(20000));
  sender.join();
  EXPECT_TRUE(sent);
  EXPECT_TRUE(c.ended());
  ASSERT_EQ(got.size(), payload.size() + 2);
  EXPECT_TRUE(got == "A:" + payload) << "the payload came back altered or reordered";
}

}  // namespace
}  // namespace k3s::agent
