// The text kubectl logs shows for CRI log files: complete and partial lines, --timestamps,
// --tail, --limit-bytes and --since.
#include "k3s/agent/kubelet/kubelet_server.h"

#include <gtest/gtest.h>

#include "core/base/time.h"

namespace k3s::agent::kubelet {
namespace {

constexpr char kLog[] =
    "2026-11-27T08:00:00.100000000Z stdout F first\n"
    "2026-11-27T08:00:01.000000000Z stderr P par\n"
    "2026-11-27T08:00:01.500000000Z stderr F tial\n"
    "2026-11-27T08:00:02.000000000Z stdout F third\n"
    "garbage line\n";

int64_t at(const char* t) { return *core::parse_rfc3339(t); }

TEST(FormatLogTest, JoinsPartialLines) {
  EXPECT_EQ(format_log(kLog, {}, 0), "first\npartial\nthird\n");
}

TEST(FormatLogTest, TimestampsOfEachLinesFirstPiece) {
  EXPECT_EQ(format_log(kLog, {.timestamps = true}, 0),
            "2026-11-27T08:00:00.100000000Z first\n"
            "2026-11-27T08:00:01.000000000Z partial\n"
            "2026-11-27T08:00:02.000000000Z third\n");
}

TEST(FormatLogTest, TailLimitAndSince) {
  EXPECT_EQ(format_log(kLog, {.tail_lines = 2}, 0), "partial\nthird\n");
  EXPECT_EQ(format_log(kLog, {.tail_lines = 0}, 0), "");
  EXPECT_EQ(format_log(kLog, {.tail_lines = 10}, 0), "first\npartial\nthird\n");
  EXPECT_EQ(format_log(kLog, {.limit_bytes = 8}, 0), "first\npa");
  EXPECT_EQ(format_log(kLog, {.since_seconds = 1}, at("2026-11-27T08:00:02Z")), "partial\nthird\n");
}

TEST(FormatLogTest, UnfinishedPartialLineIsShownAsItIs) {
  EXPECT_EQ(format_log("2026-11-27T08:00:00Z stdout P no newline yet\n", {}, 0), "no newline yet");
}

}  // namespace
}  // namespace k3s::agent::kubelet
