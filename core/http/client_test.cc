#include "core/http/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/crypto/sha256.h"
#include "core/http/server.h"
#include "core/http/test_peers.h"
#include "tests/support/test_support.h"

namespace core::http {
namespace {

using testing::RawServer;

// Answers "<METHOD> <path> <body>" with the request's X-Test and Authorization echoed back.
void echo(const ServerRequest& request, ResponseWriter& writer) {
  writer.add_header("X-Echo", request.header("x-test").value_or(""));
  writer.add_header("X-Auth", request.header("Authorization").value_or("none"));
  writer.send(request.method + " " + request.path + " " + request.body);
}

ClientOptions fast_retries() {
  ClientOptions options;
  options.retry_backoff = std::chrono::milliseconds(1);
  return options;
}

TEST(ClientTest, GetAndPostRoundTrip) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, echo));
  Client client;
  ASSERT_OK_AND_ASSIGN(
      Response get, client.send({.url = server->url() + "/hello", .headers = {{"X-Test", "1"}}}));
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "GET /hello ");
  EXPECT_EQ(get.header("x-echo"), "1");
  EXPECT_EQ(get.header("Content-Length"), "11");
  EXPECT_EQ(get.url, server->url() + "/hello");
  ASSERT_OK_AND_ASSIGN(
      Response post,
      client.send({.method = "POST", .url = server->url() + "/submit", .body = "payload"}));
  EXPECT_EQ(post.body, "POST /submit payload");
}

TEST(ClientTest, StatusesAreResponsesNotErrors) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [](const ServerRequest&, ResponseWriter& w) {
                         w.set_status(404);
                         w.send("no such thing");
                       }));
  Client client;
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = server->url() + "/missing"}));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, "no such thing");
  ASSERT_OK_AND_ASSIGN(Response head, client.send({.method = "HEAD", .url = server->url()}));
  EXPECT_EQ(head.status, 404);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.header("Content-Length"), "13");
}

TEST(ClientTest, LocalhostResolvesWithoutNss) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, echo));
  Client client;
  ASSERT_OK_AND_ASSIGN(Response response,
                       client.send({.url = "http://localhost:" + std::to_string(server->port())}));
  EXPECT_EQ(response.body, "GET / ");
}

TEST(ClientTest, Ipv6Loopback) {
  auto server = Server::start({.address = "::1"}, echo);
  if (!server) GTEST_SKIP() << "no IPv6 loopback: " << server.error().message();
  std::string url = (*server)->url() + "/six";
  EXPECT_TRUE(url.starts_with("http://[::1]:")) << url;
  Client client;
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = url}));
  EXPECT_EQ(response.body, "GET /six ");
  EXPECT_EQ(response.url, url);
}

TEST(ClientTest, BadUrlIsInvalid) {
  Client client;
  auto result = client.send({.url = "ftp://example.com/"});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kInvalid);
  auto header = client.send({.url = "http://127.0.0.1:1/", .headers = {{"X", "a\r\nB: c"}}});
  ASSERT_FALSE(header.has_value());
  EXPECT_EQ(header.error().code(), Errc::kInvalid);
}

class RedirectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(other_, Server::start({}, echo));
    ASSERT_OK_AND_ASSIGN(server_, Server::start({}, [this](const ServerRequest& r,
                                                           ResponseWriter& w) { route(r, w); }));
  }

  void route(const ServerRequest& request, ResponseWriter& writer) {
    ++requests_;
    auto redirect = [&](int status, std::string location) {
      writer.set_status(status);
      writer.add_header("Location", std::move(location));
      writer.send("moved");
    };
    if (request.path == "/a/start") return redirect(302, "next");  // relative: /a/next
    if (request.path == "/a/next") return redirect(301, server_->url() + "/done");
    if (request.path == "/form") return redirect(303, "/done");
    if (request.path == "/keep") return redirect(307, "/done");
    if (request.path == "/loop") return redirect(302, "/loop");
    if (request.path == "/same-host") return redirect(302, "/done");
    if (request.path == "/cross-host") return redirect(302, other_->url() + "/elsewhere");
    echo(request, writer);
  }

  std::unique_ptr<Server> other_, server_;
  std::atomic<int> requests_{0};
};

