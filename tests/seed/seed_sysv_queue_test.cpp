// Conformance: the seed's claims about System V message queues (Q1) and semaphore sets (Q2),
// and resource sharing with mutual exclusion (I3), on the real kernel, through ipckit::sysv.
// The POSIX halves of Q1 and Q2 are in seed_posix_queue_test.cpp.
//
// Every queue, set and segment a test makes is removed when the test ends, passed or failed:
// each is held by a remover guard in the parent from the moment its id is known. Keys come
// from files of the test's own TempDir. Children never hold guards.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/pipe.hpp"
#include "ipckit/sysv.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using sysv::Key;
using sysv::MessageQueue;
using sysv::SemaphoreSet;

// glibc implements semop(2) with the semtimedop system call.
constexpr long kSemopSyscall = SYS_semtimedop;

// A file of `dir` to make keys from (ftok needs an existing path).
std::filesystem::path key_file(const test::TempDir& dir, int attempt) {
  auto path = dir / ("key" + std::to_string(attempt));
  std::ofstream(path) << "ipckit seed sysv queue key file\n";
  return path;
}

// A keyed queue, made exclusively; ftok keys are 32 bits and may collide with an unrelated
// queue: then the next file is tried, so that a test never touches a queue not its own.
struct KeyedQueue {
  Key key;
  MessageQueue queue;
};
KeyedQueue create_keyed_queue(const test::TempDir& dir) {
  for (int attempt = 0;; ++attempt) {
    Key key = Key::from_path(key_file(dir, attempt), 'q');
    try {
      return {key, MessageQueue::create({.key = key})};
    } catch (const Error& e) {
      if (e.errnum() != EEXIST || attempt == 20) throw;
    }
  }
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span{text.data(), text.size()});
}

std::string text_of(std::span<const std::byte> buffer, std::size_t n) {
  return {reinterpret_cast<const char*>(buffer.data()), n};
}

// Q1: System V message queues: msgget finds a queue by key, msgsnd puts typed messages in,
// msgrcv takes them out, by type, in another process.
TEST(SeedQueue, Q1_SysvMessageQueueCarriesTypedMessagesBetweenProcessesAndReceiveSelectsByType) {
  test::TempDir dir;
  auto [key, queue] = create_keyed_queue(dir);
  test::RemoveAtEnd guard(queue);

  // A producer that knows only the key (as an unrelated program would) sends work of two
  // kinds: type 1 "urgent", type 2 "normal", interleaved.
  test::Forked producer([key = key]() -> int {
    MessageQueue q = MessageQueue::open(key);
    for (const auto& [type, text] : std::vector<std::pair<long, std::string>>{
             {2, "normal 1"}, {1, "urgent 1"}, {2, "normal 2"}, {1, "urgent 2"}, {3, "stop"}}) {
      if (q.send(type, bytes_of(text)) != IoStatus::ok) return 1;
    }
    return 0;
  });
  ASSERT_TRUE(producer.wait().success());
  EXPECT_EQ(queue.stat().messages, 5u);
  EXPECT_EQ(queue.stat().last_send_pid, producer.pid());

  // The consumer takes every urgent message first (type 1), then whatever comes (type 0, in
  // the order sent), then the lowest type up to 3 (-3).
  std::array<std::byte, 64> buffer{};
  std::vector<std::string> order;
  for (long type : {1L, 1L, 0L, -3L, -3L}) {
    auto r = queue.receive(buffer, type, Deadline::now());
    ASSERT_TRUE(r.ok()) << "type " << type;
    order.push_back(std::to_string(r.type) + ":" + text_of(buffer, r.bytes));
  }
  EXPECT_EQ(order, (std::vector<std::string>{"1:urgent 1", "1:urgent 2", "2:normal 1", "2:normal 2",
                                             "3:stop"}));

  // And a receiver in another process waits for a type until it is sent.
  test::Forked consumer([q = queue]() -> int {
    std::array<std::byte, 64> b{};
    auto r = q.receive(b, 7);
    return r.ok() && r.type == 7 && text_of(b, r.bytes) == "late" ? 0 : 1;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(consumer.pid(), SYS_msgrcv));
  ASSERT_EQ(queue.send(7, bytes_of("late")), IoStatus::ok);
  EXPECT_TRUE(consumer.wait().success());
  EXPECT_EQ(queue.stat().messages, 0u);
}

// Q2: System V semaphores come in sets, and one semop applies several operations atomically:
// a process that needs two semaphores gets both at once or waits holding neither.
TEST(SeedQueue, Q2_SysvSemaphoreSetAppliesSeveralOperationsAtomically) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2});
  test::RemoveAtEnd guard(set);
  test::Forked both([set]() -> int {
    return set.apply({{.index = 0, .delta = -1}, {.index = 1, .delta = -1}}) == IoStatus::ok ? 0
                                                                                             : 1;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(both.pid(), kSemopSyscall));
  // One of the two is there: the waiter does not take it alone.
  ASSERT_EQ(set.apply({{.index = 0, .delta = +1}}), IoStatus::ok);
  ASSERT_TRUE(test::wait_until_blocked_in(both.pid(), kSemopSyscall));
  EXPECT_EQ(set.values(), (std::vector<unsigned short>{1, 0}));
  EXPECT_EQ(set.waiting_to_take(1), 1);
  // Meanwhile it stays free for anyone else.
  EXPECT_EQ(set.apply({{.index = 0, .delta = -1}}, Deadline::now()), IoStatus::ok);
  ASSERT_EQ(set.apply({{.index = 0, .delta = +1}}), IoStatus::ok);
  // Both there: the waiter takes both at once.
  ASSERT_EQ(set.apply({{.index = 1, .delta = +1}}), IoStatus::ok);
  EXPECT_TRUE(both.wait().success());
  EXPECT_EQ(set.values(), (std::vector<unsigned short>{0, 0}));
  EXPECT_EQ(set.last_pid(1), both.pid());
}

