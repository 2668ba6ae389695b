// Tests for Tunnel and proxy_upgrade: a raw socket client talks through a proxy Server to an
// upstream Server that answers "Upgrade: test-proto" with 101 and then echoes bytes upper-cased.
// Every wait is a bounded poll (5 s) on a condition, never a fixed sleep.
#include "core/http/tunnel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <thread>

#include "core/base/strings.h"
#include "core/fs/fd.h"
#include "core/http/server.h"
#include "core/http/test_peers.h"
#include "tests/support/test_support.h"

namespace core::http {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kDeadline{5};
constexpr std::string_view kUpgradeRequest =
    "GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: test-proto\r\n\r\n";

// True once condition() holds, polling every 10 ms; false after kDeadline.
bool eventually(const std::function<bool()>& condition) {
  const auto deadline = Clock::now() + kDeadline;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// A TCP connection to 127.0.0.1:port; invalid when connecting fails.
Fd connect_local(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!fd.valid() || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return Fd();
  return fd;
}

// Appends what one recv() brings to `into` once fd is readable. Returns the recv result: > 0
// bytes read, 0 at EOF, -1 on error or when nothing arrived before the deadline.
ssize_t receive(int fd, std::string& into, Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return -1;
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n > 0) into.append(buf, static_cast<size_t>(n));
  return n;
}

// Reads from fd into `buffered` until done(buffered) holds; false on EOF, error or deadline.
bool read_until(int fd, std::string& buffered,
                const std::function<bool(const std::string&)>& done) {
  const auto deadline = Clock::now() + kDeadline;
  while (!done(buffered)) {
    if (receive(fd, buffered, deadline) <= 0) return false;
  }
  return true;
}

// Takes the first n bytes out of buffered, reading more from fd as needed ("" when they do not
// arrive in time).
std::string take_bytes(int fd, std::string& buffered, size_t n) {
  if (!read_until(fd, buffered, [n](const std::string& b) { return b.size() >= n; })) return "";
  std::string out = buffered.substr(0, n);
  buffered.erase(0, n);
  return out;
}

// Takes a response head (through the blank line) out of buffered; "" when none arrives.
std::string take_head(int fd, std::string& buffered) {
  auto complete = [](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; };
  if (!read_until(fd, buffered, complete)) return "";
  return take_bytes(fd, buffered, buffered.find("\r\n\r\n") + 4);
}

// A whole non-upgrade response read from fd: its head and its Content-Length body.
struct RawResponse {
  std::string head, body;
};
RawResponse take_response(int fd, std::string& buffered) {
  RawResponse r;
  r.head = take_head(fd, buffered);
  std::string length = testing::head_field(r.head, "Content-Length");
  if (!length.empty()) r.body = take_bytes(fd, buffered, std::stoul(length));
  return r;
}

class TunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(upstream_,
                         Server::start({}, [this](const ServerRequest& r, ResponseWriter& w) {
                           serve_upstream(r, w);
                         }));
    ASSERT_OK_AND_ASSIGN(proxy_,
                         Server::start({}, [this](const ServerRequest& r, ResponseWriter& w) {
                           proxy_upgrade(r, upstream_->url() + r.target, {}, w);
                         }));
  }

  // /deny answers 403; an upgrade to test-proto echoes each piece upper-cased and closes the
  // connection when a piece contains "bye"; on /greet it first sends "welcome" unasked.
  void serve_upstream(const ServerRequest& r, ResponseWriter& w) {
    if (r.path == "/deny") {
      w.set_status(403);
      return w.send("denied by upstream");
    }
    if (r.header("Upgrade") != "test-proto") {
      w.set_status(400);
      return w.send("no upgrade\n");
    }
    w.set_status(101);
    w.add_header("Upgrade", "test-proto");
    w.add_header("Connection", "Upgrade");
    w.upgrade([this, greet = r.path == "/greet"](std::shared_ptr<UpgradedConnection> conn) {
      if (greet) conn->write("welcome");
      UpgradedConnection* c = conn.get();  // the callbacks are owned by conn: no cycle
      conn->on_read(
          [c](std::string_view data) {
            if (data.find("bye") != std::string_view::npos) return c->close();
            std::string upper(data);
            for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
            c->write(std::move(upper));
          },
          [this] { upstream_closed_ = true; });
    });
  }

  // Connects to the proxy and sends request (plus whatever follows it in the same write).
  Fd open_client(std::string_view request) {
    Fd fd = connect_local(proxy_->port());
    EXPECT_TRUE(fd.valid());
    EXPECT_TRUE(testing::write_all(fd.get(), request));
    return fd;
  }

  std::atomic<bool> upstream_closed_{false};  // declared first: outlives the servers
  std::unique_ptr<Server> upstream_;
  std::unique_ptr<Server> proxy_;
};

TEST_F(TunnelTest, ProxiesUpgradeBothWaysAndClosesUpstreamWhenClientLeaves) {
  Fd client = open_client(kUpgradeRequest);
  std::string buffered;
  std::string head = take_head(client.get(), buffered);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  EXPECT_EQ(testing::head_field(head, "Upgrade"), "test-proto") << head;
  EXPECT_NE(to_lower(testing::head_field(head, "Connection")).find("upgrade"), std::string::npos)
      << head;
  ASSERT_TRUE(testing::write_all(client.get(), "hello"));
  EXPECT_EQ(take_bytes(client.get(), buffered, 5), "HELLO");
  ASSERT_TRUE(testing::write_all(client.get(), "more data"));
  EXPECT_EQ(take_bytes(client.get(), buffered, 9), "MORE DATA");
  EXPECT_FALSE(upstream_closed_);
  ASSERT_OK(client.close());
  EXPECT_TRUE(eventually([&] { return upstream_closed_.load(); }));
}

