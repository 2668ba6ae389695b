#include "core/proc/process.h"

#include <signal.h>

#include <optional>
#include <thread>

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

// A daemon started with die_with_parent does not outlive the thread that started it (k3s's
// containerd when k3s is killed); one started without it does.
TEST(Process, DieWithParentKillsTheChildWhenItsThreadEnds) {
  std::optional<Process> bound, free;
  std::thread starter([&] {
    bound = *Process::start({.argv = {"sleep", "60"}, .die_with_parent = true});
    free = *Process::start({.argv = {"sleep", "60"}});
  });
  starter.join();
  ASSERT_TRUE(bound && free);
  ASSERT_OK_AND_ASSIGN(int code, bound->wait());
  EXPECT_EQ(code, 128 + SIGKILL);
  EXPECT_FALSE(free->poll());
  free->stop(std::chrono::milliseconds(500));
}

}  // namespace core
