#include <gtest/gtest.h>

#include <chrono>

#include "ipckit/deadline.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;

TEST(Deadline, NeverDoesNotExpireAndPollsForever) {
  auto d = Deadline::never();
  EXPECT_TRUE(d.is_never());
  EXPECT_FALSE(d.expired());
  EXPECT_EQ(d.poll_timeout_ms(), -1);
  EXPECT_EQ(d.remaining(), std::chrono::nanoseconds::max());
}

TEST(Deadline, NowHasAlreadyExpired) {
  auto d = Deadline::now();
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(d.poll_timeout_ms(), 0);
  EXPECT_EQ(d.remaining(), 0ns);
}

TEST(Deadline, AfterZeroOrNegativeActsLikeNow) {
  EXPECT_TRUE(Deadline::after(0ns).expired());
  EXPECT_TRUE(Deadline::after(-5s).expired());
}

TEST(Deadline, PollTimeoutRoundsUpSoPollNeverWakesEarly) {
  auto d = Deadline::after(1h);
  EXPECT_FALSE(d.expired());
  EXPECT_GT(d.remaining(), 59min);
  EXPECT_GE(d.poll_timeout_ms(), 3'599'000);
  EXPECT_LE(d.poll_timeout_ms(), 3'600'000);
}

TEST(Deadline, HugeTimeoutsSaturateToNever) {
  EXPECT_TRUE(Deadline::after(std::chrono::nanoseconds::max()).is_never());
}

}  // namespace
}  // namespace ipckit
