#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "core/http/client.h"
#include "core/http/server.h"
#include "core/http/test_peers.h"
#include "tests/support/test_support.h"

namespace core::http {
namespace {

using testing::HashingSink;
using testing::RawServer;
using testing::StringSink;

class DownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content_ = testing::pattern_bytes(200000);
    ASSERT_OK(write_file_atomic(dir_.sub("blob"), content_));
    ASSERT_OK_AND_ASSIGN(server_,
                         Server::start({}, [this](const ServerRequest& r, ResponseWriter& w) {
                           if (r.path == "/blob") return w.send_file(dir_.sub("blob"), "");
                           w.set_status(404);
                           w.send("not here");
                         }));
  }

  std::string url() const { return server_->url() + "/blob"; }

  TempDir dir_ = testing_support::make_temp_dir();
  std::string content_;
  std::unique_ptr<Server> server_;
};

TEST_F(DownloadTest, StreamsAndVerifiesSha256) {
  Client client;
  StringSink sink;
  uint64_t reported = 0;
  DownloadOptions options;
  options.expected_sha256 = Sha256::hex_of(content_);
  options.expected_size = content_.size();
  options.on_bytes = [&](uint64_t n) { reported += n; };
  ASSERT_OK_AND_ASSIGN(Response response, client.download({.url = url()}, sink, options));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "");
  EXPECT_TRUE(sink.str() == content_);
  EXPECT_EQ(reported, content_.size());
}

TEST_F(DownloadTest, Sha256MismatchIsIntegrity) {
  Client client;
  StringSink sink;
  DownloadOptions options;
  const std::string wrong(64, 'a');
  options.expected_sha256 = wrong;
  auto result = client.download({.url = url()}, sink, options);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kIntegrity);
  EXPECT_NE(result.error().message().find(wrong), std::string::npos);
  EXPECT_NE(result.error().message().find(Sha256::hex_of(content_)), std::string::npos);
}

TEST_F(DownloadTest, SizeMismatchIsIntegrity) {
  Client client;
  StringSink sink;
  DownloadOptions options;
  options.expected_size = content_.size() + 1;
  auto result = client.download({.url = url()}, sink, options);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kIntegrity);
  EXPECT_NE(result.error().message().find(std::to_string(content_.size() + 1)), std::string::npos);
}

TEST_F(DownloadTest, ErrorStatusWritesNothing) {
  Client client;
  StringSink sink;
  ASSERT_OK_AND_ASSIGN(Response response, client.download({.url = server_->url() + "/nope"}, sink));
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(response.body, "not here");
  EXPECT_EQ(sink.str(), "");
}

TEST_F(DownloadTest, ResumesFromAnOffsetWithAPrefixHash) {
  Client client;
  StringSink sink;
  Sha256 prefix;
  prefix.update(std::string_view(content_).substr(0, 1000));
  DownloadOptions options;
  options.resume_from = 1000;
  options.prefix_hash = &prefix;
  options.expected_sha256 = Sha256::hex_of(content_);
  ASSERT_OK_AND_ASSIGN(Response response, client.download({.url = url()}, sink, options));
  EXPECT_EQ(response.status, 206);
  EXPECT_TRUE(sink.str() == content_.substr(1000));

  options.prefix_hash = nullptr;
  auto refused = client.download({.url = url()}, sink, options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), Errc::kInvalid);
}

// Serves content from a raw socket, sending at most `cut` body bytes per connection (then
// closing), honouring "Range: bytes=N-", with the given ETag and Accept-Ranges.
RawServer::Handler cutting_handler(const std::string& content, size_t cut, bool ranges,
                                   std::function<std::string(int)> etag_for_attempt) {
  auto attempt = std::make_shared<int>(0);
  return [&content, cut, ranges, etag_for_attempt, attempt](int fd, const std::string& head) {
    std::string range = testing::head_field(head, "Range");
    uint64_t from = 0;
    if (range.starts_with("bytes="))
      from = parse_u64(range.substr(6, range.size() - 7)).value_or(0);
    std::string status = from > 0 ? "206 Partial Content" : "200 OK";
    std::string extra = from > 0 ? fmt::format("Content-Range: bytes {}-{}/{}\r\n", from,
                                               content.size() - 1, content.size())
                                 : "";
    if (ranges) extra += "Accept-Ranges: bytes\r\n";
    testing::write_all(
        fd, fmt::format("HTTP/1.1 {}\r\nContent-Length: {}\r\nETag: {}\r\n{}\r\n", status,
                        content.size() - from, etag_for_attempt(++*attempt), extra));
    testing::write_all(fd, std::string_view(content).substr(from, cut));
  };
}

