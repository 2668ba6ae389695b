#include "k3s/controllers/cron_schedule.h"

#include <gtest/gtest.h>

#include "core/base/time.h"

namespace k3s::controllers {
namespace {

int64_t at(const char* text) { return *core::parse_rfc3339(text); }
std::string next(const char* spec, const char* after, const std::string& tz = "") {
  auto s = CronSchedule::parse(spec);
  EXPECT_TRUE(s) << spec;
  auto t = s->next(at(after), tz);
  return t ? core::format_rfc3339(*t) : "never";
}

TEST(CronSchedule, Fields) {
  EXPECT_EQ(next("* * * * *", "2026-03-01T10:00:30Z"), "2026-03-01T10:01:00Z");
  EXPECT_EQ(next("*/15 * * * *", "2026-03-01T10:00:00Z"), "2026-03-01T10:15:00Z");
  EXPECT_EQ(next("5,35 9-17 * * *", "2026-03-01T17:40:00Z"), "2026-03-02T09:05:00Z");
  EXPECT_EQ(next("0 0 1 jan *", "2026-03-01T00:00:00Z"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(next("0 12 * * mon-fri", "2026-11-27T13:00:00Z"), "2026-11-30T12:00:00Z");  // Fri → Mon
  EXPECT_EQ(next("0 0 * * 7", "2026-11-27T00:00:00Z"), "2026-11-29T00:00:00Z");  // 7 is Sunday
  EXPECT_EQ(next("0 0 31 2 *", "2026-01-01T00:00:00Z"), "never");
}

TEST(CronSchedule, DayOfMonthOrDayOfWeekWhenBothAreSet) {
  // The 13th, or any Friday: from Saturday the 14th the next is Friday the 20th.
  EXPECT_EQ(next("0 0 13 * 5", "2026-11-14T00:00:00Z"), "2026-11-20T00:00:00Z");
}

TEST(CronSchedule, Macros) {
  EXPECT_EQ(next("@hourly", "2026-03-01T10:00:00Z"), "2026-03-01T11:00:00Z");
  EXPECT_EQ(next("@daily", "2026-03-01T10:00:00Z"), "2026-03-02T00:00:00Z");
  EXPECT_EQ(next("@weekly", "2026-11-27T10:00:00Z"), "2026-11-29T00:00:00Z");
  EXPECT_EQ(next("@yearly", "2026-03-01T10:00:00Z"), "2027-01-01T00:00:00Z");
}

TEST(CronSchedule, TimeZones) {
  if (!CronSchedule::known_zone("Europe/Berlin")) GTEST_SKIP() << "no zoneinfo here";
  // 09:00 in Berlin is 08:00 UTC in winter.
  EXPECT_EQ(next("0 9 * * *", "2026-11-27T10:00:00Z", "Europe/Berlin"), "2026-11-28T08:00:00Z");
  EXPECT_FALSE(CronSchedule::known_zone("Nowhere/Atlantis"));
  EXPECT_FALSE(CronSchedule::known_zone("../etc/passwd"));
}

TEST(CronSchedule, LatestMissedTime) {
  auto s = CronSchedule::parse("*/5 * * * *");
  ASSERT_TRUE(s);
  auto t = s->latest(at("2020-01-01T00:00:00Z"), at("2026-11-27T10:07:10Z"), "");
  ASSERT_TRUE(t);
  EXPECT_EQ(core::format_rfc3339(*t), "2026-11-27T10:05:00Z");
  EXPECT_FALSE(s->latest(at("2026-11-27T10:05:00Z"), at("2026-11-27T10:09:59Z"), ""));
}

TEST(CronSchedule, RejectsMalformedSpecs) {
  for (const char* bad : {"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
                          "* * * * 8", "*/0 * * * *", "a b c d e", "5-1 * * * *"}) {
    EXPECT_FALSE(CronSchedule::parse(bad)) << bad;
  }
}

}  // namespace
}  // namespace k3s::controllers