TEST_F(RedirectTest, FollowsAChainWithRelativeLocations) {
  Client client;
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = server_->url() + "/a/start"}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "GET /done ");
  EXPECT_EQ(response.url, server_->url() + "/done");
  EXPECT_EQ(requests_, 3);
}

TEST_F(RedirectTest, SeeOtherTurnsPostIntoGet) {
  Client client;
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.method = "POST",
                                                       .url = server_->url() + "/form",
                                                       .headers = {{"Content-Type", "text/plain"}},
                                                       .body = "data"}));
  EXPECT_EQ(response.body, "GET /done ");
}

TEST_F(RedirectTest, TemporaryRedirectKeepsMethodAndBody) {
  Client client;
  ASSERT_OK_AND_ASSIGN(
      Response response,
      client.send({.method = "POST", .url = server_->url() + "/keep", .body = "x"}));
  EXPECT_EQ(response.body, "POST /done x");
}

TEST_F(RedirectTest, TooManyRedirectsFail) {
  ClientOptions options;
  options.max_redirects = 3;
  Client client(options);
  auto result = client.send({.url = server_->url() + "/loop"});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kTooLarge);
  EXPECT_NE(result.error().message().find("too many redirects"), std::string::npos);
  EXPECT_EQ(requests_, 4);
}

TEST_F(RedirectTest, AuthorizationIsDroppedOnlyAcrossHosts) {
  Client client;
  Headers auth = {{"Authorization", "Bearer secret"}};
  ASSERT_OK_AND_ASSIGN(Response same,
                       client.send({.url = server_->url() + "/same-host", .headers = auth}));
  EXPECT_EQ(same.header("X-Auth"), "Bearer secret");
  ASSERT_OK_AND_ASSIGN(Response cross,
                       client.send({.url = server_->url() + "/cross-host", .headers = auth}));
  EXPECT_EQ(cross.body, "GET /elsewhere ");
  EXPECT_EQ(cross.header("X-Auth"), "none");
}

TEST(ClientRetryTest, RetriesOn503ThenSucceeds) {
  std::atomic<int> attempts{0};
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [&](const ServerRequest&, ResponseWriter& w) {
                         if (++attempts < 3) w.set_status(503);
                         w.send("attempt " + std::to_string(attempts.load()));
                       }));
  Client client(fast_retries());
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = server->url()}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "attempt 3");
  EXPECT_EQ(attempts, 3);
}

TEST(ClientRetryTest, GivesUpWithTheLastAnswerAndNeverRetriesPost) {
  std::atomic<int> attempts{0};
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [&](const ServerRequest&, ResponseWriter& w) {
                         ++attempts;
                         w.set_status(503);
                         w.add_header("Retry-After", "0");
                       }));
  ClientOptions options = fast_retries();
  options.retries = 2;
  Client client(options);
  ASSERT_OK_AND_ASSIGN(Response get, client.send({.url = server->url()}));
  EXPECT_EQ(get.status, 503);
  EXPECT_EQ(attempts, 3);
  attempts = 0;
  ASSERT_OK_AND_ASSIGN(Response post, client.send({.method = "POST", .url = server->url()}));
  EXPECT_EQ(post.status, 503);
  EXPECT_EQ(attempts, 1);
}

TEST(ClientRetryTest, ConnectionRefusedIsUnavailableNamingTheHost) {
  int port = testing_support::free_port();
  ClientOptions options = fast_retries();
  options.retries = 1;
  Client client(options);
  auto result = client.send({.url = "http://127.0.0.1:" + std::to_string(port) + "/x"});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kUnavailable);
  const std::string& message = result.error().message();
  EXPECT_NE(message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << message;
  EXPECT_NE(message.find("refused"), std::string::npos) << message;
  EXPECT_NE(message.find("after 2 attempts"), std::string::npos) << message;
}

