#include "core/http/proxy.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/http/client.h"
#include "core/http/server.h"
#include "core/http/test_peers.h"
#include "tests/support/test_support.h"

namespace core::http {
namespace {

using detail::no_proxy_matches;
using detail::ProxySettings;
using testing::TestProxy;

struct NoProxyCase {
  const char* list;
  const char* host;
  bool matches;
};

const NoProxyCase kNoProxyCases[] = {
    {"*", "anything.example", true},
    {"example.com", "example.com", true},
    {"example.com", "a.b.example.com", true},
    {".example.com", "a.example.com", true},
    {".example.com", "example.com", true},
    {"example.com", "badexample.com", false},
    {"EXAMPLE.com", "www.Example.COM.", true},
    {"a.test, b.test", "x.b.test", true},
    {"a.test b.test", "b.test", true},
    {"10.0.0.0/8", "10.1.2.3", true},
    {"10.0.0.0/8", "11.0.0.1", false},
    {"192.168.0.0/23", "192.168.1.200", true},
    {"192.168.0.0/23", "192.168.2.1", false},
    {"192.168.0.0/16", "registry.example", false},
    {"127.0.0.1", "127.0.0.1", true},
    {"127.0.0.1", "127.0.0.2", false},
    {"::1", "::1", true},
    {"[::1]", "::1", true},
    {"fd00::/8", "fd12::34", true},
    {"localhost", "127.0.0.1", false},  // names are not resolved, like curl
    {"", "localhost", false},
    {" , ,", "localhost", false},
};

TEST(NoProxyTest, MatchTable) {
  for (const NoProxyCase& c : kNoProxyCases) {
    SCOPED_TRACE(std::string(c.list) + " vs " + c.host);
    EXPECT_EQ(no_proxy_matches(c.list, c.host), c.matches);
  }
}

TEST(ProxySettingsTest, OptionsOverrideTheEnvironment) {
  ClientOptions options;
  options.proxy = "http://proxy.example:3128";
  options.no_proxy = "internal.example";
  ProxySettings settings(options);
  ASSERT_OK_AND_ASSIGN(Url outside, Url::parse("https://registry.example/v2/"));
  ASSERT_OK_AND_ASSIGN(auto chosen, settings.select(outside));
  ASSERT_TRUE(chosen.has_value());
  EXPECT_EQ(chosen->host_port(), "proxy.example:3128");
  ASSERT_OK_AND_ASSIGN(Url inside, Url::parse("http://a.internal.example/"));
  ASSERT_OK_AND_ASSIGN(auto bypass, settings.select(inside));
  EXPECT_FALSE(bypass.has_value());
  // Like curl, loopback targets go through the proxy unless NO_PROXY lists them.
  ASSERT_OK_AND_ASSIGN(Url loopback, Url::parse("http://127.0.0.1:5000/"));
  ASSERT_OK_AND_ASSIGN(auto via, settings.select(loopback));
  EXPECT_TRUE(via.has_value());

  options.proxy = "";
  ASSERT_OK_AND_ASSIGN(auto none, ProxySettings(options).select(outside));
  EXPECT_FALSE(none.has_value());
  options.proxy = "proxy.example:8080";  // no scheme: http, as curl assumes
  ASSERT_OK_AND_ASSIGN(auto bare, ProxySettings(options).select(outside));
  EXPECT_EQ(bare->host_port(), "proxy.example:8080");
  options.proxy = "socks5://proxy.example:1080";
  auto socks = ProxySettings(options).select(outside);
  ASSERT_FALSE(socks.has_value());
  EXPECT_EQ(socks.error().code(), Errc::kUnsupported);
}

// Sets environment variables for the life of the object and restores them after.
class ScopedEnv {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) {
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        ::unsetenv(it->first.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(ProxySettingsTest, ReadsTheEnvironment) {
  ScopedEnv env;
  for (const char* name :
       {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"}) {
    env.set(name, nullptr);
  }
  env.set("HTTPS_PROXY", "http://secure-proxy:1");
  env.set("http_proxy", "http://plain-proxy:2");
  env.set("NO_PROXY", "skip.example");
  ProxySettings settings{ClientOptions{}};
  ASSERT_OK_AND_ASSIGN(auto https, settings.select(*Url::parse("https://a.example/")));
  EXPECT_EQ(https->host, "secure-proxy");
  ASSERT_OK_AND_ASSIGN(auto http, settings.select(*Url::parse("http://a.example/")));
  EXPECT_EQ(http->host, "plain-proxy");
  ASSERT_OK_AND_ASSIGN(auto skipped, settings.select(*Url::parse("https://www.skip.example/")));
  EXPECT_FALSE(skipped.has_value());
}

TEST(ProxySettingsTest, ProxyAuthorizationFromUserinfo) {
  ASSERT_OK_AND_ASSIGN(Url proxy, Url::parse("http://us%40er:p%3Ass@proxy:3128"));
  // base64("us@er:p:ss")
  EXPECT_EQ(detail::proxy_authorization(proxy), "Basic dXNAZXI6cDpzcw==");
  ASSERT_OK_AND_ASSIGN(Url anonymous, Url::parse("http://proxy:3128"));
  EXPECT_EQ(detail::proxy_authorization(anonymous), "");
}

class ProxyClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Handler hello = [](const ServerRequest& request, ResponseWriter& writer) {
      writer.send("hello " + request.path);
    };
    ASSERT_OK_AND_ASSIGN(plain_, Server::start({}, hello));
    pki_ = testing::shared_test_pki();
    if (pki_ == nullptr) GTEST_SKIP() << "no openssl command to make certificates";
    ServerOptions tls;
    tls.tls_cert_file = pki_->leaf_cert;
    tls.tls_key_file = pki_->leaf_key;
    ASSERT_OK_AND_ASSIGN(tls_, Server::start(tls, hello));
  }

  ClientOptions options() const {
    ClientOptions options;
    options.ca_file = pki_->ca_cert;
    options.retries = 0;
    return options;
  }

  const testing::TestPki* pki_ = nullptr;
  std::unique_ptr<Server> plain_, tls_;
};

TEST_F(ProxyClientTest, HttpsGoesThroughConnectTunnel) {
  TestProxy proxy;
  ClientOptions opts = options();
  opts.proxy = proxy.url();
  Client client(opts);
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = tls_->url() + "/tunnel"}));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "hello /tunnel");
  // The tunnelled connection is kept alive and reused.
  ASSERT_OK_AND_ASSIGN(Response again, client.send({.url = tls_->url() + "/again"}));
  EXPECT_EQ(again.body, "hello /again");
  EXPECT_EQ(
      proxy.request_lines(),
      std::vector<std::string>{"CONNECT 127.0.0.1:" + std::to_string(tls_->port()) + " HTTP/1.1"});
}

