// NamedSemaphore and ProcessSemaphore: POSIX semaphores, named (sem_open) and unnamed in
// shared memory (sem_init, pshared). Post, wait, try-wait, timed wait, value; across
// processes; and the errors a user can run into.
//
// Every named semaphore is "/" + unique_name() and removed by a test::RemoveAtEnd guard.

#include <gtest/gtest.h>
#include <semaphore.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <filesystem>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/semaphore.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::RemoveAtEnd;

static_assert(!std::is_copy_constructible_v<NamedSemaphore>);
static_assert(std::is_nothrow_move_constructible_v<NamedSemaphore> &&
              std::is_nothrow_move_assignable_v<NamedSemaphore>);
static_assert(std::is_trivially_copyable_v<ProcessSemaphore>, "it lives in shared memory");

std::string sem_name() {
  return "/" + test::unique_name();
}

// --- NamedSemaphore -----------------------------------------------------------------------

TEST(NamedSemaphore, PostWaitAndValueCount) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto sem = NamedSemaphore::create({.name = name, .initial = 2});
  EXPECT_EQ(sem.name(), name);
  EXPECT_EQ(sem.value(), 2);
  EXPECT_TRUE(sem.wait());
  EXPECT_TRUE(sem.try_wait());
  EXPECT_EQ(sem.value(), 0);
  EXPECT_FALSE(sem.try_wait());
  sem.post();
  EXPECT_EQ(sem.value(), 1);
  EXPECT_TRUE(sem.wait(Deadline::after(10s)));
  EXPECT_EQ(sem.value(), 0);
}

TEST(NamedSemaphore, TimedWaitOnZeroTimesOut) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto sem = NamedSemaphore::create({.name = name});
  const Deadline deadline = Deadline::after(30ms);
  EXPECT_FALSE(sem.wait(deadline));
  EXPECT_TRUE(deadline.expired());
  EXPECT_FALSE(sem.wait(Deadline::now()));
}

TEST(NamedSemaphore, LivesInDevShmWithOwnerOnlyModeAndOutlivesItsCloser) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  { auto sem = NamedSemaphore::create({.name = name, .initial = 5}); }
  const std::filesystem::path file = "/dev/shm/sem." + name.substr(1);
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(NamedSemaphore::open(name).value(), 5);
  EXPECT_TRUE(NamedSemaphore::remove(name));
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_FALSE(NamedSemaphore::remove(name));
}

TEST(NamedSemaphore, MovedSemaphoreKeepsWorking) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto a = NamedSemaphore::create({.name = name, .initial = 1});
  NamedSemaphore b = std::move(a);
  EXPECT_TRUE(b.try_wait());
  auto c = NamedSemaphore::open(name);
  c = std::move(b);
  c.post();
  EXPECT_EQ(c.value(), 1);
}

TEST(NamedSemaphore, MovedFromSemaphoreThrowsInsteadOfCrashing) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto a = NamedSemaphore::create({.name = name, .initial = 1});
  NamedSemaphore b = std::move(a);
  // NOLINTBEGIN(bugprone-use-after-move): using the moved-from object is the point
  for (const auto& [step, call] :
       std::vector<std::pair<std::string, std::function<void()>>>{
           {"sem_post", [&] { a.post(); }},
           {"sem_wait", [&] { (void)a.wait(Deadline::now()); }},
           {"sem_wait", [&] { (void)a.try_wait(); }},
           {"sem_getvalue", [&] { (void)a.value(); }}}) {
    Error e = test::error_from(call);
    EXPECT_EQ(e.syscall(), step);
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_NE(e.hint().find("holds no semaphore (it was moved from)"), std::string::npos)
        << e.what();
  }
  // NOLINTEND(bugprone-use-after-move)
  EXPECT_EQ(b.value(), 1) << "the object moved to is untouched";
}

TEST(NamedSemaphore, WaitWakesWhenAnotherProcessPosts) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto sem = NamedSemaphore::create({.name = name});
  test::Forked waiter([&] {
    auto mine = NamedSemaphore::open(name);  // by name, as an unrelated process would
    return mine.wait() ? 0 : 1;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(waiter.pid(), SYS_futex));
  sem.post();
  EXPECT_TRUE(waiter.wait().success());
  EXPECT_EQ(sem.value(), 0);
}

