// Unit tests for ipckit::sysv::SemaphoreSet: create (with initial values), open and from_id;
// values read and set; apply: several operations all or none, wait-for-zero, no_wait and
// timeouts, waiters counted and woken, SEM_UNDO on exit; stat and remove; and the messages
// of every error a user may meet (index outside the set, more operations than semopm, values
// past 32767, an empty list, removed sets, missing permission). The seed's claims Q2 and I3
// are shown in tests/seed/seed_sysv_queue_test.cpp.
//
// Every set made here is removed when its test ends, passed or failed (RemoveAtEnd, in the
// parent only); keyed ones use keys from files of the test's own TempDir.
//
// "The child is blocked in semop": glibc implements semop(2) with the semtimedop system
// call (a null timeout), so both show as SYS_semtimedop in /proc/<pid>/syscall.

#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/sysv.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::RemoveAtEnd;
using sysv::Key;
using sysv::SemaphoreSet;
using sysv::SemOp;

static_assert(std::is_trivially_copyable_v<SemaphoreSet>);  // a plain handle: owns nothing

constexpr long kSemopSyscall = SYS_semtimedop;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}
bool is_gone(int errnum) {
  return errnum == EINVAL || errnum == EIDRM;
}

// A key no set holds yet, from a file of `dir`.
Key free_key(const test::TempDir& dir) {
  for (int attempt = 0;; ++attempt) {
    auto path = dir / ("key" + std::to_string(attempt));
    std::ofstream(path) << "ipckit sysv sem key file\n";
    Key key = Key::from_path(path, 'S');
    if (::semget(key.value(), 0, 0) == -1 && errno == ENOENT) return key;
    if (attempt == 20) throw std::runtime_error("no free ftok key found");
  }
}

// The fields of /proc/sys/kernel/sem: semmsl, semmns, semopm, semmni.
std::vector<unsigned long long> sem_limits() {
  std::vector<unsigned long long> fields(4);
  std::ifstream in("/proc/sys/kernel/sem");
  for (auto& field : fields) in >> field;
  return fields;
}

bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0;
}
constexpr int kCannotDropPrivileges = 77;

using Values = std::vector<unsigned short>;

// --- create, open, from_id ----------------------------------------------------------------

TEST(SemaphoreSet, CreateGivesEverySemaphoreTheInitialValueAndMarksTheSetInitialised) {
  SemaphoreSet set = SemaphoreSet::create({.count = 3, .initial = 2});
  RemoveAtEnd guard(set);
  EXPECT_EQ(set.values(), (Values{2, 2, 2}));
  const auto s = set.stat();
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.mode, 0600u);
  EXPECT_EQ(s.uid, ::geteuid());
  EXPECT_TRUE(s.key.is_private());
  EXPECT_NE(s.otime, 0);  // the sign, for other processes, that the values are set
  EXPECT_NE(s.ctime, 0);
}

TEST(SemaphoreSet, InitialZeroIsMarkedInitialisedToo) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2});
  RemoveAtEnd guard(set);
  EXPECT_EQ(set.values(), (Values{0, 0}));
  EXPECT_NE(set.stat().otime, 0);
}

TEST(SemaphoreSet, OpenByKeyAndFromIdFindTheSameSet) {
  test::TempDir dir;
  const Key key = free_key(dir);
  SemaphoreSet created = SemaphoreSet::create({.key = key, .count = 2, .initial = 1, .mode = 0640});
  RemoveAtEnd guard(created);
  EXPECT_EQ(SemaphoreSet::open(key).id(), created.id());
  EXPECT_EQ(SemaphoreSet::from_id(created.id()).id(), created.id());
  EXPECT_EQ(created.stat().key, key);
  EXPECT_EQ(created.stat().mode, 0640u);
}

TEST(SemaphoreSet, CreateExclusiveOnATakenKeyFailsSayingHowToRemoveIt) {
  test::TempDir dir;
  const Key key = free_key(dir);
  SemaphoreSet first = SemaphoreSet::create({.key = key});
  RemoveAtEnd guard(first);
  const Error e =
      test::error_from([&] { RemoveAtEnd unexpected(SemaphoreSet::create({.key = key})); });
  EXPECT_EQ(e.errnum(), EEXIST);
  EXPECT_EQ(e.syscall(), "semget");
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "(id " + std::to_string(first.id()) + ")")) << what;
  EXPECT_TRUE(contains(what, "`ipckit rm -S " + key.to_string() + "`")) << what;
  EXPECT_TRUE(contains(what, "`ipcrm -S " + key.to_string() + "`")) << what;
}

