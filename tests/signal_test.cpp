// ipckit's signal API: the table and parsing, signal sets, masks, pending signals, scoped
// handlers, the S4 refusals, sending, timers (alarm, setitimer, timerfd), signalfd, and the
// `ipckit signals` command.
//
// Signal state is per process or per thread: tests change it only through scoped types or
// guards that put it back, and each test runs in its own process. No test measures a duration.

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "ipckit/deadline.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/signal.hpp"
#include "signal_util.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::error_from;
using test::Forked;
using test::message_of;

Deadline safety_net() {
  return Deadline::after(10s);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

using test::StopTimers;

std::atomic<int> g_deliveries{0};
std::atomic<int> g_last_code{0};
std::atomic<pid_t> g_last_pid{0};

void count(int /*signo*/, siginfo_t* info, void* /*context*/) {
  g_last_code.store(info->si_code);
  g_last_pid.store(info->si_pid);
  g_deliveries.fetch_add(1);
}

void count_other(int /*signo*/, siginfo_t* /*info*/, void* /*context*/) {
  g_deliveries.fetch_add(100);
}

// The handler (or SIG_DFL / SIG_IGN) installed for `signo` now.
void* current_disposition(int signo) {
  struct sigaction now {};
  EXPECT_EQ(::sigaction(signo, nullptr, &now), 0);
  if ((now.sa_flags & SA_SIGINFO) != 0) return reinterpret_cast<void*>(now.sa_sigaction);
  return reinterpret_cast<void*>(now.sa_handler);
}

// How the user database names uid 65534 (usually "nobody").
std::string sys_user_name_of_nobody() {
  const passwd* entry = ::getpwuid(65534);
  return entry != nullptr ? entry->pw_name : "65534";
}

// --- the table ---------------------------------------------------------------------------

TEST(SignalTable, ListsStandardAndRealtimeSignalsInOrderWithout32And33) {
  const auto& table = signal_table();
  ASSERT_EQ(table.size(), static_cast<std::size_t>(31 + SIGRTMAX - SIGRTMIN + 1));
  for (std::size_t i = 1; i < table.size(); ++i) EXPECT_LT(table[i - 1].number, table[i].number);
  for (const auto& row : table) {
    EXPECT_NE(row.number, 32);
    EXPECT_NE(row.number, 33);
    EXPECT_FALSE(row.description.empty()) << row.name;
  }
}

TEST(SignalTable, DefaultActionsAreThoseOfManSignal) {
  const std::vector<std::pair<int, const char*>> expected{
      {SIGHUP, "Term"},  {SIGINT, "Term"},   {SIGQUIT, "Core"},  {SIGILL, "Core"},
      {SIGABRT, "Core"}, {SIGFPE, "Core"},   {SIGKILL, "Term"},  {SIGSEGV, "Core"},
      {SIGPIPE, "Term"}, {SIGALRM, "Term"},  {SIGTERM, "Term"},  {SIGSTKFLT, "Term"},
      {SIGCHLD, "Ign"},  {SIGCONT, "Cont"},  {SIGSTOP, "Stop"},  {SIGTSTP, "Stop"},
      {SIGTTIN, "Stop"}, {SIGTTOU, "Stop"},  {SIGURG, "Ign"},    {SIGWINCH, "Ign"},
      {SIGPWR, "Term"},  {SIGSYS, "Core"},   {SIGBUS, "Core"},   {SIGXCPU, "Core"},
      {SIGIO, "Term"},   {SIGRTMIN, "Term"}, {SIGRTMAX, "Term"},
  };
  for (const auto& [signo, action] : expected)
    EXPECT_STREQ(to_string(signal_info(signo).action), action) << signo;
  EXPECT_EQ(signal_info(SIGINT).description, "Interrupt from keyboard");
}

TEST(SignalTable, ActionsPrintAsManSignalWritesThem) {
  EXPECT_STREQ(to_string(SignalAction::terminate), "Term");
  EXPECT_STREQ(to_string(SignalAction::ignore), "Ign");
  EXPECT_STREQ(to_string(SignalAction::core), "Core");
  EXPECT_STREQ(to_string(SignalAction::stop), "Stop");
  EXPECT_STREQ(to_string(SignalAction::cont), "Cont");
}

TEST(SignalTable, RealtimeSignalsAreNamedAsKillLNamesThem) {
  EXPECT_EQ(signal_name(SIGRTMIN), "SIGRTMIN");
  EXPECT_EQ(signal_name(SIGRTMIN + 1), "SIGRTMIN+1");
  EXPECT_EQ(signal_name(SIGRTMIN + 15), "SIGRTMIN+15");
  EXPECT_EQ(signal_name(SIGRTMAX - 14), "SIGRTMAX-14");
  EXPECT_EQ(signal_name(SIGRTMAX - 1), "SIGRTMAX-1");
  EXPECT_EQ(signal_name(SIGRTMAX), "SIGRTMAX");
}

TEST(SignalTable, NumbersThatAreNoSignalsFailWithEinval) {
  for (int signo : {0, -1, 32, 33, SIGRTMAX + 1, 1000}) {
    Error e = error_from([&] { (void)signal_info(signo); });
    EXPECT_EQ(e.errnum(), EINVAL) << signo;
    EXPECT_TRUE(contains(e.what(), "signal " + std::to_string(signo))) << e.what();
    EXPECT_TRUE(contains(e.what(), "ipckit signals -l")) << e.what();
    EXPECT_EQ(error_from([&] { (void)signal_name(signo); }).errnum(), EINVAL);
  }
}

// --- parsing -----------------------------------------------------------------------------

TEST(ParseSignal, AcceptsNamesWithOrWithoutSigInAnyCase) {
  EXPECT_EQ(parse_signal("INT"), SIGINT);
  EXPECT_EQ(parse_signal("SIGINT"), SIGINT);
  EXPECT_EQ(parse_signal("sigint"), SIGINT);
  EXPECT_EQ(parse_signal("Term"), SIGTERM);
  EXPECT_EQ(parse_signal(" usr1 "), SIGUSR1);
}

TEST(ParseSignal, AcceptsNumbers) {
  EXPECT_EQ(parse_signal("2"), 2);
  EXPECT_EQ(parse_signal("9"), SIGKILL);
  EXPECT_EQ(parse_signal(std::to_string(SIGRTMAX)), SIGRTMAX);
}

TEST(ParseSignal, AcceptsRealtimeForms) {
  EXPECT_EQ(parse_signal("RTMIN"), SIGRTMIN);
  EXPECT_EQ(parse_signal("RTMIN+3"), SIGRTMIN + 3);
  EXPECT_EQ(parse_signal("SIGRTMAX-2"), SIGRTMAX - 2);
  EXPECT_EQ(parse_signal("sigrtmax"), SIGRTMAX);
  EXPECT_EQ(parse_signal("RTMIN+20"), SIGRTMIN + 20) << "past the half, as bash accepts";
}

TEST(ParseSignal, AcceptsTheOtherNamesOfManSignal) {
  EXPECT_EQ(parse_signal("SIGIOT"), SIGABRT);
  EXPECT_EQ(parse_signal("POLL"), SIGIO);
  EXPECT_EQ(parse_signal("CLD"), SIGCHLD);
}

TEST(ParseSignal, RoundTripsEveryRowOfTheTable) {
  for (const auto& row : signal_table()) {
    EXPECT_EQ(parse_signal(row.name), row.number) << row.name;
    EXPECT_EQ(parse_signal(row.name.substr(3)), row.number) << row.name;
    EXPECT_EQ(signal_name(parse_signal(std::to_string(row.number))), row.name);
  }
}

TEST(ParseSignal, UnknownTextFailsNamingItWithAHint) {
  for (const char* text : {"SIGFOO", "", "SIG", "0", "65", "-1", "32", "2x", "RTMIN+", "RTMIN-1",
                           "RTMAX+1", "RTMIN+99", "RTMAX-99", "INT2",
                           // offsets that would overflow an int when added to SIGRTMIN
                           "RTMIN+2147483647", "RTMAX-2147483647", "RTMIN+2147483648"}) {
    Error e = error_from([&] { (void)parse_signal(text); });
    EXPECT_EQ(e.errnum(), EINVAL) << text;
    EXPECT_EQ(e.object(), text);
    const std::string named =
        *text == '\0' ? "the text is empty" : "(\"" + std::string(text) + "\")";
    EXPECT_TRUE(contains(e.what(), named)) << e.what();
    EXPECT_TRUE(contains(e.what(), "ipckit signals -l")) << e.what();
  }
}

// --- sets --------------------------------------------------------------------------------

TEST(SignalSet, StartsEmptyAndAddsAndRemoves) {
  SignalSet set;
  EXPECT_TRUE(set.is_empty());
  EXPECT_EQ(set, SignalSet::empty());
  set.add(SIGTERM).add(SIGINT);
  EXPECT_FALSE(set.is_empty());
  EXPECT_EQ(set.signals(), (std::vector<int>{SIGINT, SIGTERM}));
  set.remove(SIGTERM);
  EXPECT_EQ(set.signals(), std::vector<int>{SIGINT});
  set.remove(SIGTERM);  // not there: no change
  EXPECT_EQ(set, SignalSet{SIGINT});
}

TEST(SignalSet, FullHoldsSigkillAndSigstopButBlockableDoesNot) {
  EXPECT_TRUE(SignalSet::full().contains(SIGKILL));
  EXPECT_TRUE(SignalSet::full().contains(SIGSTOP));
  EXPECT_FALSE(SignalSet::blockable().contains(SIGKILL));
  EXPECT_FALSE(SignalSet::blockable().contains(SIGSTOP));
  EXPECT_EQ(SignalSet::blockable().signals().size(), signal_table().size() - 2);
}

TEST(SignalSet, PrintsItsMembersByName) {
  EXPECT_EQ(SignalSet{}.to_string(), "{}");
  EXPECT_EQ((SignalSet{SIGRTMIN + 1, SIGINT}).to_string(), "{SIGINT, SIGRTMIN+1}");
}

TEST(SignalSet, EqualityIsByMembers) {
  EXPECT_EQ((SignalSet{SIGINT, SIGHUP}), (SignalSet{SIGHUP, SIGINT}));
  EXPECT_NE((SignalSet{SIGINT}), (SignalSet{SIGHUP}));
  sigset_t native;
  ::sigemptyset(&native);
  ::sigaddset(&native, SIGINT);
  EXPECT_EQ(SignalSet::from_native(native), SignalSet{SIGINT});
}

TEST(SignalSet, NonSignalsAreRefusedAndNeverMembers) {
  EXPECT_EQ(error_from([] { SignalSet{}.add(0); }).errnum(), EINVAL);
  EXPECT_EQ(error_from([] { SignalSet{}.add(65); }).errnum(), EINVAL);
  EXPECT_EQ(error_from([] { SignalSet{}.remove(-1); }).errnum(), EINVAL);
  EXPECT_EQ(error_from([] { SignalSet{2, 65}; }).errnum(), EINVAL);
  EXPECT_FALSE(SignalSet::full().contains(0));
  EXPECT_FALSE(SignalSet::full().contains(65));
  EXPECT_FALSE(SignalSet::full().contains(-1));
}

// --- masks and pending -------------------------------------------------------------------

TEST(ScopedSignalMask, BlocksForTheScopeAndRestoresThePreviousMask) {
  const SignalSet before = signal_mask();
  {
    ScopedSignalMask mask({SIGUSR1, SIGRTMIN});
    EXPECT_EQ(mask.previous(), before);
    EXPECT_TRUE(signal_mask().contains(SIGUSR1));
    EXPECT_TRUE(signal_mask().contains(SIGRTMIN));
  }
  EXPECT_EQ(signal_mask(), before);
}

TEST(ScopedSignalMask, SetReplacesTheMaskAndUnblockTakesSignalsOut) {
  ScopedSignalMask outer({SIGUSR1, SIGUSR2});
  {
    ScopedSignalMask set({SIGHUP}, ScopedSignalMask::How::set);
    EXPECT_EQ(signal_mask(), SignalSet{SIGHUP});
  }
  {
    ScopedSignalMask unblock({SIGUSR2}, ScopedSignalMask::How::unblock);
    EXPECT_EQ(signal_mask().contains(SIGUSR2), false);
    EXPECT_EQ(signal_mask().contains(SIGUSR1), true);
  }
  EXPECT_TRUE(signal_mask().contains(SIGUSR2));
}

TEST(ScopedSignalMask, BlockableBlocksEverythingButSigkillAndSigstop) {
  ScopedSignalMask mask(SignalSet::blockable());
  EXPECT_EQ(signal_mask(), SignalSet::blockable());
}

TEST(ScopedSignalMask, BlockingTheFullSetIsRefusedPointingToBlockable) {
  const SignalSet before = signal_mask();
  for (auto how : {ScopedSignalMask::How::block, ScopedSignalMask::How::set}) {
    Error e = error_from([&] { ScopedSignalMask mask(SignalSet::full(), how); });
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_TRUE(contains(e.what(), "SignalSet::blockable()")) << e.what();
    EXPECT_FALSE(contains(e.what(), "use another signal")) << e.what();
  }
  EXPECT_EQ(signal_mask(), before);
}

TEST(ScopedSignalMask, UnblockingSigkillOrSigstopIsAllowedAndChangesNothingForThem) {
  ScopedSignalMask outer({SIGUSR1});
  {
    ScopedSignalMask unblock(SignalSet::full(), ScopedSignalMask::How::unblock);
    EXPECT_TRUE(signal_mask().is_empty());
    ScopedSignalMask just_those({SIGKILL, SIGSTOP}, ScopedSignalMask::How::unblock);
    EXPECT_TRUE(signal_mask().is_empty());
  }
  EXPECT_EQ(signal_mask(), SignalSet{SIGUSR1});
}

TEST(PendingSignals, ARaisedBlockedSignalIsPendingUntilTaken) {
  ScopedSignalMask mask({SIGUSR2});
  EXPECT_FALSE(pending_signals().contains(SIGUSR2));
  raise_signal(SIGUSR2);
  EXPECT_EQ(pending_signals(), SignalSet{SIGUSR2});
  auto sfd = SignalFd::create({SIGUSR2});
  ASSERT_TRUE(sfd.read(Deadline::now()).has_value());
  EXPECT_TRUE(pending_signals().is_empty());
}

// --- handlers and dispositions -----------------------------------------------------------

TEST(ScopedSignalHandler, RunsWithTheSendersDetailsAndRestoresThePreviousHandler) {
  g_deliveries = 0;
  void* before = current_disposition(SIGUSR1);
  {
    ScopedSignalHandler outer(SIGUSR1, count_other);
    {
      ScopedSignalHandler handler(SIGUSR1, count);
      EXPECT_EQ(handler.signo(), SIGUSR1);
      send_signal(::getpid(), SIGUSR1);
      EXPECT_EQ(g_deliveries.load(), 1);
      EXPECT_EQ(g_last_code.load(), SI_USER);
      EXPECT_EQ(g_last_pid.load(), ::getpid());
    }
    EXPECT_EQ(current_disposition(SIGUSR1), reinterpret_cast<void*>(count_other));
    raise_signal(SIGUSR1);
    EXPECT_EQ(g_deliveries.load(), 101);
  }
  EXPECT_EQ(current_disposition(SIGUSR1), before);
}

TEST(ScopedSignalHandler, OnceGoesBackToTheDefaultAfterOneDelivery) {
  g_deliveries = 0;
  ScopedSignalHandler handler(SIGUSR2, count, {.once = true});
  raise_signal(SIGUSR2);
  EXPECT_EQ(g_deliveries.load(), 1);
  EXPECT_EQ(current_disposition(SIGUSR2), reinterpret_cast<void*>(SIG_DFL));
}

TEST(ScopedSignalHandler, MaskBlocksOtherSignalsWhileItRuns) {
  static std::atomic<bool> usr2_blocked_inside{false};
  ScopedSignalHandler handler(SIGUSR1,
                              [](int, siginfo_t*, void*) {
                                sigset_t now;
                                ::pthread_sigmask(SIG_BLOCK, nullptr, &now);
                                usr2_blocked_inside.store(::sigismember(&now, SIGUSR2) == 1);
                              },
                              {.mask = {SIGUSR2}});
  raise_signal(SIGUSR1);
  EXPECT_TRUE(usr2_blocked_inside.load());
}

TEST(ScopedSignalHandler, NullHandlerAndNonSignalsAreRefused) {
  Error e = error_from([] { ScopedSignalHandler h(SIGUSR1, nullptr); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "SIGUSR1")) << e.what();
  EXPECT_EQ(error_from([] { ScopedSignalHandler h(0, count); }).errnum(), EINVAL);
  EXPECT_EQ(error_from([] { ScopedSignalHandler h(65, count); }).errnum(), EINVAL);
}

TEST(IgnoreSignal, AnIgnoredSignalIsDiscardedAndTheDefaultComesBack) {
  ScopedSignalHandler keep(SIGUSR1, count);  // puts the original disposition back at the end
  ignore_signal(SIGUSR1);
  EXPECT_EQ(current_disposition(SIGUSR1), reinterpret_cast<void*>(SIG_IGN));
  raise_signal(SIGUSR1);  // would end the test process if it were not ignored
  EXPECT_FALSE(pending_signals().contains(SIGUSR1));
  default_signal_action(SIGUSR1);
  EXPECT_EQ(current_disposition(SIGUSR1), reinterpret_cast<void*>(SIG_DFL));
}

// --- S4: SIGKILL and SIGSTOP --------------------------------------------------------------

TEST(SignalS4, EveryWayToCatchBlockOrIgnoreSigkillOrSigstopFailsClearly) {
  for (int signo : {SIGKILL, SIGSTOP}) {
    const std::string name = signal_name(signo);
    std::vector<std::function<void()>> attempts{
        [&] { ScopedSignalHandler h(signo, count); },
        [&] { ignore_signal(signo); },
        [&] { default_signal_action(signo); },
        [&] { ScopedSignalMask m({signo}); },
        [&] { ScopedSignalMask m({signo}, ScopedSignalMask::How::set); },
        [&] {
          (void)SignalFd::create({SIGUSR1, signo});
        },
    };
    for (const auto& attempt : attempts) {
      Error e = error_from(attempt);
      EXPECT_EQ(e.errnum(), EINVAL);
      EXPECT_EQ(e.object(), name);
      EXPECT_TRUE(contains(e.what(), name + " cannot be caught, blocked or ignored")) << e.what();
    }
  }
  EXPECT_FALSE(signal_mask().contains(SIGUSR1)) << "nothing was changed on the way";
}

// --- sending -----------------------------------------------------------------------------

TEST(SendSignal, ZeroOnlyChecksThatTheProcessExists) {
  send_signal(::getpid(), 0);
  EXPECT_TRUE(pending_signals().is_empty());
}

// A pid no process can have: one above /proc/sys/kernel/pid_max. (A reaped child's pid may
// be reused at once by another test running in parallel.)
pid_t pid_no_process_has() {
  std::ifstream in("/proc/sys/kernel/pid_max");
  long long pid_max = 0;
  in >> pid_max;
  EXPECT_GT(pid_max, 0) << "cannot read /proc/sys/kernel/pid_max";
  return static_cast<pid_t>(pid_max + 1);
}

TEST(SendSignal, AProcessThatIsGoneFailsWithEsrchNamingThePid) {
  const pid_t gone = pid_no_process_has();
  Error e = error_from([&] { send_signal(gone, SIGTERM); });
  EXPECT_EQ(e.errnum(), ESRCH);
  EXPECT_EQ(e.object(), "pid " + std::to_string(gone));
  EXPECT_TRUE(contains(e.what(), "kill(SIGTERM)")) << e.what();
  EXPECT_TRUE(contains(e.what(), "no process has pid")) << e.what();
  EXPECT_EQ(error_from([&] { queue_signal(gone, SIGUSR1, 1); }).errnum(), ESRCH);
}

TEST(QueueSignal, APidOfZeroOrLessIsRefusedBecauseSigqueueHasNoGroups) {
  for (pid_t pid : {0, -1, -static_cast<pid_t>(::getpgrp())}) {
    Error e = error_from([&] { queue_signal(pid, SIGUSR1, 1); });
    EXPECT_EQ(e.errnum(), EINVAL) << pid;
    EXPECT_EQ(e.object(), "pid " + std::to_string(pid));
    EXPECT_TRUE(contains(e.what(), "sigqueue sends to one process; give a pid > 0")) << e.what();
    EXPECT_FALSE(contains(e.what(), "no process is in the group")) << e.what();
  }
  EXPECT_TRUE(pending_signals().is_empty()) << "nothing was sent";
}

TEST(SendSignal, AnotherUsersProcessFailsWithEpermNamingTheOwner) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run two children as two other users";
  const Pipe ready = Pipe::create();
  const Pipe go_on = Pipe::create();
  Forked child([&] {
    if (::setresuid(65534, 65534, 65534) == -1) return 3;  // nobody
    test::notify(ready.write_end);
    return test::await(go_on.read_end) ? 0 : 4;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  // The test runs as root, who may signal anyone: ask from another uid in a child.
  Forked asker([&] {
    if (::setresuid(65533, 65533, 65533) == -1) return 3;
    Error e = error_from([&] { send_signal(child.pid(), SIGTERM); });
    EXPECT_EQ(e.errnum(), EPERM);
    EXPECT_TRUE(contains(e.what(), "only its owner or root")) << e.what();
    EXPECT_TRUE(contains(e.what(), "runs as " + sys_user_name_of_nobody())) << e.what();
    return 0;
  });
  EXPECT_TRUE(asker.wait().success());
  test::notify(go_on.write_end);
  EXPECT_TRUE(child.wait().success());
}

TEST(SendSignal, NonSignalsAreRefusedBeforeAnythingIsSent) {
  for (int signo : {-1, 32, 65}) {
    EXPECT_EQ(error_from([&] { send_signal(::getpid(), signo); }).errnum(), EINVAL) << signo;
    EXPECT_EQ(error_from([&] { queue_signal(::getpid(), signo, 0); }).errnum(), EINVAL) << signo;
    EXPECT_EQ(error_from([&] { raise_signal(signo); }).errnum(), EINVAL) << signo;
  }
  EXPECT_EQ(error_from([] { raise_signal(0); }).errnum(), EINVAL);
}

// --- timers ------------------------------------------------------------------------------

TEST(SignalIntervalTimer, ReturnsWhatWasLeftAndStops) {
  StopTimers stop;
  EXPECT_EQ(interval_timer().initial, 0us);
  (void)set_interval_timer({.initial = 100s, .interval = 5s});
  const TimerSetting now = interval_timer();
  EXPECT_GT(now.initial, 0us);
  EXPECT_LE(now.initial, 100s);
  EXPECT_EQ(now.interval, 5s);
  const TimerSetting before = set_interval_timer({});
  EXPECT_GT(before.initial, 0us);
  EXPECT_EQ(before.interval, 5s);
  EXPECT_EQ(interval_timer().initial, 0us);
}

TEST(SignalIntervalTimer, SharesTheProcesssOneTimerWithAlarm) {
  StopTimers stop;
  (void)set_alarm(100);
  EXPECT_GT(interval_timer().initial, 0us);
  (void)set_interval_timer({});
  EXPECT_EQ(set_alarm(0), 0u);
}

TEST(SignalIntervalTimer, NegativeTimesAreRefused) {
  StopTimers stop;
  Error e = error_from([] { (void)set_interval_timer({.initial = -1us}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_EQ(e.object(), "ITIMER_REAL");
  EXPECT_EQ(error_from([] { (void)set_interval_timer({.initial = 1s, .interval = -1s}); }).errnum(),
            EINVAL);
  EXPECT_EQ(interval_timer().initial, 0us) << "nothing was armed";
}

TEST(SignalTimerFd, AOneShotTimerExpiresOnce) {
  auto timer = TimerFd::create();
  EXPECT_TRUE(timer.fd().cloexec());
  timer.arm(1ms);
  EXPECT_EQ(timer.wait(safety_net()), 1u);
  EXPECT_EQ(timer.wait(Deadline::now()), 0u) << "no second expiry";
}

TEST(SignalTimerFd, APeriodicTimerCountsItsExpiries) {
  auto timer = TimerFd::create();
  timer.arm(1ms, 1ms);
  std::uint64_t total = 0;
  while (total < 5) {
    const std::uint64_t n = timer.wait(safety_net());
    ASSERT_GE(n, 1u);
    total += n;
  }
  timer.disarm();
  (void)timer.wait(Deadline::now());  // an expiry may have come before disarm
  EXPECT_EQ(timer.wait(Deadline::now()), 0u);
}

TEST(SignalTimerFd, ADisarmedTimerWaitsUntilTheDeadline) {
  auto timer = TimerFd::create();
  EXPECT_EQ(timer.wait(Deadline::after(5ms)), 0u);
  EXPECT_EQ(timer.wait(Deadline::now()), 0u);
}

TEST(SignalTimerFd, NonPositiveTimesAreRefused) {
  auto timer = TimerFd::create();
  Error e = error_from([&] { timer.arm(0ns); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "disarm")) << e.what();
  EXPECT_EQ(error_from([&] { timer.arm(-1ms); }).errnum(), EINVAL);
  EXPECT_EQ(error_from([&] { timer.arm(1ms, -1ms); }).errnum(), EINVAL);
}

// --- signalfd ----------------------------------------------------------------------------

TEST(SignalFd, GivesTheSendersPidUidAndValue) {
  ScopedSignalMask mask({SIGRTMIN + 3});
  auto sfd = SignalFd::create({SIGRTMIN + 3});
  EXPECT_TRUE(sfd.fd().cloexec());
  EXPECT_EQ(sfd.signals(), SignalSet{SIGRTMIN + 3});
  const pid_t parent = ::getpid();
  Forked child([parent] {
    queue_signal(parent, SIGRTMIN + 3, 77);
    return 0;
  });
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->signo, SIGRTMIN + 3);
  EXPECT_EQ(got->sender_pid, child.pid());
  EXPECT_EQ(got->sender_uid, ::getuid());
  EXPECT_EQ(got->value, 77);
  EXPECT_EQ(got->code, SI_QUEUE);
  EXPECT_TRUE(got->queued());
  EXPECT_TRUE(child.wait().success());
}

TEST(SignalFd, KillIsNotQueuedAndCarriesNoValue) {
  ScopedSignalMask mask({SIGUSR1});
  auto sfd = SignalFd::create({SIGUSR1});
  send_signal(::getpid(), SIGUSR1);
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->code, SI_USER);
  EXPECT_FALSE(got->queued());
  EXPECT_EQ(got->value, 0);
  EXPECT_EQ(got->sender_pid, ::getpid());
}

TEST(SignalFd, ReadReturnsNothingWhenTheDeadlinePasses) {
  ScopedSignalMask mask({SIGUSR2});
  auto sfd = SignalFd::create({SIGUSR2});
  EXPECT_FALSE(sfd.read(Deadline::now()).has_value());
  EXPECT_FALSE(sfd.read(Deadline::after(5ms)).has_value());
}

TEST(SignalFd, ReadsOnlyItsOwnSignals) {
  ScopedSignalMask mask({SIGUSR1, SIGUSR2});
  auto sfd = SignalFd::create({SIGUSR1});
  raise_signal(SIGUSR2);
  EXPECT_FALSE(sfd.read(Deadline::now()).has_value());
  EXPECT_TRUE(pending_signals().contains(SIGUSR2));
  auto other = SignalFd::create({SIGUSR2});
  EXPECT_TRUE(other.read(Deadline::now()).has_value());
}

TEST(SignalFd, ASignalNotBlockedIsRefusedNamingIt) {
  ScopedSignalMask mask({SIGUSR1});
  Error e = error_from([] { (void)SignalFd::create({SIGUSR1, SIGUSR2}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_EQ(e.object(), "SIGUSR2");
  EXPECT_TRUE(contains(e.what(), "not blocked")) << e.what();
  EXPECT_TRUE(contains(e.what(), "ScopedSignalMask")) << e.what();
}

TEST(SignalFd, AnEmptySetIsRefused) {
  Error e = error_from([] { (void)SignalFd::create({}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "empty")) << e.what();
}

// --- the command -------------------------------------------------------------------------

TEST(SignalsCli, ListIsByteForByteWhatBashKillLPrints) {
  auto r = test::run_cli({"signals", "-l"});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_EQ(r.out, test::shell_output("bash -c 'kill -l'"));
}

TEST(SignalsCli, JsonGivesNumberNameActionAndDescription) {
  auto r = test::run_cli({"signals", "--json"});
  ASSERT_EQ(r.status.shell_code(), 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_TRUE(rows.is_array());
  EXPECT_EQ(rows.size(), signal_table().size());
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& row : rows) by_name[row.at("name").get<std::string>()] = row;
  const std::vector<std::pair<std::string, std::string>> expected{
      {"SIGINT", "Term"},  {"SIGCHLD", "Ign"},  {"SIGSEGV", "Core"},
      {"SIGSTOP", "Stop"}, {"SIGCONT", "Cont"}, {"SIGRTMIN+3", "Term"},
  };
  for (const auto& [name, action] : expected) {
    ASSERT_TRUE(by_name.contains(name)) << name;
    EXPECT_EQ(by_name[name].at("action"), action) << name;
    EXPECT_EQ(by_name[name].at("number"), parse_signal(name)) << name;
    EXPECT_FALSE(by_name[name].at("description").get<std::string>().empty());
  }
  EXPECT_EQ(rows.front().at("number"), 1);
  EXPECT_EQ(rows.front().at("description"), signal_info(SIGHUP).description);
}

TEST(SignalsCli, TableShowsEverySignalWithItsAction) {
  auto r = test::run_cli({"signals"});
  ASSERT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_TRUE(contains(r.out, "NAME")) << r.out;
  for (const auto& row : signal_table()) EXPECT_TRUE(contains(r.out, row.name)) << row.name;
  EXPECT_TRUE(contains(r.out, "SIGKILL      Term   Kill signal")) << r.out;
}

TEST(SignalsCli, HelpExplainsTheActions) {
  auto r = test::run_cli({"signals", "--help"});
  EXPECT_EQ(r.status.shell_code(), 0);
  EXPECT_TRUE(contains(r.out, "kill -l")) << r.out;
  EXPECT_TRUE(contains(r.out, "Core")) << r.out;
}

TEST(SignalsCli, ListAndJsonTogetherAreAUsageMistake) {
  auto r = test::run_cli({"signals", "-l", "--json"});
  EXPECT_EQ(r.status.shell_code(), 2) << r.out;
}

static_assert(!std::is_copy_constructible_v<ScopedSignalMask> &&
              !std::is_move_constructible_v<ScopedSignalMask>);
static_assert(!std::is_copy_constructible_v<ScopedSignalHandler>);
static_assert(std::is_nothrow_move_constructible_v<TimerFd> &&
              !std::is_copy_constructible_v<TimerFd>);
static_assert(std::is_nothrow_move_constructible_v<SignalFd> &&
              !std::is_copy_constructible_v<SignalFd>);

}  // namespace
}  // namespace ipckit
