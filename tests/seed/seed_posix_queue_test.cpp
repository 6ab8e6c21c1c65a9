// Conformance: the seed's overview claims about POSIX message queues (Q1) and POSIX semaphores
// (Q2), and resource sharing with mutual exclusion between processes (I3), on the real
// kernel, through ipckit::MessageQueue, NamedSemaphore and ProcessSemaphore.
//
// Every named object is "/" + unique_name() and removed by a guard in the parent, passed or
// failed. Children open objects by name, as unrelated processes would, and never hold guards.

#include <gtest/gtest.h>
#include <sched.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/mqueue.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/semaphore.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::RemoveAtEnd;

std::string posix_name() {
  return "/" + test::unique_name();
}

TEST(SeedQueue, Q1_PosixMessageQueueCarriesWholeMessagesBetweenProcessesHighestPriorityFirst) {
  const std::string name = posix_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto queue = MessageQueue::create({.name = name, .max_messages = 8, .message_size = 64});
  // Messages of different lengths and priorities; each must come back whole, on its own.
  const std::vector<std::pair<std::string, unsigned>> sent{
      {"routine report", 1}, {"ALARM", 20}, {"routine report, part two", 1}, {"", 1},
      {"second alarm!", 20}, {"notice", 5}};
  auto ready = Pipe::create();
  test::Forked producer([&] {
    auto mine = MessageQueue::open(name);  // meets the queue by name only
    for (const auto& [text, priority] : sent)
      if (mine.send(std::as_bytes(std::span{text}), priority) != IoStatus::ok) return 1;
    test::notify(ready.write_end);
    return 0;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  EXPECT_TRUE(producer.wait().success());
  EXPECT_EQ(queue.attributes().current_messages, 6);

  // Highest priority first; oldest first within a priority.
  const std::vector<std::pair<std::string, unsigned>> expected{
      {"ALARM", 20},         {"second alarm!", 20},           {"notice", 5},
      {"routine report", 1}, {"routine report, part two", 1}, {"", 1}};
  std::vector<std::pair<std::string, unsigned>> received;
  std::vector<std::byte> buffer(64);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    MqReceived r = queue.receive(buffer, Deadline::now());
    ASSERT_TRUE(r.ok()) << to_string(r.status);
    received.emplace_back(std::string(reinterpret_cast<const char*>(buffer.data()), r.bytes),
                          r.priority);
  }
  EXPECT_EQ(received, expected);
  // Reading consumed them.
  EXPECT_EQ(queue.receive(buffer, Deadline::now()).status, IoStatus::would_block);
}

TEST(SeedQueue, Q1_PosixMessageQueueOutlivesItsCreatorUntilRemoved) {
  const std::string name = posix_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  test::Forked creator([&] {
    auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 32});
    return q.send(std::as_bytes(std::span{std::string_view("left behind")}), 3) == IoStatus::ok ? 0
                                                                                                : 1;
  });
  ASSERT_TRUE(creator.wait().success());
  auto queue =
      MessageQueue::open(name);  // the creator has exited; the queue and its message remain
  std::vector<std::byte> buffer(32);
  MqReceived r = queue.receive(buffer, Deadline::now());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer.data()), r.bytes), "left behind");
  EXPECT_TRUE(MessageQueue::remove(name));
  EXPECT_EQ(test::error_from([&] { (void)MessageQueue::open(name); }).errnum(), ENOENT);
}

TEST(SeedQueue, Q2_PosixNamedSemaphoreOrdersTwoProcessesThatMeetByName) {
  const std::string ping_name = posix_name();
  const std::string pong_name = posix_name();
  RemoveAtEnd ping_guard(ping_name, &NamedSemaphore::remove);
  RemoveAtEnd pong_guard(pong_name, &NamedSemaphore::remove);
  auto ping = NamedSemaphore::create({.name = ping_name});
  auto pong = NamedSemaphore::create({.name = pong_name});
  auto shared = Mapping::anonymous_shared(sizeof(int));
  int& turn = shared.as<int>();
  turn = 0;
  constexpr int kRounds = 50;
  test::Forked partner([&] {
    auto my_ping = NamedSemaphore::open(ping_name);
    auto my_pong = NamedSemaphore::open(pong_name);
    for (int i = 0; i < kRounds; ++i) {
      if (!my_ping.wait(Deadline::after(30s))) return 1;
      if (turn != 2 * i + 1) return 2;  // the parent's step came first
      turn += 1;
      my_pong.post();
    }
    return 0;
  });
  for (int i = 0; i < kRounds; ++i) {
    turn += 1;
    ping.post();
    ASSERT_TRUE(pong.wait(Deadline::after(30s)));
    ASSERT_EQ(turn, 2 * i + 2);
  }
  EXPECT_TRUE(partner.wait().success());
  EXPECT_EQ(ping.value(), 0);
  EXPECT_EQ(pong.value(), 0);
}