TEST(SemaphoreSet, CreateNotExclusiveReturnsTheExistingSetWithoutResettingIt) {
  test::TempDir dir;
  const Key key = free_key(dir);
  SemaphoreSet first = SemaphoreSet::create({.key = key, .count = 2, .initial = 5});
  RemoveAtEnd guard(first);
  ASSERT_EQ(first.apply({{.index = 0, .delta = -1}}), IoStatus::ok);
  SemaphoreSet again =
      SemaphoreSet::create({.key = key, .count = 2, .initial = 9, .exclusive = false});
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.values(), (Values{4, 5}));
}

TEST(SemaphoreSet, CreateNotExclusiveOfASetNeverOperatedOnReturnsItUntouched) {
  // Made as `ipcmk -S` makes it: semget alone, so its otime stays 0 ("not initialised"); the
  // create waits a bounded time for an initialisation that never comes, then returns it.
  test::TempDir dir;
  const Key key = free_key(dir);
  const int id = ::semget(key.value(), 2, IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_NE(id, -1) << std::strerror(errno);
  RemoveAtEnd guard(SemaphoreSet::from_id(id));
  ASSERT_EQ(SemaphoreSet::from_id(id).stat().otime, 0);
  SemaphoreSet found =
      SemaphoreSet::create({.key = key, .count = 2, .initial = 7, .exclusive = false});
  EXPECT_EQ(found.id(), id);
  EXPECT_EQ(found.values(), (Values{0, 0}));  // not the creator: no SETALL
}

TEST(SemaphoreSet, ModeWithBitsBeyondTheNinePermissionBitsIsRefused) {
  const Error e =
      test::error_from([&] { RemoveAtEnd unexpected(SemaphoreSet::create({.mode = 02600})); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "semget flags")) << e.what();
}

TEST(SemaphoreSet, CreateNotExclusiveAskingMoreSemaphoresThanTheSetHasSaysHowMany) {
  test::TempDir dir;
  const Key key = free_key(dir);
  SemaphoreSet first = SemaphoreSet::create({.key = key, .count = 2});
  RemoveAtEnd guard(first);
  const Error e = test::error_from([&] {
    RemoveAtEnd unexpected(SemaphoreSet::create({.key = key, .count = 3, .exclusive = false}));
  });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "has only 2 semaphores, fewer than the 3 asked")) << e.what();
}

TEST(SemaphoreSet, CountOutsideOneToSemmslIsRefusedNamingTheLimit) {
  const auto semmsl = sem_limits()[0];
  const Error zero =
      test::error_from([&] { RemoveAtEnd unexpected(SemaphoreSet::create({.count = 0})); });
  EXPECT_EQ(zero.errnum(), EINVAL);
  EXPECT_TRUE(contains(zero.what(), "semmsl")) << zero.what();
  const Error above = test::error_from([&] {
    RemoveAtEnd unexpected(SemaphoreSet::create({.count = static_cast<int>(semmsl) + 1}));
  });
  EXPECT_EQ(above.errnum(), EINVAL);
  EXPECT_TRUE(contains(above.what(),
                       "semmsl (a field of /proc/sys/kernel/sem) = " + std::to_string(semmsl)))
      << above.what();
}

TEST(SemaphoreSet, InitialValueAbove32767IsRefused) {
  const Error e =
      test::error_from([&] { RemoveAtEnd unexpected(SemaphoreSet::create({.initial = 40000})); });
  EXPECT_EQ(e.errnum(), ERANGE);
  EXPECT_TRUE(contains(e.what(), "32767")) << e.what();
}

