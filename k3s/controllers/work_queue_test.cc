#include "k3s/controllers/work_queue.h"

#include <gtest/gtest.h>

#include <thread>

namespace k3s::controllers {
namespace {

using namespace std::chrono_literals;

TEST(WorkQueue, AKeyQueuedTwiceIsTakenOnce) {
  WorkQueue q;
  q.add("a");
  q.add("b");
  q.add("a");
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.take(), "a");
  EXPECT_EQ(q.take(), "b");
  EXPECT_EQ(q.size(), 0u);
}

TEST(WorkQueue, AKeyQueuedWhileProcessedComesBackAfterDone) {
  WorkQueue q;
  q.add("a");
  ASSERT_EQ(q.take(), "a");
  q.add("a");  // changed again while being handled
  q.add("b");
  EXPECT_EQ(q.take(), "b");  // "a" is not handed out twice at once
  q.done("b");
  q.done("a");
  EXPECT_EQ(q.take(), "a");
}

TEST(WorkQueue, DelayedKeysComeInDueOrder) {
  WorkQueue q;
  q.add_after("late", 60ms);
  q.add_after("early", 20ms);
  auto start = WorkQueue::Clock::now();
  EXPECT_EQ(q.take(), "early");
  EXPECT_EQ(q.take(), "late");
  EXPECT_GE(WorkQueue::Clock::now() - start, 60ms);
}

TEST(WorkQueue, RetriesBackOffUntilForgotten) {
  WorkQueue q;
  auto waited = [&] {
    q.retry("k");
    auto start = WorkQueue::Clock::now();
    EXPECT_EQ(q.take(), "k");
    q.done("k");
    return WorkQueue::Clock::now() - start;
  };
  for (int i = 0; i < 4; ++i) waited();
  EXPECT_GE(waited(), 160ms);  // the fifth failure waits 10 ms * 2^4
  q.forget("k");
  EXPECT_LT(waited(), 160ms);
}

TEST(WorkQueue, ShutdownWakesTakers) {
  WorkQueue q;
  std::thread t([&] { EXPECT_EQ(q.take(), std::nullopt); });
  std::this_thread::sleep_for(10ms);
  q.shutdown();
  t.join();
}

}  // namespace
}  // namespace k3s::controllers