TEST(SeedQueue, Q2_PosixSemaphoreInSharedMemoryCountsAcrossProcesses) {
  struct Shared {
    ProcessSemaphore items;
  };
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  auto& s = m.as<Shared>();
  ProcessSemaphore::init(s.items, 0);
  constexpr int kItems = 5;
  // The child posts five units; the parent takes exactly five, and a sixth is not there.
  test::Forked producer([&] {
    for (int i = 0; i < kItems; ++i) s.items.post();
    return 0;
  });
  for (int i = 0; i < kItems; ++i) ASSERT_TRUE(s.items.wait(Deadline::after(30s)));
  EXPECT_TRUE(producer.wait().success());
  EXPECT_FALSE(s.items.try_wait());
  EXPECT_FALSE(s.items.wait(Deadline::after(20ms)));
  EXPECT_EQ(s.items.value(), 0);
  ProcessSemaphore::destroy(s.items);
}

// Two processes each add 1 to a shared counter N times: a read, a yield that invites the
// other process in, a write. Under a semaphore of one unit (a lock) no update is lost and no
// two processes are ever inside at once.
struct Counter {
  ProcessSemaphore lock;
  std::uint64_t value;
  std::uint32_t inside;    // processes inside the critical section now
  std::uint32_t overlaps;  // times a process found another inside
};

int add_under_lock(Counter& c, int times, const std::function<bool()>& take,
                   const std::function<void()>& give) {
  for (int i = 0; i < times; ++i) {
    if (!take()) return 1;
    if (c.inside++ != 0) ++c.overlaps;
    const std::uint64_t seen = c.value;
    if (i % 16 == 0) ::sched_yield();
    c.value = seen + 1;
    --c.inside;
    give();
  }
  return 0;
}

TEST(SeedQueue, I3_PosixSemaphoreInSharedMemoryGivesMutualExclusionBetweenProcesses) {
  auto m = Mapping::anonymous_shared(sizeof(Counter));
  auto& c = m.as<Counter>();
  ProcessSemaphore::init(c.lock, 1);
  c.value = 0;
  c.inside = 0;
  c.overlaps = 0;
  constexpr int kTimes = 20000;
  auto body = [&] {
    return add_under_lock(
        c, kTimes, [&] { return c.lock.wait(Deadline::after(30s)); }, [&] { c.lock.post(); });
  };
  test::Forked first(body);
  test::Forked second(body);
  EXPECT_TRUE(first.wait().success());
  EXPECT_TRUE(second.wait().success());
  EXPECT_EQ(c.value, 2u * kTimes);
  EXPECT_EQ(c.overlaps, 0u);
  EXPECT_EQ(c.lock.value(), 1);
  ProcessSemaphore::destroy(c.lock);
}

TEST(SeedQueue, I3_PosixNamedSemaphoreGivesMutualExclusionBetweenProcesses) {
  const std::string name = posix_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto lock = NamedSemaphore::create({.name = name, .initial = 1});
  auto m = Mapping::anonymous_shared(sizeof(Counter));
  auto& c = m.as<Counter>();  // its ProcessSemaphore stays unused here
  c.value = 0;
  c.inside = 0;
  c.overlaps = 0;
  constexpr int kTimes = 20000;
  auto body = [&] {
    auto mine = NamedSemaphore::open(name);
    return add_under_lock(
        c, kTimes, [&] { return mine.wait(Deadline::after(30s)); }, [&] { mine.post(); });
  };
  test::Forked first(body);
  test::Forked second(body);
  EXPECT_TRUE(first.wait().success());
  EXPECT_TRUE(second.wait().success());
  EXPECT_EQ(c.value, 2u * kTimes);
  EXPECT_EQ(c.overlaps, 0u);
  EXPECT_EQ(lock.value(), 1);
}

}  // namespace
}  // namespace ipckit