// I3, the acceptance test of SEM_UNDO: a process that holds a System V semaphore taken with
// SEM_UNDO is killed with SIGKILL (no handler, no cleanup of its own); the kernel gives the
// semaphore back, and the next process takes it.
TEST(SeedQueue, I3_SysvSemUndoGivesBackWhatASigkilledHolderHeld) {
  SemaphoreSet set = SemaphoreSet::create({.initial = 1});
  test::RemoveAtEnd guard(set);
  Pipe taken = Pipe::create();
  Pipe never = Pipe::create();  // the holder waits on it for ever: it dies holding the semaphore
  test::Forked holder([&]() -> int {
    if (set.apply({{.delta = -1, .undo = true}}) != IoStatus::ok) return 1;
    test::notify(taken.write_end);
    (void)test::await(never.read_end);
    return 2;
  });
  taken.write_end.reset();
  ASSERT_TRUE(test::await(taken.read_end));
  EXPECT_EQ(set.value(0), 0);  // held
  EXPECT_EQ(set.last_pid(0), holder.pid());
  EXPECT_EQ(set.apply({{.delta = -1}}, Deadline::now()), IoStatus::would_block);

  // A waiter queues behind the holder.
  test::Forked next(
      [set]() -> int { return set.apply({{.delta = -1, .undo = true}}) == IoStatus::ok ? 0 : 1; });
  ASSERT_TRUE(test::wait_until_blocked_in(next.pid(), kSemopSyscall));

  ASSERT_EQ(::kill(holder.pid(), SIGKILL), 0);
  const ExitStatus died = holder.wait();
  EXPECT_FALSE(died.exited);
  EXPECT_EQ(died.signal, SIGKILL);
  // Given back by the kernel at the holder's death, and taken by the waiter.
  EXPECT_TRUE(next.wait().success());
  // The waiter took it with SEM_UNDO too and exited: given back again.
  EXPECT_EQ(set.value(0), 1);
  EXPECT_EQ(set.waiting_to_take(0), 0);
}

// I3: resource sharing with mutual exclusion. Two processes add to one counter in System V
// shared memory with a plain read-modify-write, each inside a section guarded by a System V
// semaphore: no increment is lost.
TEST(SeedQueue, I3_SysvSemaphoreGivesProcessesMutualExclusionOverSharedMemory) {
  SemaphoreSet lock = SemaphoreSet::create({.initial = 1});
  test::RemoveAtEnd lock_guard(lock);
  sysv::SharedMemory segment = sysv::SharedMemory::create({.size = sizeof(std::uint64_t)});
  test::RemoveAtEnd segment_guard(segment);
  constexpr int kRounds = 2000;
  auto worker = [&]() -> int {
    sysv::Attachment a = segment.attach();
    auto* counter =
        reinterpret_cast<volatile std::uint64_t*>(a.subspan(0, sizeof(std::uint64_t)).data());
    for (int i = 0; i < kRounds; ++i) {
      if (lock.apply({{.delta = -1, .undo = true}}) != IoStatus::ok) return 1;
      const std::uint64_t seen = *counter;
      *counter = seen + 1;
      if (lock.apply({{.delta = +1, .undo = true}}) != IoStatus::ok) return 1;
    }
    return 0;
  };
  test::Forked first(worker);
  test::Forked second(worker);
  EXPECT_TRUE(first.wait().success());
  EXPECT_TRUE(second.wait().success());
  sysv::Attachment a = segment.attach();
  std::uint64_t total = 0;
  std::memcpy(&total, a.subspan(0, sizeof total).data(), sizeof total);
  EXPECT_EQ(total, 2u * kRounds);
  EXPECT_EQ(lock.value(0), 1);
}

}  // namespace
}  // namespace ipckit