TEST_F(ProxyClientTest, HttpsProxyFromEnvironment) {
  TestProxy proxy;
  ScopedEnv env;
  env.set("https_proxy", nullptr);
  env.set("no_proxy", nullptr);
  env.set("NO_PROXY", nullptr);
  env.set("HTTPS_PROXY", proxy.url().c_str());
  Client client(options());
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = tls_->url() + "/env"}));
  EXPECT_EQ(response.body, "hello /env");
  EXPECT_EQ(proxy.request_lines().size(), 1u);
}

TEST_F(ProxyClientTest, NoProxyBypassesTheProxy) {
  TestProxy proxy;
  ClientOptions opts = options();
  opts.proxy = proxy.url();
  opts.no_proxy = "example.test,127.0.0.1";
  Client client(opts);
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = tls_->url() + "/direct"}));
  EXPECT_EQ(response.body, "hello /direct");
  ASSERT_OK_AND_ASSIGN(Response plain, client.send({.url = plain_->url() + "/direct"}));
  EXPECT_EQ(plain.body, "hello /direct");
  EXPECT_TRUE(proxy.request_lines().empty());
}

TEST_F(ProxyClientTest, HttpTargetsUseAbsoluteForm) {
  TestProxy proxy;
  ClientOptions opts = options();
  opts.proxy = proxy.url();
  Client client(opts);
  std::string url = plain_->url() + "/plain?x=1";
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = url}));
  EXPECT_EQ(response.body, "hello /plain");
  EXPECT_EQ(proxy.request_lines(), std::vector<std::string>{"GET " + url + " HTTP/1.1"});
}

TEST_F(ProxyClientTest, ProxyCredentialsAreSent) {
  TestProxy proxy("Basic dXNlcjpwYXNz");  // user:pass
  ClientOptions opts = options();
  std::string address = proxy.url().substr(7);
  opts.proxy = "http://user:pass@" + address;
  Client client(opts);
  ASSERT_OK_AND_ASSIGN(Response tunnelled, client.send({.url = tls_->url() + "/a"}));
  EXPECT_EQ(tunnelled.body, "hello /a");
  ASSERT_OK_AND_ASSIGN(Response forwarded, client.send({.url = plain_->url() + "/b"}));
  EXPECT_EQ(forwarded.body, "hello /b");

  opts.proxy = "http://user:wrong@" + address;
  Client refused(opts);
  auto result = refused.send({.url = tls_->url() + "/c"});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kUnavailable);
  EXPECT_NE(result.error().message().find("refused CONNECT"), std::string::npos)
      << result.error().message();
  ASSERT_OK_AND_ASSIGN(Response status, refused.send({.url = plain_->url() + "/d"}));
  EXPECT_EQ(status.status, 407);
}

}  // namespace
}  // namespace core::http
