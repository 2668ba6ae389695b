#include "core/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "core/fs/files.h"
#include "core/http/client.h"
#include "core/http/test_peers.h"
#include "tests/support/test_support.h"

namespace core::http {
namespace {

class SendFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK(write_file_atomic(dir_.sub("file"), kContent));
    ASSERT_OK_AND_ASSIGN(server_,
                         Server::start({}, [this](const ServerRequest& r, ResponseWriter& w) {
                           w.send_file(dir_.sub(r.path.substr(1)), "text/plain");
                         }));
  }

  Response get(Headers headers, std::string method = "GET") {
    auto response = client_.send(
        {.method = method, .url = server_->url() + "/file", .headers = std::move(headers)});
    EXPECT_TRUE(response.has_value()) << response.error().message();
    return response.value_or(Response{});
  }

  static constexpr std::string_view kContent = "0123456789abcdefghij";  // 20 bytes
  TempDir dir_ = testing_support::make_temp_dir();
  std::unique_ptr<Server> server_;
  Client client_;
};

TEST_F(SendFileTest, ServesWholeFilesWithValidators) {
  Response response = get({});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, kContent);
  EXPECT_EQ(response.header("Content-Type"), "text/plain");
  EXPECT_EQ(response.header("Accept-Ranges"), "bytes");
  EXPECT_TRUE(response.header("Last-Modified").has_value());
  std::string etag = response.header("ETag").value_or("");
  EXPECT_TRUE(etag.starts_with("\"") && etag.ends_with("\"")) << etag;  // strong
  Response head = get({}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_EQ(head.header("Content-Length"), "20");
}

TEST_F(SendFileTest, HonoursRanges) {
  struct Case {
    const char* range;
    int status;
    const char* body;
    const char* content_range;  // nullptr: none expected
  };
  const Case cases[] = {
      {"bytes=2-5", 206, "2345", "bytes 2-5/20"},
      {"bytes=15-", 206, "fghij", "bytes 15-19/20"},
      {"bytes=-3", 206, "hij", "bytes 17-19/20"},
      {"bytes=18-100", 206, "ij", "bytes 18-19/20"},
      {"bytes=-50", 206, "0123456789abcdefghij", "bytes 0-19/20"},
      {"bytes=20-", 416, "", "bytes */20"},
      {"bytes=-0", 416, "", "bytes */20"},
      {"bytes=0-1,4-5", 200, "0123456789abcdefghij", nullptr},  // several ranges: whole file
      {"bytes=5-2", 200, "0123456789abcdefghij", nullptr},      // invalid: ignored
      {"items=0-1", 200, "0123456789abcdefghij", nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.range);
    Response response = get({{"Range", c.range}});
    EXPECT_EQ(response.status, c.status);
    EXPECT_EQ(response.body, c.body);
    EXPECT_EQ(response.header("Content-Range"),
              c.content_range ? std::optional<std::string>(c.content_range) : std::nullopt);
  }
}

TEST_F(SendFileTest, IfRangeMismatchSendsTheWholeFile) {
  std::string etag = get({}).header("ETag").value_or("");
  Response matching = get({{"Range", "bytes=0-1"}, {"If-Range", etag}});
  EXPECT_EQ(matching.status, 206);
  Response stale = get({{"Range", "bytes=0-1"}, {"If-Range", "\"old\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body, kContent);
}

TEST_F(SendFileTest, IfNoneMatchAnswers304) {
  std::string etag = get({}).header("ETag").value_or("");
  ASSERT_FALSE(etag.empty());
  Response cached = get({{"If-None-Match", "\"other\", " + etag}});
  EXPECT_EQ(cached.status, 304);
  EXPECT_EQ(cached.body, "");
  EXPECT_EQ(cached.header("ETag"), etag);
  EXPECT_EQ(get({{"If-None-Match", "W/" + etag}}).status, 304);  // weak comparison
  EXPECT_EQ(get({{"If-None-Match", "\"other\""}}).status, 200);
  // A changed file gets a new ETag.
  ASSERT_OK(write_file_atomic(dir_.sub("file"), "changed content"));
  Response changed = get({{"If-None-Match", etag}});
  EXPECT_EQ(changed.status, 200);
  EXPECT_EQ(changed.body, "changed content");
  EXPECT_NE(changed.header("ETag"), etag);
}

TEST_F(SendFileTest, MissingFileIs404) {
  ASSERT_OK_AND_ASSIGN(Response response, client_.send({.url = server_->url() + "/absent"}));
  EXPECT_EQ(response.status, 404);
}

TEST(ServerTest, SplitsPathAndQuery) {
  ASSERT_OK_AND_ASSIGN(auto server,
                       Server::start({}, [](const ServerRequest& r, ResponseWriter& w) {
                         w.send(r.path + "|" + r.query + "|" + r.target);
                       }));
  Client client;
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = server->url() + "/v2/x?n=1&last=a"}));
  EXPECT_EQ(response.body, "/v2/x|n=1&last=a|/v2/x?n=1&last=a");
}