TEST(SemaphoreSet, OpenOfAMissingKeyOrOfIpcPrivateFailsClearly) {
  test::TempDir dir;
  const Key key = free_key(dir);
  const Error missing = test::error_from([&] { (void)SemaphoreSet::open(key); });
  EXPECT_EQ(missing.errnum(), ENOENT);
  EXPECT_TRUE(contains(missing.what(), "no semaphore set has key " + key.to_string()))
      << missing.what();
  EXPECT_TRUE(contains(missing.what(), "`ipckit ls -s` lists the semaphore sets and their keys"))
      << missing.what();
  EXPECT_FALSE(contains(missing.what(), "SemaphoreSet::")) << missing.what();
  const Error private_key = test::error_from([&] { (void)SemaphoreSet::open(Key::private_key()); });
  EXPECT_EQ(private_key.errnum(), EINVAL);
  const Error negative = test::error_from([&] { (void)SemaphoreSet::from_id(-1); });
  EXPECT_EQ(negative.errnum(), EINVAL);
}

// --- values -------------------------------------------------------------------------------

TEST(SemaphoreSet, ValuesSetAndReadBackOneByOneAndAllAtOnce) {
  SemaphoreSet set = SemaphoreSet::create({.count = 3});
  RemoveAtEnd guard(set);
  set.set_values(Values{1, 2, 32767});
  EXPECT_EQ(set.values(), (Values{1, 2, 32767}));
  set.set_value(1, 7);
  EXPECT_EQ(set.value(1), 7);
  EXPECT_EQ(set.value(2), 32767);
}

TEST(SemaphoreSet, SetValuesOfTheWrongCountIsRefusedAndChangesNothing) {
  SemaphoreSet set = SemaphoreSet::create({.count = 3, .initial = 1});
  RemoveAtEnd guard(set);
  const Error e = test::error_from([&] { set.set_values(Values{5, 5}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "2 values for a set of 3 semaphores")) << e.what();
  EXPECT_EQ(set.values(), (Values{1, 1, 1}));
}

TEST(SemaphoreSet, ValueOutside0To32767IsERange) {
  SemaphoreSet set = SemaphoreSet::create({});
  RemoveAtEnd guard(set);
  for (int v : {-1, 32768}) {
    const Error e = test::error_from([&] { set.set_value(0, v); });
    EXPECT_EQ(e.errnum(), ERANGE);
    EXPECT_TRUE(contains(e.what(), "0 to 32767")) << e.what();
  }
  const Error all = test::error_from([&] { set.set_values(Values{40000}); });
  EXPECT_EQ(all.errnum(), ERANGE);
  EXPECT_EQ(set.value(0), 0);
}

TEST(SemaphoreSet, IndexOutsideTheSetSaysTheSetsSize) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2, .initial = 1});
  RemoveAtEnd guard(set);
  const Error read = test::error_from([&] { (void)set.value(2); });
  EXPECT_EQ(read.errnum(), EINVAL);
  EXPECT_TRUE(
      contains(read.what(), "index 2 is outside the set: it has 2 semaphores (indexes 0 to 1)"))
      << read.what();
  const Error write = test::error_from([&] { set.set_value(5, 1); });
  EXPECT_TRUE(contains(write.what(), "index 5 is outside the set")) << write.what();
  const Error apply = test::error_from([&] {
    (void)set.apply({{.index = 0, .delta = -1}, {.index = 3, .delta = 1}});
  });
  EXPECT_EQ(apply.errnum(), EFBIG);
  EXPECT_TRUE(contains(apply.what(), "index 3 is outside the set: it has 2 semaphores"))
      << apply.what();
  EXPECT_TRUE(contains(apply.what(), "semid " + std::to_string(set.id()))) << apply.what();
  EXPECT_EQ(set.values(), (Values{1, 1}));  // the valid operation was not applied either
}

// --- apply ----------------------------------------------------------------------------------

TEST(SemaphoreSet, ApplyTakesAndGives) {
  SemaphoreSet set = SemaphoreSet::create({.initial = 2});
  RemoveAtEnd guard(set);
  EXPECT_EQ(set.apply({{.delta = -2}}), IoStatus::ok);
  EXPECT_EQ(set.value(0), 0);
  EXPECT_EQ(set.apply({{.delta = -1}}, Deadline::now()), IoStatus::would_block);
  EXPECT_EQ(set.apply({{.delta = +3}}), IoStatus::ok);
  EXPECT_EQ(set.value(0), 3);
}