TEST_F(TunnelTest, BytesRightBehindTheRequestReachUpstream) {
  Fd client = open_client(std::string(kUpgradeRequest) + "early");
  std::string buffered;
  std::string head = take_head(client.get(), buffered);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  EXPECT_EQ(take_bytes(client.get(), buffered, 5), "EARLY");
}

TEST_F(TunnelTest, BytesUpstreamSendsRightAfterItsHeadReachTheClient) {
  Fd client = open_client(
      "GET /greet HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: "
      "test-proto\r\n\r\n");
  std::string buffered;
  std::string head = take_head(client.get(), buffered);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  EXPECT_EQ(take_bytes(client.get(), buffered, 7), "welcome");
  ASSERT_TRUE(testing::write_all(client.get(), "hi"));
  EXPECT_EQ(take_bytes(client.get(), buffered, 2), "HI");
}

TEST_F(TunnelTest, LargeTransferArrivesWholeAndInOrder) {
  Fd client = open_client(kUpgradeRequest);
  std::string buffered;
  std::string head = take_head(client.get(), buffered);
  ASSERT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  std::string sent;
  for (size_t i = 0; sent.size() < (512u << 10); ++i) sent += "line " + std::to_string(i) + "\n";
  std::string expected = sent;
  for (char& ch : expected) ch = static_cast<char>(std::toupper(ch));
  // Sent from another thread so that neither direction can stall on full socket buffers.
  std::thread writer([&] { EXPECT_TRUE(testing::write_all(client.get(), sent)); });
  std::string got = take_bytes(client.get(), buffered, expected.size());
  writer.join();
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "echo differs from what was sent";
}

TEST_F(TunnelTest, PassesOtherAnswersBackWhole) {
  Fd client = open_client(
      "GET /deny HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: "
      "test-proto\r\n\r\n");
  std::string buffered;
  RawResponse response = take_response(client.get(), buffered);
  EXPECT_TRUE(response.head.starts_with("HTTP/1.1 403")) << response.head;
  EXPECT_EQ(response.body, "denied by upstream");
}

TEST_F(TunnelTest, UnreachableUpstreamIs502) {
  ASSERT_OK_AND_ASSIGN(auto proxy, Server::start({}, [](const ServerRequest& r, ResponseWriter& w) {
                         proxy_upgrade(r, "http://127.0.0.1:1/x", {}, w);
                       }));
  Fd client = connect_local(proxy->port());
  ASSERT_TRUE(client.valid());
  ASSERT_TRUE(testing::write_all(client.get(), kUpgradeRequest));
  std::string buffered;
  RawResponse response = take_response(client.get(), buffered);
  EXPECT_TRUE(response.head.starts_with("HTTP/1.1 502")) << response.head;
}

TEST_F(TunnelTest, UpstreamClosingEndsTheClientConnection) {
  Fd client = open_client(kUpgradeRequest);
  std::string buffered;
  std::string head = take_head(client.get(), buffered);
  ASSERT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  ASSERT_TRUE(testing::write_all(client.get(), "bye"));
  const auto deadline = Clock::now() + kDeadline;
  ssize_t n = 1;
  while (n > 0) n = receive(client.get(), buffered, deadline);
  EXPECT_EQ(n, 0) << "no EOF within the deadline; got " << quote(buffered);
  EXPECT_EQ(buffered, "");  // "bye" is not echoed
  EXPECT_TRUE(eventually([&] { return upstream_closed_.load(); }));
}

TEST_F(TunnelTest, OpenReadsTheAnswerHead) {
  const Headers upgrade = {{"Connection", "Upgrade"}, {"Upgrade", "test-proto"}};
  ASSERT_OK_AND_ASSIGN(auto tunnel,
                       Tunnel::open({.url = upstream_->url() + "/x", .headers = upgrade}, {}));
  EXPECT_EQ(tunnel->response().status, 101);
  EXPECT_EQ(tunnel->response().header("Upgrade"), "test-proto");
  ASSERT_OK_AND_ASSIGN(auto denied,
                       Tunnel::open({.url = upstream_->url() + "/deny", .headers = upgrade}, {}));
  EXPECT_EQ(denied->response().status, 403);
  EXPECT_EQ(denied->response().body, "denied by upstream");
  tunnel.reset();  // dropping an unspliced tunnel closes its connection
  EXPECT_TRUE(eventually([&] { return upstream_closed_.load(); }));
}

TEST_F(TunnelTest, DestroyingTheProxyClosesTheUpstreamSide) {
  Fd client = open_client(kUpgradeRequest);
  std::string buffered;
  std::string head = take_head(client.get(), buffered);
  ASSERT_TRUE(head.starts_with("HTTP/1.1 101")) << head;
  proxy_.reset();  // stop() ends the upgraded connection
  EXPECT_TRUE(eventually([&] { return upstream_closed_.load(); }));
}

}  // namespace
}  // namespace core::http