TEST(DownloadResumeTest, ReconnectsWithRangeAfterADrop) {
  const std::string content = testing::pattern_bytes(250000);
  RawServer raw(cutting_handler(content, 100000, true, [](int) { return "\"v1\""; }));
  Client client;
  StringSink sink;
  DownloadOptions options;
  options.expected_sha256 = Sha256::hex_of(content);
  ASSERT_OK_AND_ASSIGN(Response response, client.download({.url = raw.url()}, sink, options));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(sink.str() == content) << sink.str().size();
  ASSERT_EQ(raw.connections(), 3);
  std::vector<std::string> heads = raw.heads();
  EXPECT_EQ(testing::head_field(heads[0], "Range"), "");
  EXPECT_EQ(testing::head_field(heads[1], "Range"), "bytes=100000-");
  EXPECT_EQ(testing::head_field(heads[1], "If-Range"), "\"v1\"");
  EXPECT_EQ(testing::head_field(heads[2], "Range"), "bytes=200000-");
}

TEST(DownloadResumeTest, RefusesWhenTheEtagChanged) {
  const std::string content = testing::pattern_bytes(150000);
  RawServer raw(cutting_handler(content, 100000, true,
                                [](int attempt) { return attempt == 1 ? "\"v1\"" : "\"v2\""; }));
  Client client;
  StringSink sink;
  auto result = client.download({.url = raw.url()}, sink);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kConflict) << result.error().message();
  EXPECT_EQ(sink.str().size(), 100000u);
}

TEST(DownloadResumeTest, FailsWithoutRangeSupport) {
  const std::string content = testing::pattern_bytes(150000);
  RawServer raw(cutting_handler(content, 100000, false, [](int) { return "\"v1\""; }));
  Client client;
  StringSink sink;
  auto result = client.download({.url = raw.url()}, sink);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kUnavailable);
  EXPECT_NE(result.error().message().find("does not support resuming"), std::string::npos)
      << result.error().message();
  EXPECT_EQ(raw.connections(), 1);
}

TEST(DownloadResumeTest, SkipsThePrefixWhenTheServerIgnoresRange) {
  const std::string content = testing::pattern_bytes(5000);
  RawServer raw([&](int fd, const std::string&) {
    testing::write_all(fd, fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                                       content.size(), content));
  });
  Client client;
  StringSink sink;
  DownloadOptions options;
  options.resume_from = 1234;
  ASSERT_OK_AND_ASSIGN(Response response, client.download({.url = raw.url()}, sink, options));
  EXPECT_EQ(response.status, 200);
  EXPECT_TRUE(sink.str() == content.substr(1234));
}

uint64_t peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmHWM:"))
      return parse_u64(trim(line.substr(6, line.size() - 9))).value_or(0);
  }
  return 0;
}

TEST(DownloadLargeTest, FiftyMegabytesStreamWithoutBuffering) {
  TempDir dir = testing_support::make_temp_dir();
  const std::string path = dir.sub("large");
  Sha256 expected;
  {
    std::ofstream out(path, std::ios::binary);
    for (uint32_t i = 0; i < 50; ++i) {
      std::string chunk = testing::pattern_bytes(1 << 20, i + 7);
      expected.update(chunk);
      out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
  }
  ASSERT_OK_AND_ASSIGN(auto server, Server::start({}, [&](const ServerRequest&, ResponseWriter& w) {
                         w.send_file(path, "application/octet-stream");
                       }));
  // Resets the peak-RSS counter (Linux >= 4.0) so the figure below covers the download only.
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  uint64_t before = peak_rss_kib();
  Client client;
  HashingSink sink;
  DownloadOptions options;
  options.expected_sha256 = expected.finish_hex();
  ASSERT_OK_AND_ASSIGN(Response response,
                       client.download({.url = server->url() + "/large"}, sink, options));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(sink.size(), 50u << 20);
  uint64_t growth_kib = peak_rss_kib() - before;
  EXPECT_LT(growth_kib, 16u * 1024) << "peak RSS grew by " << growth_kib << " KiB";
}

}  // namespace
}  // namespace core::http