TEST(NamedSemaphore, TimedWaitWakesWhenAnotherProcessPosts) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto sem = NamedSemaphore::create({.name = name});
  test::Forked waiter(
      [&] { return NamedSemaphore::open(name).wait(Deadline::after(60s)) ? 0 : 1; });
  ASSERT_TRUE(test::wait_until_blocked_in(waiter.pid(), SYS_futex));
  sem.post();
  EXPECT_TRUE(waiter.wait().success());
}

TEST(NamedSemaphore, CreateOnATakenNameFailsAndSaysHowToRemoveIt) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto sem = NamedSemaphore::create({.name = name});
  Error e = test::error_from([&] { (void)NamedSemaphore::create({.name = name}); });
  EXPECT_EQ(e.errnum(), EEXIST);
  EXPECT_EQ(e.syscall(), "sem_open");
  EXPECT_EQ(e.object(), name);
  EXPECT_NE(e.hint().find("NamedSemaphore::remove"), std::string::npos) << e.what();
  EXPECT_NE(e.hint().find("/dev/shm/sem." + name.substr(1)), std::string::npos) << e.what();
  // Not exclusive: the existing one, its count untouched.
  sem.post();
  auto same = NamedSemaphore::create({.name = name, .initial = 9, .exclusive = false});
  EXPECT_EQ(same.value(), 1);
}

TEST(NamedSemaphore, BadNamesAreRefusedNamingTheRule) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"slots", "must start with '/'"},
      {"", "must start with '/'"},
      {"/", "at least one character after '/'"},
      {"/a/b", "no '/' after the first"},
      {"/" + std::string(252, 'x'), "at most 251 characters"},
      {"/" + std::string(256, 'x'), "longer than NAME_MAX"},
  };
  for (const auto& [name, rule] : cases) {
    Error e = test::error_from([&] { (void)NamedSemaphore::create({.name = name}); });
    EXPECT_EQ(e.syscall(), "sem_open");
    EXPECT_NE(std::string(e.what()).find(rule), std::string::npos)
        << name.size() << ": " << e.what();
    Error o = test::error_from([&] { (void)NamedSemaphore::open(name); });
    EXPECT_NE(std::string(o.what()).find(rule), std::string::npos) << o.what();
    Error r = test::error_from([&] { (void)NamedSemaphore::remove(name); });
    EXPECT_EQ(r.syscall(), "sem_unlink");
  }
  // 251 characters after '/' is the longest name glibc takes.
  const std::string unique = test::unique_name();
  const std::string longest = "/" + unique + std::string(251 - unique.size(), 'x');
  ASSERT_EQ(longest.size(), 252u);
  RemoveAtEnd guard(longest, &NamedSemaphore::remove);
  EXPECT_EQ(NamedSemaphore::create({.name = longest}).value(), 0);
}

TEST(NamedSemaphore, OpenOfARemovedSemaphoreFailsWithEnoent) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto sem = NamedSemaphore::create({.name = name});
  ASSERT_TRUE(NamedSemaphore::remove(name));
  Error e = test::error_from([&] { (void)NamedSemaphore::open(name); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_EQ(e.object(), name);
  // The open one still counts.
  sem.post();
  EXPECT_EQ(sem.value(), 1);
}

TEST(NamedSemaphore, InitialAboveSemValueMaxIsRefused) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  Error e = test::error_from([&] {
    (void)NamedSemaphore::create(
        {.name = name, .initial = static_cast<unsigned>(SEM_VALUE_MAX) + 1});
  });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_NE(e.hint().find("SEM_VALUE_MAX"), std::string::npos) << e.what();
  EXPECT_FALSE(NamedSemaphore::remove(name));  // nothing was made
}