TEST(ServerTest, RequestBodyOverTheLimitIs413) {
  ServerOptions options;
  options.max_request_body = 1024;
  ASSERT_OK_AND_ASSIGN(auto server,
                       Server::start(options, [](const ServerRequest& r, ResponseWriter& w) {
                         w.send(std::to_string(r.body.size()));
                       }));
  ClientOptions client_options;
  client_options.retries = 0;
  Client client(client_options);
  ASSERT_OK_AND_ASSIGN(
      Response small,
      client.send({.method = "POST", .url = server->url(), .body = std::string(1024, 'x')}));
  EXPECT_EQ(small.body, "1024");
  ASSERT_OK_AND_ASSIGN(
      Response large,
      client.send({.method = "POST", .url = server->url(), .body = std::string(4096, 'x')}));
  EXPECT_EQ(large.status, 413);
}

TEST(ServerTest, HandlerExceptionIs500) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [](const ServerRequest&, ResponseWriter&) {
                         throw std::runtime_error("boom");
                       }));
  Client client;
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = server->url()}));
  EXPECT_EQ(response.status, 500);
}

TEST(ServerTest, AnswersExpectContinue) {
  ASSERT_OK_AND_ASSIGN(auto server,
                       Server::start({}, [](const ServerRequest& r, ResponseWriter& w) {
                         w.send("got " + r.body);
                       }));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server->port());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  testing::write_all(fd,
                     "PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
                     "\r\n");
  EXPECT_EQ(testing::read_head(fd), "HTTP/1.1 100 Continue\r\n\r\n");
  testing::write_all(fd, "body");
  std::string head = testing::read_head(fd);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n")) << head;
  char body[8] = {};
  EXPECT_EQ(::read(fd, body, sizeof body), 8);
  EXPECT_EQ(std::string(body, 8), "got body");
  ::close(fd);
}

TEST(ServerTest, ServesManyConcurrentConnections) {
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [](const ServerRequest& r,
                                                         ResponseWriter& w) { w.send(r.path); }));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      Client client;  // one connection per thread
      for (int i = 0; i < 5; ++i) {
        std::string path = "/" + std::to_string(t) + "-" + std::to_string(i);
        auto response = client.send({.url = server->url() + path});
        if (response && response->body == path) ++ok;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok, 80);
  EXPECT_EQ(server->connections_accepted(), 16u);
}

TEST(ServerTest, StopLetsRequestsInFlightFinish) {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [&](const ServerRequest&, ResponseWriter& w) {
                         entered.set_value();
                         released.wait();
                         w.send("finished");
                       }));
  // An idle keep-alive connection must not hold stop() up.
  Client idle_client;
  ASSERT_OK_AND_ASSIGN(auto idle_server, Server::start({}, [](const ServerRequest&,
                                                              ResponseWriter& w) { w.send(""); }));
  ASSERT_OK(idle_client.send({.url = idle_server->url()}));
  auto idle_stop = std::async(std::launch::async, [&] { idle_server->stop(); });
  EXPECT_EQ(idle_stop.wait_for(std::chrono::seconds(4)), std::future_status::ready);

  Client client;
  auto request =
      std::async(std::launch::async, [&] { return client.send({.url = server->url()}); });
  entered.get_future().wait();
  auto stopping = std::async(std::launch::async, [&] { server->stop(); });
  release.set_value();
  stopping.wait();
  Result<Response> response = request.get();
  ASSERT_TRUE(response.has_value()) << response.error().message();
  EXPECT_EQ(response->body, "finished");
  ClientOptions no_retries;
  no_retries.retries = 0;
  auto refused = Client(no_retries).send({.url = server->url()});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Errc::kUnavailable);
}

TEST(ServerTest, BadAddressOrTlsFilesAreInvalid) {
  auto bad_address = Server::start({.address = "not-an-ip"}, nullptr);
  ASSERT_FALSE(bad_address.has_value());
  EXPECT_EQ(bad_address.error().code(), Errc::kInvalid);
  auto bad_tls =
      Server::start({.tls_cert_file = "/nonexistent.pem", .tls_key_file = "/x"}, nullptr);
  ASSERT_FALSE(bad_tls.has_value());
  EXPECT_EQ(bad_tls.error().code(), Errc::kInvalid);
  EXPECT_NE(bad_tls.error().message().find("/nonexistent.pem"), std::string::npos);
}

}  // namespace
}  // namespace core::http