TEST(SemaphoreSet, OperationsThatCannotAllCompleteChangeNothing) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2});
  RemoveAtEnd guard(set);
  set.set_values(Values{1, 0});
  // The first could be applied alone, the second not: neither is.
  EXPECT_EQ(set.apply({{.index = 0, .delta = -1}, {.index = 1, .delta = -1}}, Deadline::now()),
            IoStatus::would_block);
  EXPECT_EQ(set.values(), (Values{1, 0}));
  // When all can, all are, at once.
  EXPECT_EQ(set.apply({{.index = 0, .delta = -1}, {.index = 1, .delta = +2}}, Deadline::now()),
            IoStatus::ok);
  EXPECT_EQ(set.values(), (Values{0, 2}));
}

TEST(SemaphoreSet, WaitForZeroPassesAtZeroOnly) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2});
  RemoveAtEnd guard(set);
  set.set_values(Values{0, 1});
  EXPECT_EQ(set.apply({{.index = 0, .delta = 0}}, Deadline::now()), IoStatus::ok);
  EXPECT_EQ(set.apply({{.index = 1, .delta = 0}}, Deadline::now()), IoStatus::would_block);
}

TEST(SemaphoreSet, TimedApplyTimesOutAndChangesNothing) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2, .initial = 1});
  RemoveAtEnd guard(set);
  set.set_value(1, 0);
  EXPECT_EQ(
      set.apply({{.index = 0, .delta = -1}, {.index = 1, .delta = -1}}, Deadline::after(20ms)),
      IoStatus::timed_out);
  EXPECT_EQ(set.values(), (Values{1, 0}));
  // A deadline already past only tries, and says it timed out (Deadline::now() says would_block).
  const Deadline past = Deadline::at(Deadline::Clock::now() - 1s);
  EXPECT_EQ(set.apply({{.index = 1, .delta = -1}}, past), IoStatus::timed_out);
  EXPECT_EQ(set.apply({{.index = 0, .delta = -1}}, Deadline::after(1s)), IoStatus::ok);
}

TEST(SemaphoreSet, BlockedTakerIsCountedAndWokenByAGiveFromAnotherProcess) {
  SemaphoreSet set = SemaphoreSet::create({});
  RemoveAtEnd guard(set);
  test::Forked taker([&]() -> int { return set.apply({{.delta = -1}}) == IoStatus::ok ? 0 : 1; });
  ASSERT_TRUE(test::wait_until_blocked_in(taker.pid(), kSemopSyscall));
  EXPECT_EQ(set.waiting_to_take(0), 1);
  EXPECT_EQ(set.waiting_for_zero(0), 0);
  ASSERT_EQ(set.apply({{.delta = +1}}), IoStatus::ok);
  EXPECT_TRUE(taker.wait().success());
  EXPECT_EQ(set.value(0), 0);
  EXPECT_EQ(set.waiting_to_take(0), 0);
  EXPECT_EQ(set.last_pid(0), taker.pid());
}

TEST(SemaphoreSet, WaitersForZeroAreCountedAndWokenAtZero) {
  SemaphoreSet set = SemaphoreSet::create({.initial = 1});
  RemoveAtEnd guard(set);
  test::Forked waiter([&]() -> int {
    return set.apply({{.delta = 0}}, Deadline::after(30s)) == IoStatus::ok ? 0 : 1;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(waiter.pid(), kSemopSyscall));
  EXPECT_EQ(set.waiting_for_zero(0), 1);
  EXPECT_EQ(set.waiting_to_take(0), 0);
  ASSERT_EQ(set.apply({{.delta = -1}}), IoStatus::ok);
  EXPECT_TRUE(waiter.wait().success());
  EXPECT_EQ(set.waiting_for_zero(0), 0);
}

TEST(SemaphoreSet, ApplyInterruptedByASignalHandlerKeepsWaiting) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2});
  RemoveAtEnd guard(set);
  test::Forked taker([&]() -> int {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    ::sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART; semop is never restarted anyway
    if (::sigaction(SIGUSR1, &action, nullptr) != 0) return 2;
    const IoStatus untimed = set.apply({{.index = 0, .delta = -1}});
    const IoStatus timed = set.apply({{.index = 1, .delta = -1}}, Deadline::after(30s));
    return untimed == IoStatus::ok && timed == IoStatus::ok ? 0 : 1;
  });
  for (unsigned short index : {0, 1}) {
    ASSERT_TRUE(test::wait_until_blocked_in(taker.pid(), kSemopSyscall));
    ASSERT_EQ(::kill(taker.pid(), SIGUSR1), 0);
    // Interrupted, the taker goes back to waiting (EINTR retried) rather than failing.
    ASSERT_TRUE(test::wait_until_blocked_in(taker.pid(), kSemopSyscall));
    ASSERT_EQ(set.waiting_to_take(index), 1);
    ASSERT_EQ(set.apply({{.index = index, .delta = +1}}), IoStatus::ok);
  }
  const ExitStatus status = taker.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
}