TEST(NamedSemaphore, PostAtSemValueMaxFailsWithEoverflow) {
  const std::string name = sem_name();
  RemoveAtEnd guard(name, &NamedSemaphore::remove);
  auto sem =
      NamedSemaphore::create({.name = name, .initial = static_cast<unsigned>(SEM_VALUE_MAX)});
  Error e = test::error_from([&] { sem.post(); });
  EXPECT_EQ(e.errnum(), EOVERFLOW);
  EXPECT_NE(e.hint().find("SEM_VALUE_MAX"), std::string::npos) << e.what();
  EXPECT_EQ(sem.value(), SEM_VALUE_MAX);
}

// --- ProcessSemaphore ---------------------------------------------------------------------

struct Shared {
  ProcessSemaphore ping;
  ProcessSemaphore pong;
  int rounds;
};

TEST(ProcessSemaphore, ParentAndChildPingPongInAnAnonymousSharedMapping) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  auto& s = m.as<Shared>();
  ProcessSemaphore::init(s.ping, 0);
  ProcessSemaphore::init(s.pong, 0);
  s.rounds = 0;
  constexpr int kRounds = 100;
  test::Forked child([&] {
    for (int i = 0; i < kRounds; ++i) {
      if (!s.ping.wait(Deadline::after(30s))) return 1;
      ++s.rounds;  // the semaphores order the two processes: no race here
      s.pong.post();
    }
    return 0;
  });
  for (int i = 0; i < kRounds; ++i) {
    s.ping.post();
    ASSERT_TRUE(s.pong.wait(Deadline::after(30s)));
    ASSERT_EQ(s.rounds, i + 1);
  }
  EXPECT_TRUE(child.wait().success());
  EXPECT_EQ(s.ping.value(), 0);
  ProcessSemaphore::destroy(s.ping);
  ProcessSemaphore::destroy(s.pong);
}

TEST(ProcessSemaphore, WaitInTheChildWakesWhenTheParentPosts) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  auto& s = m.as<Shared>();
  ProcessSemaphore::init(s.ping, 0);
  test::Forked child([&] { return s.ping.wait() ? 0 : 1; });
  ASSERT_TRUE(test::wait_until_blocked_in(child.pid(), SYS_futex));
  s.ping.post();
  EXPECT_TRUE(child.wait().success());
}

TEST(ProcessSemaphore, TryWaitAndTimedWaitOnZeroReturnFalse) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  auto& s = m.as<Shared>();
  ProcessSemaphore::init(s.ping, 1);
  EXPECT_EQ(s.ping.value(), 1);
  EXPECT_TRUE(s.ping.try_wait());
  EXPECT_FALSE(s.ping.try_wait());
  const Deadline deadline = Deadline::after(30ms);
  EXPECT_FALSE(s.ping.wait(deadline));
  EXPECT_TRUE(deadline.expired());
  ProcessSemaphore::destroy(s.ping);
}

TEST(ProcessSemaphore, UninitialisedOrDestroyedSemaphoreIsDetected) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  auto& s = m.as<Shared>();  // zero-filled: never initialised
  for (auto* op :
       {+[](ProcessSemaphore& p) { p.post(); }, +[](ProcessSemaphore& p) { (void)p.wait(); },
        +[](ProcessSemaphore& p) { (void)p.try_wait(); },
        +[](ProcessSemaphore& p) { (void)p.value(); }}) {
    Error e = test::error_from([&] { op(s.ping); });
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_NE(e.hint().find("never initialised"), std::string::npos) << e.what();
  }
  ProcessSemaphore::init(s.ping, 0);
  ProcessSemaphore::destroy(s.ping);
  Error e = test::error_from([&] { s.ping.post(); });
  EXPECT_NE(e.hint().find("destroyed"), std::string::npos) << e.what();
}

TEST(ProcessSemaphore, InitialAboveSemValueMaxIsRefused) {
  auto m = Mapping::anonymous_shared(sizeof(Shared));
  auto& s = m.as<Shared>();
  Error e = test::error_from(
      [&] { ProcessSemaphore::init(s.ping, static_cast<unsigned>(SEM_VALUE_MAX) + 1); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_NE(e.hint().find("SEM_VALUE_MAX"), std::string::npos) << e.what();
}

}  // namespace
}  // namespace ipckit
