#include "core/base/strings.h"

#include <gtest/gtest.h>

namespace core {

TEST(Strings, SplitKeepsEmptyParts) {
  auto parts = split("a//b", '/');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1], "");
}

TEST(Strings, ParseU64RejectsJunk) {
  EXPECT_EQ(parse_u64("42"), 42u);
  EXPECT_FALSE(parse_u64("-1"));
  EXPECT_FALSE(parse_u64("4 2"));
  EXPECT_FALSE(parse_u64("99999999999999999999999"));
}

TEST(Strings, QuoteEscapesControlCharacters) {
  EXPECT_EQ(quote("a\x1b[31m\nb"), "a\\x1b[31m\\x0ab");
}

TEST(Strings, HumanBytes) {
  EXPECT_EQ(human_bytes(512), "512 B");
  EXPECT_EQ(human_bytes(3 << 20), "3.0 MiB");
}

}  // namespace core

#include "core/base/time.h"

namespace core {

TEST(Time, Rfc3339RoundTripAndOffsets) {
  auto t = parse_rfc3339("2027-12-31T00:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, 1830211200);
  EXPECT_EQ(format_rfc3339(*t), "2027-12-31T00:00:00Z");
  EXPECT_EQ(*parse_rfc3339("2027-12-31T02:00:00.123+02:00"), *t);
  EXPECT_FALSE(parse_rfc3339("2027-12-31"));
  EXPECT_FALSE(parse_rfc3339("2027-13-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("2027-12-31T00:00:00"));
}

TEST(Time, GoDurations) {
  EXPECT_EQ(*parse_duration("24h0m0s"), 86400);
  EXPECT_EQ(*parse_duration("90m"), 5400);
  EXPECT_EQ(*parse_duration("1.5h"), 5400);
  EXPECT_EQ(*parse_duration("1500ms"), 1);
  EXPECT_EQ(*parse_duration("0"), 0);
  for (const char* bad : {"", "soon", "5", "5x", "-1h", "h", "1h-"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(short_human_duration(-5), "0s");
  EXPECT_EQ(short_human_duration(59), "59s");
  EXPECT_EQ(short_human_duration(3599), "59m");
  EXPECT_EQ(short_human_duration(7199), "1h");
  EXPECT_EQ(short_human_duration(86399), "23h");
  EXPECT_EQ(short_human_duration(86400 * 400), "1y");
}

TEST(Strings, FormatColumnsPadsAllButTheLastColumn) {
  EXPECT_EQ(format_columns({{"NAME", "TTL", "X"}, {"a-long-token-name", "2h", "last"}}),
            "NAME                TTL       X\n"
            "a-long-token-name   2h        last\n");
}

}  // namespace core
