#include "images/gzip.h"

#include <random>

#include "core/fs/files.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing::StringSink;
using testing::StringSource;

std::string sample(size_t n) {
  std::mt19937 rng(11);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + rng() % 8);
  return s;
}

std::string compress(const std::string& data) {
  StringSink sink;
  auto gz = GzipSink::create(sink);
  EXPECT_TRUE(gz);
  for (size_t i = 0; i < data.size(); i += 100000) {
    EXPECT_TRUE((*gz)->write(std::string_view(data).substr(i, 100000)));
  }
  EXPECT_TRUE((*gz)->finish());
  return sink.str();
}

core::Result<std::string> decompress(std::string bytes, size_t chunk = 1 << 20) {
  StringSource src(std::move(bytes), chunk);
  auto gz = K3A_TRY(GzipSource::create(src));
  StringSink sink;
  K3A_CHECK(core::copy_stream(*gz, sink));
  return sink.str();
}

TEST(Gzip, RoundTripDeterministicFixedHeader) {
  std::string data = sample(3 << 20);
  std::string a = compress(data);
  EXPECT_EQ(a, compress(data));
  ASSERT_GE(a.size(), 10u);
  // magic, deflate, no flags (no name), mtime 0, OS 255.
  EXPECT_EQ(a.substr(0, 8), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(a[9]), 255);
  ASSERT_OK_AND_ASSIGN(std::string back, decompress(a, 999));
  EXPECT_EQ(back, data);
  ASSERT_OK_AND_ASSIGN(std::string empty, decompress(compress("")));
  EXPECT_EQ(empty, "");
}

TEST(Gzip, GnuGzipReadsOurOutput) {
  if (!testing_support::have_program("gzip")) GTEST_SKIP() << "gzip is not installed";
  auto dir = testing_support::make_temp_dir();
  std::string data = sample(1 << 20);
  ASSERT_OK(core::write_file_atomic(dir.sub("x.gz"), compress(data)));
  auto out = testing_support::run({"gzip", "-t", dir.sub("x.gz")});
  EXPECT_EQ(out.exit_code, 0) << out.out;
  out = testing_support::run({"gzip", "-d", dir.sub("x.gz")});
  ASSERT_EQ(out.exit_code, 0) << out.out;
  ASSERT_OK_AND_ASSIGN(std::string back, core::read_file(dir.sub("x")));
  EXPECT_EQ(back, data);
}

TEST(Gzip, ConcatenatedMembersAreOneStream) {
  ASSERT_OK_AND_ASSIGN(std::string back, decompress(compress("abc") + compress("def"), 7));
  EXPECT_EQ(back, "abcdef");
}

TEST(Gzip, CorruptAndTruncatedInputFails) {
  std::string z = compress(sample(200000));
  auto cut = decompress(z.substr(0, z.size() / 2));
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code(), core::Errc::kIntegrity);
  auto no_trailer = decompress(z.substr(0, z.size() - 4));
  ASSERT_FALSE(no_trailer);
  std::string bad = z;
  bad[bad.size() - 6] ^= 0x55;  // CRC
  auto crc = decompress(bad);
  ASSERT_FALSE(crc);
  EXPECT_EQ(crc.error().code(), core::Errc::kIntegrity);
  EXPECT_FALSE(decompress(z + "garbage"));
  EXPECT_FALSE(decompress(""));
  EXPECT_FALSE(decompress("not gzip at all"));
}

}  // namespace
}  // namespace images
