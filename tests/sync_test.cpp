// ProcessMutex and ProcessCondition: locking and waiting inside shared memory.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/sync.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;

static_assert(std::is_trivially_copyable_v<ProcessMutex> && std::is_trivially_copyable_v<ProcessCondition>);

// What a test shares between processes: a lock, a condition and the data they protect.
struct Shared {
  ProcessMutex mutex;
  ProcessCondition changed;
  std::uint64_t value;
  std::uint64_t checksum;  // always ~value when the data is consistent
};

Shared& make_shared(Mapping& m) {
  auto& s = m.as<Shared>();
  ProcessMutex::init(s.mutex);
  ProcessCondition::init(s.changed);
  s.value = 0;
  s.checksum = ~std::uint64_t{0};
  return s;
}

TEST(ProcessMutex, AHolderKilledWithSigkillIsRecoveredAndTheDataIsIntact) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  Shared& s = make_shared(m);
  auto ready = Pipe::create();
  test::Forked holder([&] {
    (void)s.mutex.lock();
    s.value = 41;
    s.checksum = ~s.value;  // the update is complete ...
    test::notify(ready.write_end);
    ::raise(SIGKILL);       // ... and the holder dies without unlocking
    return 0;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  ExitStatus st = holder.wait();
  ASSERT_EQ(st.signal, SIGKILL);
  {
    ProcessLock lock(s.mutex);
    EXPECT_TRUE(lock.previous_owner_died());
    EXPECT_EQ(s.value, 41u);
    EXPECT_EQ(s.checksum, ~s.value);
    s.value += 1;
    s.checksum = ~s.value;
  }
  // Consistent again: the next locker is not told of a death.
  ProcessLock again(s.mutex);
  EXPECT_FALSE(again.previous_owner_died());
  EXPECT_EQ(s.value, 42u);
}

TEST(ProcessMutex, TryLockUntilTimesOutWhileAnotherProcessHoldsIt) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  Shared& s = make_shared(m);
  auto ready = Pipe::create();
  auto release = Pipe::create();
  test::Forked holder([&] {
    ProcessLock lock(s.mutex);
    test::notify(ready.write_end);
    return test::await(release.read_end) ? 0 : 1;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  bool died = false;
  EXPECT_FALSE(s.mutex.try_lock_until(Deadline::now(), died));
  EXPECT_FALSE(s.mutex.try_lock_until(Deadline::after(20ms), died));
  test::notify(release.write_end);
  EXPECT_TRUE(s.mutex.try_lock_until(Deadline::after(20s), died));
  EXPECT_FALSE(died);
  s.mutex.unlock();
  EXPECT_TRUE(holder.wait().success());
}

TEST(ProcessMutex, UninitialisedMemoryIsRefused) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  auto& s = m.as<Shared>();  // zero-filled, never init()ed
  try {
    (void)s.mutex.lock();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("never initialised"), std::string::npos) << e.what();
  }
}

TEST(ProcessMutex, RelockingAndForeignUnlockAreErrors) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  Shared& s = make_shared(m);
  try {
    s.mutex.unlock();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not hold"), std::string::npos) << e.what();
  }
  (void)s.mutex.lock();
  try {
    (void)s.mutex.lock();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EDEADLK);
  }
  s.mutex.unlock();
}

TEST(ProcessCondition, WakesAWaiterInAnotherProcess) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  Shared& s = make_shared(m);
  test::Forked waiter([&] {
    ProcessLock lock(s.mutex);
    while (s.value != 7) s.changed.wait(lock);
    return 0;
  });
  // The waiter may or may not be asleep yet: the predicate makes that irrelevant.
  {
    ProcessLock lock(s.mutex);
    s.value = 7;
    s.changed.notify_all();
  }
  EXPECT_TRUE(waiter.wait().success());
}

TEST(ProcessCondition, WaitUntilTimesOut) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  Shared& s = make_shared(m);
  ProcessLock lock(s.mutex);
  bool died = false;
  EXPECT_FALSE(s.changed.wait_until(lock, Deadline::after(20ms), died));
  EXPECT_FALSE(died);
}

}  // namespace
}  // namespace ipckit

namespace ipckit {
namespace {

TEST(ProcessMutex, TryLockWithAPassedDeadlineOnALockWeHoldIsADeadlock) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  Shared& s = make_shared(m);
  (void)s.mutex.lock();
  bool died = false;
  Error e = test::error_from([&] { (void)s.mutex.try_lock_until(Deadline::now(), died); });
  EXPECT_EQ(e.errnum(), EDEADLK);
  s.mutex.unlock();
  EXPECT_TRUE(s.mutex.try_lock_until(Deadline::now(), died));
  s.mutex.unlock();
}

}  // namespace
}  // namespace ipckit
