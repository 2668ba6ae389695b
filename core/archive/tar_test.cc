#include "core/archive/tar.h"

#include "tests/support/test_support.h"

namespace core {
namespace {

std::string make_tar(const std::vector<std::pair<std::string, std::string>>& files) {
  StringSink sink;
  auto w = TarWriter::create(sink);
  EXPECT_TRUE(w);
  for (const auto& [path, data] : files) {
    EXPECT_TRUE((*w)->add_file({.path = path, .mode = 0644, .mtime = 1700000000}, data));
  }
  EXPECT_TRUE((*w)->finish());
  return sink.str();
}

struct ReadResult {
  std::vector<TarEntry> entries;
  std::vector<std::string> data;
  std::optional<Error> error;
};

ReadResult read_all(std::string bytes) {
  ReadResult r;
  StringSource src(std::move(bytes));
  auto reader = TarReader::open(src);
  if (!reader) {
    r.error = reader.error();
    return r;
  }
  while (true) {
    auto e = (*reader)->next();
    if (!e) {
      r.error = e.error();
      return r;
    }
    if (!*e) break;
    std::string data;
    while (true) {
      auto block = (*reader)->read_block();
      if (!block) {
        r.error = block.error();
        return r;
      }
      if (block->empty()) break;
      data.append(*block);
    }
    r.entries.push_back(**e);
    r.data.push_back(data);
  }
  if (auto f = (*reader)->finish(); !f) r.error = f.error();
  return r;
}

}  // namespace

TEST(Tar, RoundTripAndDeterminism) {
  std::string big(3 << 20, 'b');
  std::string a = make_tar({{"bundle.json", "{}"}, {"bin/k3s", big}});
  std::string b = make_tar({{"bundle.json", "{}"}, {"bin/k3s", big}});
  EXPECT_EQ(a, b);
  ReadResult r = read_all(a);
  ASSERT_FALSE(r.error) << r.error->message();
  ASSERT_EQ(r.entries.size(), 2u);
  EXPECT_EQ(r.entries[1].path, "bin/k3s");
  EXPECT_EQ(r.entries[1].size, big.size());
  EXPECT_EQ(r.entries[1].mtime, 1700000000);
  EXPECT_EQ(r.data[1], big);
}

TEST(Tar, LongAndUnicodePathsRoundTrip) {
  std::string longpath = std::string(150, 'a') + "/" + std::string(120, 'b') + "/\xc3\xa9t\xc3\xa9";
  ReadResult r = read_all(make_tar({{longpath, "x"}}));
  ASSERT_FALSE(r.error) << r.error->message();
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].path, longpath);
}

// security-anchors.md 3.3 case 39: an entry hidden after the end-of-archive marker.
TEST(Tar, DataAfterEndMarkerIsRefused) {
  std::string tar = make_tar({{"a", "1"}});
  std::string hidden = make_tar({{"evil", "2"}});
  ReadResult r = read_all(tar + hidden);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->message().find("after the end-of-archive"), std::string::npos);
  // Zero padding alone is fine.
  ReadResult ok = read_all(tar + std::string(20480, '\0'));
  EXPECT_FALSE(ok.error);
}

TEST(Tar, TruncatedAndCorruptArchivesFail) {
  std::string tar = make_tar({{"a", std::string(100000, 'x')}});
  ReadResult cut = read_all(tar.substr(0, 50000));
  ASSERT_TRUE(cut.error);
  std::string bad = tar;
  bad[148] ^= 1;  // header checksum
  ReadResult corrupt = read_all(bad);
  ASSERT_TRUE(corrupt.error);
}

TEST(Tar, EntryPathRule) {
  EXPECT_OK(validate_entry_path("bin/k3s"));
  for (const std::string& bad :
       std::vector<std::string>{"", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/.", "a\nb",
                                std::string(1025, 'a')}) {
    EXPECT_FALSE(validate_entry_path(bad)) << bad;
  }
  std::string deep;
  for (int i = 0; i < 33; ++i) deep += "d/";
  deep += "f";
  EXPECT_FALSE(validate_entry_path(deep));
}

}  // namespace core
