#include "core/http/url.h"

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace core::http {
namespace {

struct ParseCase {
  const char* text;
  const char* scheme;  // nullptr: parse must fail with kInvalid
  const char* host;
  uint16_t port;
  const char* target;
};

const ParseCase kParseCases[] = {
    {"http://example.com", "http", "example.com", 80, "/"},
    {"https://Example.COM:8443/v2/?a=b#frag", "https", "example.com", 8443, "/v2/?a=b"},
    {"HTTPS://registry.local/v2/library/busybox/blobs/sha256:ab", "https", "registry.local", 443,
     "/v2/library/busybox/blobs/sha256:ab"},
    {"http://[::1]:5000/v2/", "http", "::1", 5000, "/v2/"},
    {"https://[2001:DB8::1]/x", "https", "2001:db8::1", 443, "/x"},
    {"http://127.0.0.1:8080?q=1", "http", "127.0.0.1", 8080, "/?q=1"},
    {"http://host:/p", "http", "host", 80, "/p"},
    {"http://user:pw@proxy.example:3128", "http", "proxy.example", 3128, "/"},
    {"http://h/caf\xc3\xa9", "http", "h", 80, "/caf%C3%A9"},
    {"ftp://example.com/", nullptr, nullptr, 0, nullptr},
    {"example.com/path", nullptr, nullptr, 0, nullptr},
    {"http://", nullptr, nullptr, 0, nullptr},
    {"http:///path", nullptr, nullptr, 0, nullptr},
    {"http://host:0/", nullptr, nullptr, 0, nullptr},
    {"http://host:65536/", nullptr, nullptr, 0, nullptr},
    {"http://host:8x/", nullptr, nullptr, 0, nullptr},
    {"http://[::1/", nullptr, nullptr, 0, nullptr},
    {"http://[zz::1]/", nullptr, nullptr, 0, nullptr},
    {"http://[::1]x/", nullptr, nullptr, 0, nullptr},
    {"http://ho^st/", nullptr, nullptr, 0, nullptr},
    {"http://host/a b", nullptr, nullptr, 0, nullptr},
    {"http://host/a\r\nX-Injected: 1", nullptr, nullptr, 0, nullptr},
    {" http://host/", nullptr, nullptr, 0, nullptr},
};

TEST(UrlTest, ParseTable) {
  for (const ParseCase& c : kParseCases) {
    SCOPED_TRACE(c.text);
    auto url = Url::parse(c.text);
    if (c.scheme == nullptr) {
      ASSERT_FALSE(url.has_value());
      EXPECT_EQ(url.error().code(), Errc::kInvalid);
      continue;
    }
    ASSERT_TRUE(url.has_value()) << url.error().message();
    EXPECT_EQ(url->scheme, c.scheme);
    EXPECT_EQ(url->host, c.host);
    EXPECT_EQ(url->port, c.port);
    EXPECT_EQ(url->target, c.target);
  }
}

TEST(UrlTest, PrintsHostPortAndString) {
  ASSERT_OK_AND_ASSIGN(Url v6, Url::parse("http://[::1]:5000/v2/"));
  EXPECT_EQ(v6.host_port(), "[::1]:5000");
  EXPECT_EQ(v6.str(), "http://[::1]:5000/v2/");
  EXPECT_TRUE(v6.host_is_ip());
  ASSERT_OK_AND_ASSIGN(Url plain, Url::parse("https://example.com:443/a?b=c"));
  EXPECT_EQ(plain.host_port(), "example.com:443");
  EXPECT_EQ(plain.authority(), "example.com");
  EXPECT_EQ(plain.str(), "https://example.com/a?b=c");
  EXPECT_EQ(plain.path(), "/a");
  EXPECT_FALSE(plain.host_is_ip());
  ASSERT_OK_AND_ASSIGN(Url creds, Url::parse("http://u:p@h:81"));
  EXPECT_EQ(creds.userinfo, "u:p");
  EXPECT_EQ(creds.str(), "http://u:p@h:81/");
}

struct ResolveCase {
  const char* location;
  const char* expected;  // nullptr: must fail
};

const ResolveCase kResolveCases[] = {
    {"/x", "http://a.example/x"},
    {"x", "http://a.example/b/c/x"},
    {"../x", "http://a.example/b/x"},
    {"./", "http://a.example/b/c/"},
    {"../../../../x", "http://a.example/x"},
    {"?y=2", "http://a.example/b/c/d?y=2"},
    {"#frag", "http://a.example/b/c/d?q=1"},
    {"/p/./q/../r?s#t", "http://a.example/p/r?s"},
    {"//other.example:8080/p", "http://other.example:8080/p"},
    {"https://s3.example/blob?X-Sig=abc%2F", "https://s3.example/blob?X-Sig=abc%2F"},
    {"  /trimmed  ", "http://a.example/trimmed"},
    {"", nullptr},
    {"ftp://x/", nullptr},
    {"/a b", nullptr},
};

TEST(UrlTest, ResolveTable) {
  ASSERT_OK_AND_ASSIGN(Url base, Url::parse("http://a.example/b/c/d?q=1"));
  for (const ResolveCase& c : kResolveCases) {
    SCOPED_TRACE(c.location);
    auto url = base.resolve(c.location);
    if (c.expected == nullptr) {
      ASSERT_FALSE(url.has_value());
      EXPECT_EQ(url.error().code(), Errc::kInvalid);
      continue;
    }
    ASSERT_TRUE(url.has_value()) << url.error().message();
    EXPECT_EQ(url->str(), c.expected);
  }
}

TEST(UrlTest, EncodesAndDecodesQueryComponents) {
  EXPECT_EQ(url_encode("a b/c?d&e=f~_.-Z9"), "a%20b%2Fc%3Fd%26e%3Df~_.-Z9");
  EXPECT_EQ(url_encode("repository:library/busybox:pull"), "repository%3Alibrary%2Fbusybox%3Apull");
  EXPECT_EQ(url_encode("\xff"), "%FF");
  EXPECT_EQ(url_decode("a%20b%2fc"), "a b/c");
  EXPECT_EQ(url_decode(url_encode("any \x01 bytes\xfe")), "any \x01 bytes\xfe");
  EXPECT_EQ(url_decode("%zz"), std::nullopt);
  EXPECT_EQ(url_decode("%4"), std::nullopt);
}

TEST(UrlTest, RecognisesIpLiterals) {
  EXPECT_TRUE(is_ip_literal("127.0.0.1"));
  EXPECT_TRUE(is_ip_literal("::1"));
  EXPECT_TRUE(is_ip_literal("fe80::1:2"));
  EXPECT_FALSE(is_ip_literal("localhost"));
  EXPECT_FALSE(is_ip_literal("[::1]"));
  EXPECT_FALSE(is_ip_literal("1.2.3"));
}

}  // namespace
}  // namespace core::http