TEST(ClientRetryTest, UnknownHostIsUnavailable) {
  ClientOptions options = fast_retries();
  options.retries = 0;
  Client client(options);
  auto result = client.send({.url = "http://nonexistent.invalid/"});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kUnavailable);
  EXPECT_NE(result.error().message().find("resolving nonexistent.invalid"), std::string::npos)
      << result.error().message();
}

TEST(ClientRetryTest, RetriesWhenTheConnectionDropsBeforeAnAnswer) {
  std::atomic<int> calls{0};
  RawServer raw([&calls](int fd, const std::string&) {
    if (++calls == 1) return;  // close without answering
    testing::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  Client client(fast_retries());
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = raw.url()}));
  EXPECT_EQ(response.body, "ok");
  EXPECT_EQ(raw.connections(), 2);
}

TEST(ClientTest, TimesOutOnASilentServer) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [&](const ServerRequest&, ResponseWriter& w) {
                         std::unique_lock lock(mu);
                         cv.wait_for(lock, std::chrono::seconds(10), [&] { return release; });
                         w.send("late");
                       }));
  ClientOptions options;
  options.io_timeout = std::chrono::milliseconds(200);
  options.retries = 0;
  Client client(options);
  auto result = client.send({.url = server->url()});
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kTimeout) << result.error().message();
}

TEST(ClientTest, BodyOverTheLimitIsTooLarge) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [](const ServerRequest&, ResponseWriter& w) {
                         w.send(std::string(2000, 'x'));
                       }));
  ClientOptions options;
  options.max_body = 1000;
  Client client(options);
  auto result = client.send({.url = server->url()});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kTooLarge);
}

TEST(ClientTest, KeepAliveReusesOneConnection) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, echo));
  Client client;
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = server->url() + "/k"}));
    EXPECT_EQ(response.status, 200);
  }
  EXPECT_EQ(server->connections_accepted(), 1u);
}

TEST(ClientTest, ConnectionCloseIsHonoured) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [](const ServerRequest&, ResponseWriter& w) {
                         w.close_connection();
                         w.send("bye");
                       }));
  Client client;
  ASSERT_OK(client.send({.url = server->url()}));
  ASSERT_OK(client.send({.url = server->url()}));
  EXPECT_EQ(server->connections_accepted(), 2u);
}

TEST(ClientTest, StalePooledConnectionIsReplaced) {
  // Answers keep-alive, then closes anyway: the pooled connection is dead by the next request.
  RawServer raw([](int fd, const std::string&) {
    testing::write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  });
  ClientOptions options;
  options.retries = 0;
  Client client(options);
  for (int i = 0; i < 3; ++i) {
    ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = raw.url()}));
    EXPECT_EQ(response.body, "ok");
  }
  EXPECT_EQ(raw.connections(), 3);
}

TEST(ClientTest, SafeToShareBetweenThreads) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({.threads = 4}, echo));
  Client client;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
        auto response = client.send({.url = server->url() + path});
        if (response && response->body == "GET " + path + " ") ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok, 120);
  EXPECT_LE(server->connections_accepted(), 6u);
}

TEST(ClientTest, UploadStreamsABodyOfKnownSize) {
  ASSERT_OK_AND_ASSIGN(auto server,
                       Server::start({}, [](const ServerRequest& r, ResponseWriter& w) {
                         w.set_status(201);
                         w.send(r.method + " " + Sha256::hex_of(r.body));
                       }));
  std::string blob = testing::pattern_bytes(3 << 20);
  testing::StringSource source(blob);
  Client client;
  ASSERT_OK_AND_ASSIGN(
      Response response,
      client.upload({.method = "PUT", .url = server->url() + "/blob"}, source, blob.size()));
  EXPECT_EQ(response.status, 201);
  EXPECT_EQ(response.body, "PUT " + Sha256::hex_of(blob));

  testing::StringSource short_source("12345");
  auto result = client.upload({.method = "PUT", .url = server->url()}, short_source, 10);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kIntegrity);
}

}  // namespace
}  // namespace core::http