TEST(SemaphoreSet, UndoIsReversedWhenTheProcessExits) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2, .initial = 3});
  RemoveAtEnd guard(set);
  test::Forked child([&]() -> int {
    // Taken with undo, and given with undo: the kernel reverses only what is left (-2 + 1).
    if (set.apply({{.index = 0, .delta = -2, .undo = true}, {.index = 1, .delta = -3}}) !=
        IoStatus::ok)
      return 1;
    if (set.apply({{.index = 0, .delta = +1, .undo = true}}) != IoStatus::ok) return 1;
    return 0;
  });
  ASSERT_TRUE(child.wait().success());
  EXPECT_EQ(set.values(), (Values{3, 0}));  // index 1 was taken without undo: kept taken
}

TEST(SemaphoreSet, LastPidIsTheLastProcessToOperate) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2});
  RemoveAtEnd guard(set);
  test::Forked child(
      [&]() -> int { return set.apply({{.index = 1, .delta = +1}}) == IoStatus::ok ? 0 : 1; });
  ASSERT_TRUE(child.wait().success());
  EXPECT_EQ(set.last_pid(1), child.pid());
  ASSERT_EQ(set.apply({{.index = 1, .delta = -1}}), IoStatus::ok);
  EXPECT_EQ(set.last_pid(1), ::getpid());
}

// --- errors ---------------------------------------------------------------------------------

TEST(SemaphoreSet, AnEmptyOperationListIsAnError) {
  SemaphoreSet set = SemaphoreSet::create({});
  RemoveAtEnd guard(set);
  const Error e = test::error_from([&] { (void)set.apply(std::span<const SemOp>{}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "no operations")) << e.what();
}

TEST(SemaphoreSet, MoreOperationsThanSemopmNamesTheLimit) {
  SemaphoreSet set = SemaphoreSet::create({});
  RemoveAtEnd guard(set);
  const auto semopm = sem_limits()[2];
  const std::vector<SemOp> ops(semopm + 1, SemOp{.delta = 1});
  const Error e = test::error_from([&] { (void)set.apply(ops); });
  EXPECT_EQ(e.errnum(), E2BIG);
  EXPECT_TRUE(
      contains(e.what(), "semopm (a field of /proc/sys/kernel/sem) = " + std::to_string(semopm)))
      << e.what();
  EXPECT_EQ(set.value(0), 0);
  EXPECT_EQ(set.apply(std::span{ops}.first(semopm), Deadline::now()),
            IoStatus::ok);  // exactly semopm is fine
}

TEST(SemaphoreSet, DeltaPushingAValueAbove32767IsERangeAndChangesNothing) {
  SemaphoreSet set = SemaphoreSet::create({.count = 2});
  RemoveAtEnd guard(set);
  set.set_values(Values{5, 32760});
  const Error e = test::error_from([&] {
    (void)set.apply(
        {{.index = 0, .delta = -1}, {.index = 1, .delta = 4}, {.index = 1, .delta = 4}});
  });
  EXPECT_EQ(e.errnum(), ERANGE);
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "operation 2 (+4 on index 1) would push the value above 32767"))
      << what;
  EXPECT_TRUE(contains(what, "nothing was applied")) << what;
  EXPECT_EQ(set.values(), (Values{5, 32760}));
}

