#include "core/proc/process.h"

#include "tests/support/test_support.h"

namespace core {

TEST(Process, RunCapturesOutputAndExitCode) {
  ASSERT_OK_AND_ASSIGN(ProcessOutput out, run_command({"sh", "-c", "echo hi; exit 3"}));
  EXPECT_EQ(out.exit_code, 3);
  EXPECT_EQ(out.out, "hi\n");
  auto missing = run_command({"/nonexistent/binary"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
}

TEST(Process, StopKillsBackgroundChild) {
  ASSERT_OK_AND_ASSIGN(Process p, Process::start({.argv = {"sleep", "60"}}));
  EXPECT_FALSE(p.poll());
  p.stop(std::chrono::milliseconds(500));
  EXPECT_LT(p.pid(), 0);
}

}  // namespace core
