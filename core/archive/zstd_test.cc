#include "core/archive/zstd.h"

#include <random>

#include "tests/support/test_support.h"

namespace core {
namespace {

std::string sample(size_t n) {
  std::mt19937 rng(7);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + rng() % 4);
  return s;
}

std::string compress(const std::string& data, ZstdParams params) {
  StringSink sink;
  auto z = ZstdSink::create(sink, params);
  EXPECT_TRUE(z);
  EXPECT_TRUE((*z)->write(data));
  EXPECT_TRUE((*z)->finish());
  return sink.str();
}

Result<std::string> decompress(std::string bytes) {
  StringSource src(std::move(bytes));
  auto z = K3A_TRY(ZstdSource::create(src));
  StringSink sink;
  K3A_CHECK(copy_stream(*z, sink));
  return sink.str();
}

}  // namespace

TEST(Zstd, RoundTrip) {
  std::string data = sample(5 << 20);
  ASSERT_OK_AND_ASSIGN(std::string back, decompress(compress(data, {})));
  EXPECT_EQ(back, data);
}

// Bundles must not depend on the machine's core count.
TEST(Zstd, MultiThreadedOutputIndependentOfWorkerCount) {
  std::string data = sample(40 << 20);
  std::string one = compress(data, {.workers = 1});
  std::string two = compress(data, {.workers = 2});
  std::string four = compress(data, {.workers = 4});
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, four);
}

TEST(Zstd, TrailingDataAndTruncationAreRefused) {
  std::string data = sample(100000);
  std::string z = compress(data, {});
  auto trailing = decompress(z + "garbage");
  ASSERT_FALSE(trailing);
  EXPECT_NE(trailing.error().message().find("after the end of the last frame"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::string twice, decompress(z + z));
  EXPECT_EQ(twice, data + data);
  std::string skippable(
      "\x50\x2a\x4d\x18\x04\x00\x00\x00"
      "abcd",
      12);
  EXPECT_FALSE(decompress(z + skippable));
  EXPECT_FALSE(decompress(""));
  auto cut = decompress(z.substr(0, z.size() / 2));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code(), Errc::kIntegrity);
  std::string flipped = z;
  flipped[flipped.size() / 2] ^= 0x40;
  EXPECT_FALSE(decompress(flipped));
}

TEST(Zstd, RefusesBadParameters) {
  StringSink sink;
  EXPECT_FALSE(ZstdSink::create(sink, {.level = 22}));
  EXPECT_FALSE(ZstdSink::create(sink, {.window_log = 31}));
}

}  // namespace core