TEST(SemaphoreSet, ApplyNamesTheCallItMadeSemopForAPastDeadlineSemtimedopForAFutureOne) {
  SemaphoreSet set = SemaphoreSet::create({});
  RemoveAtEnd guard(set);
  set.remove();
  const Error past = test::error_from(
      [&] { (void)set.apply({{.delta = -1}}, Deadline::at(Deadline::Clock::now() - std::chrono::seconds(1))); });
  EXPECT_TRUE(is_gone(past.errnum())) << past.what();
  EXPECT_EQ(past.syscall(), "semop");
  const Error now = test::error_from([&] { (void)set.apply({{.delta = -1}}, Deadline::now()); });
  EXPECT_EQ(now.syscall(), "semop");
  const Error future = test::error_from(
      [&] { (void)set.apply({{.delta = -1}}, Deadline::after(std::chrono::hours(1))); });
  EXPECT_TRUE(is_gone(future.errnum())) << future.what();
  EXPECT_EQ(future.syscall(), "semtimedop");
}

TEST(SemaphoreSet, UseAfterRemoveIsAnErrorNamingTheSetAndRemoveAgainIsFine) {
  SemaphoreSet set = SemaphoreSet::create({.initial = 1});
  RemoveAtEnd guard(set);
  set.remove();
  const std::string id = "semid " + std::to_string(set.id());
  const Error apply = test::error_from([&] { (void)set.apply({{.delta = -1}}); });
  EXPECT_TRUE(is_gone(apply.errnum())) << apply.what();
  EXPECT_TRUE(contains(apply.what(), id)) << apply.what();
  EXPECT_TRUE(contains(apply.what(), "removed")) << apply.what();
  const Error value = test::error_from([&] { (void)set.value(0); });
  EXPECT_TRUE(is_gone(value.errnum())) << value.what();
  EXPECT_TRUE(contains(value.what(), "ipckit ls -s")) << value.what();
  const Error stat = test::error_from([&] { (void)set.stat(); });
  EXPECT_EQ(stat.syscall(), "semctl(IPC_STAT)");
  EXPECT_NO_THROW(set.remove());
  const Error from_id = test::error_from([&] { (void)SemaphoreSet::from_id(set.id()); });
  EXPECT_TRUE(is_gone(from_id.errnum())) << from_id.what();
}

TEST(SemaphoreSet, WaiterIsWokenWithAnErrorWhenTheSetIsRemoved) {
  SemaphoreSet set = SemaphoreSet::create({});
  RemoveAtEnd guard(set);
  test::Forked waiter([&]() -> int {
    const Error e = test::error_from([&] { (void)set.apply({{.delta = -1}}); });
    EXPECT_EQ(e.errnum(), EIDRM) << e.what();
    EXPECT_TRUE(contains(e.what(), "removed (IPC_RMID) while this process waited")) << e.what();
    return 0;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(waiter.pid(), kSemopSyscall));
  set.remove();
  const ExitStatus status = waiter.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
}

TEST(SemaphoreSet, AnotherUserWithoutPermissionIsToldWhoOwnsTheSet) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as another user (uid 65534)";
  SemaphoreSet set = SemaphoreSet::create({.initial = 1, .mode = 0640});  // root's: others nothing
  RemoveAtEnd guard(set);
  test::Forked other([&]() -> int {
    if (!become_nobody()) return kCannotDropPrivileges;
    const Error take = test::error_from([&] { (void)set.apply({{.delta = -1}}); });
    EXPECT_EQ(take.errnum(), EACCES);
    const std::string what = take.what();
    EXPECT_TRUE(contains(what, "needs write permission")) << what;
    EXPECT_TRUE(contains(what, "root (uid 0)")) << what;
    EXPECT_TRUE(contains(what, "0640")) << what;
    const Error read = test::error_from([&] { (void)set.value(0); });
    EXPECT_EQ(read.errnum(), EACCES);
    EXPECT_TRUE(contains(read.what(), "read permission")) << read.what();
    const Error remove = test::error_from([&] { set.remove(); });
    EXPECT_EQ(remove.errnum(), EPERM);
    EXPECT_TRUE(contains(remove.what(), "belongs to root (uid 0)")) << remove.what();
    return 0;
  });
  const ExitStatus status = other.wait();
  if (status.exited && status.code == kCannotDropPrivileges)
    GTEST_SKIP() << "setuid(65534) was refused";
  EXPECT_TRUE(status.success()) << status.to_string();
  EXPECT_EQ(set.value(0), 1);
}

}  // namespace
}  // namespace ipckit
