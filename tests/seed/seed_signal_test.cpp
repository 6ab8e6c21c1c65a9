// Conformance: the seed's claims about signals (信号), S1–S12, on the real kernel, through
// ipckit's signal API.
//
// Signal state is per process (dispositions, alarm, interval timer) or per thread (mask): every
// test changes it only through scoped types (ScopedSignalMask, ScopedSignalHandler) or guards
// that put it back (StopTimers), and each test runs in its own process anyway. Children are
// Forked and always reaped. Waits on timers and signals carry a deadline only as a safety net;
// no test measures a duration.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "ipckit/deadline.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "ipckit/signal.hpp"
#include "signal_util.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::Forked;

// A safety net for waits that should end quickly; never the thing tested.
Deadline safety_net() {
  return Deadline::after(10s);
}

using test::StopTimers;

// What a handler saw. Lock-free atomics are async-signal-safe to store to.
std::atomic<int> g_deliveries{0};
std::atomic<int> g_last_signo{0};
std::atomic<pid_t> g_last_pid{0};
std::atomic<int> g_last_code{0};
std::atomic<int> g_last_value{0};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free);

void record(int signo, siginfo_t* info, void* /*context*/) {
  g_last_signo.store(signo);
  g_last_pid.store(info->si_pid);
  g_last_code.store(info->si_code);
  g_last_value.store(info->si_value.sival_int);
  g_deliveries.fetch_add(1);
}

void reset_record() {
  g_deliveries = 0;
  g_last_signo = 0;
  g_last_pid = 0;
  g_last_code = 0;
  g_last_value = 0;
}

// In a forked child: put `signo` back to its default action and unblock it, so the kernel's
// own action is what happens (the sanitizers install handlers for SIGSEGV, SIGFPE...), and
// keep the child from writing a core file.
void kernel_default_for(int signo) {
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  default_signal_action(signo);
  sigset_t one;
  ::sigemptyset(&one);
  ::sigaddset(&one, signo);
  ::pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
}

// Where the kernel writes core files ("core": the dumping process's folder).
std::string sys_core_pattern() {
  std::ifstream in("/proc/sys/kernel/core_pattern");
  std::string pattern;
  std::getline(in, pattern);
  return pattern;
}

// --- S1: the list, numbers and names both ways ---------------------------------------------

TEST(SeedSignal, S1_StandardSignalsHaveTheNotesNumbers) {
  // The notes' table (x86 and ARM share these numbers).
  const std::map<int, std::string> notes{
      {1, "SIGHUP"},     {2, "SIGINT"},   {3, "SIGQUIT"},   {4, "SIGILL"},   {5, "SIGTRAP"},
      {6, "SIGABRT"},    {7, "SIGBUS"},   {8, "SIGFPE"},    {9, "SIGKILL"},  {10, "SIGUSR1"},
      {11, "SIGSEGV"},   {12, "SIGUSR2"}, {13, "SIGPIPE"},  {14, "SIGALRM"}, {15, "SIGTERM"},
      {16, "SIGSTKFLT"}, {17, "SIGCHLD"}, {18, "SIGCONT"},  {19, "SIGSTOP"}, {20, "SIGTSTP"},
      {21, "SIGTTIN"},   {22, "SIGTTOU"}, {23, "SIGURG"},   {24, "SIGXCPU"}, {25, "SIGXFSZ"},
      {26, "SIGVTALRM"}, {27, "SIGPROF"}, {28, "SIGWINCH"}, {29, "SIGIO"},   {30, "SIGPWR"},
      {31, "SIGSYS"},
  };
  for (const auto& [number, name] : notes) {
    EXPECT_EQ(signal_name(number), name);
    EXPECT_EQ(parse_signal(name), number) << name;
  }
  EXPECT_EQ(signal_table().front().number, 1);
  EXPECT_EQ(signal_table().back().number, SIGRTMAX);
  EXPECT_EQ(signal_name(SIGRTMIN), "SIGRTMIN");
  EXPECT_EQ(signal_name(SIGRTMAX), "SIGRTMAX");
}

TEST(SeedSignal, S1_TableIsWhatBashKillLPrints) {
  // bash prints "N) NAME" entries separated by tabs and newlines.
  std::istringstream listing(test::shell_output("bash -c 'kill -l'"));
  std::vector<std::pair<int, std::string>> from_bash;
  std::string number;
  std::string name;
  while (std::getline(listing >> std::ws, number, ')') >> name)
    from_bash.emplace_back(std::stoi(number), name);
  ASSERT_FALSE(from_bash.empty());

  std::vector<std::pair<int, std::string>> ours;
  for (const auto& row : signal_table()) ours.emplace_back(row.number, row.name);
  EXPECT_EQ(ours, from_bash);
}

TEST(SeedSignal, S1_NamesAndNumbersConvertBothWaysAsBashDoes) {
  // `kill -l NAME` prints the number, `kill -l NUMBER` the name without "SIG".
  std::string script;
  for (const auto& row : signal_table())
    script += "kill -l " + row.name + "; kill -l " + std::to_string(row.number) + "; ";
  std::istringstream answers(test::shell_output("bash -c '" + script + "'"));
  for (const auto& row : signal_table()) {
    int number = 0;
    std::string short_name;
    answers >> number >> short_name;
    EXPECT_EQ(number, row.number) << row.name;
    EXPECT_EQ("SIG" + short_name, row.name);
    EXPECT_EQ(parse_signal(row.name), row.number);
    EXPECT_EQ(parse_signal(short_name), row.number);
    EXPECT_EQ(parse_signal(std::to_string(row.number)), row.number);
    EXPECT_EQ(signal_name(row.number), row.name);
  }
}

// --- S2: where signals come from ------------------------------------------------------------

TEST(SeedSignal, S2_CtrlCOnTheControllingTerminalSendsSigint) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master == -1) GTEST_SKIP() << "no pseudo-terminals here: " << std::strerror(errno);
  Fd master_fd{master};
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  char slave_path[128];
  ASSERT_EQ(::ptsname_r(master, slave_path, sizeof slave_path), 0);

  auto ready = Pipe::create();
  Forked child([&] {
    kernel_default_for(SIGINT);
    // A new session with this pty as its controlling terminal; the child's group is then
    // the terminal's foreground group, the one the line discipline signals.
    if (::setsid() == -1) return 3;
    Fd slave{::open(slave_path, O_RDWR)};
    if (!slave) return 4;
    test::notify(ready.write_end);
    for (;;) ::pause();
  });
  ASSERT_TRUE(test::await(ready.read_end));
  // What the keyboard sends when a user presses Ctrl+C: the byte 0x03 (VINTR).
  ASSERT_EQ(::write(master, "\x03", 1), 1);
  ExitStatus status = child.wait();
  EXPECT_FALSE(status.exited) << status.to_string();
  EXPECT_EQ(status.signal, SIGINT) << status.to_string();
}

TEST(SeedSignal, S2_BadMemoryAccessKillsWithSigsegv) {
  Forked child([] {
    kernel_default_for(SIGSEGV);
    // A page with no access at all: touching it is a fault the hardware reports.
    void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return 3;
    *static_cast<volatile int*>(page) = 1;
    return 0;
  });
  ExitStatus status = child.wait();
  EXPECT_FALSE(status.exited) << status.to_string();
  EXPECT_EQ(status.signal, SIGSEGV) << status.to_string();
}

#if defined(__x86_64__) || defined(__i386__)
// UBSan would catch the division first; the point is what the CPU does.
__attribute__((no_sanitize("undefined"))) int divide(int a, int b) {
  return a / b;
}
#endif

TEST(SeedSignal, S2_IntegerDivisionByZeroKillsWithSigfpe) {
#if defined(__x86_64__) || defined(__i386__)
  Forked child([] {
    kernel_default_for(SIGFPE);
    volatile int zero = 0;
    volatile int result = divide(1, zero);
    return result;
  });
  ExitStatus status = child.wait();
  EXPECT_FALSE(status.exited) << status.to_string();
  EXPECT_EQ(status.signal, SIGFPE) << status.to_string();
#else
  GTEST_SKIP() << "integer division by zero does not trap on this CPU (arm64 returns 0)";
#endif
}

TEST(SeedSignal, S2_AlarmSendsSigalrmFromTheKernel) {
  StopTimers stop;
  ScopedSignalMask mask({SIGALRM});
  auto sfd = SignalFd::create({SIGALRM});
  (void)set_alarm(1);
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->signo, SIGALRM);
  EXPECT_EQ(got->sender_pid, 0) << "the kernel sent it, not a process";
}

TEST(SeedSignal, S2_AChildEndingSendsSigchldToItsParent) {
  ScopedSignalMask mask({SIGCHLD});
  auto sfd = SignalFd::create({SIGCHLD});
  Forked child([] { return 7; });
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->signo, SIGCHLD);
  EXPECT_EQ(got->sender_pid, child.pid());
  EXPECT_EQ(got->code, CLD_EXITED);
  EXPECT_EQ(child.wait().code, 7);
}

TEST(SeedSignal, S2_KillSendsASignalFromAProcess) {
  ScopedSignalMask mask({SIGUSR1});
  auto sfd = SignalFd::create({SIGUSR1});
  const pid_t parent = ::getpid();
  Forked child([parent] {
    send_signal(parent, SIGUSR1);
    return 0;
  });
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->signo, SIGUSR1);
  EXPECT_EQ(got->code, SI_USER);
  EXPECT_EQ(got->sender_pid, child.pid());
  EXPECT_TRUE(child.wait().success());
}

// --- S3: default actions ---------------------------------------------------------------------

// Every signal's default action, as man 7 signal lists it (the standard signals; every
// real-time signal is Term), compared with the library's table row by row.
TEST(SeedSignal, S3_EveryDefaultActionIsTermIgnCoreStopOrCont) {
  const std::map<std::string, std::string> man7{
      {"SIGABRT", "Core"}, {"SIGALRM", "Term"},   {"SIGBUS", "Core"},    {"SIGCHLD", "Ign"},
      {"SIGCONT", "Cont"}, {"SIGFPE", "Core"},    {"SIGHUP", "Term"},    {"SIGILL", "Core"},
      {"SIGINT", "Term"},  {"SIGIO", "Term"},     {"SIGKILL", "Term"},   {"SIGPIPE", "Term"},
      {"SIGPROF", "Term"}, {"SIGPWR", "Term"},    {"SIGQUIT", "Core"},   {"SIGSEGV", "Core"},
      {"SIGSTKFLT", "Term"}, {"SIGSTOP", "Stop"}, {"SIGTSTP", "Stop"},   {"SIGSYS", "Core"},
      {"SIGTERM", "Term"}, {"SIGTRAP", "Core"},   {"SIGTTIN", "Stop"},   {"SIGTTOU", "Stop"},
      {"SIGURG", "Ign"},   {"SIGUSR1", "Term"},   {"SIGUSR2", "Term"},   {"SIGVTALRM", "Term"},
      {"SIGXCPU", "Core"}, {"SIGXFSZ", "Core"},   {"SIGWINCH", "Ign"},
  };
  std::size_t standard = 0;
  for (const auto& row : signal_table()) {
    if (row.number >= SIGRTMIN && row.number <= SIGRTMAX) {
      EXPECT_STREQ(to_string(row.action), "Term") << row.name;
      continue;
    }
    ++standard;
    const auto it = man7.find(row.name);
    ASSERT_NE(it, man7.end()) << row.name << " is not a signal of man 7 signal";
    EXPECT_EQ(to_string(row.action), it->second) << row.name;
  }
  EXPECT_EQ(standard, man7.size()) << "every standard signal of man 7 signal is in the table";
  EXPECT_EQ(signal_info(SIGTERM).action, SignalAction::terminate);
  EXPECT_EQ(signal_info(SIGCHLD).action, SignalAction::ignore);
  EXPECT_EQ(signal_info(SIGQUIT).action, SignalAction::core);
  EXPECT_EQ(signal_info(SIGTSTP).action, SignalAction::stop);
  EXPECT_EQ(signal_info(SIGCONT).action, SignalAction::cont);
}

TEST(SeedSignal, S3_TermEndsAProcessWithoutCore) {
  Forked child([] {
    kernel_default_for(SIGUSR2);
    raise_signal(SIGUSR2);
    return 0;
  });
  ExitStatus status = child.wait();
  EXPECT_EQ(status.signal, SIGUSR2) << status.to_string();
  EXPECT_FALSE(status.core_dumped);
}

TEST(SeedSignal, S3_IgnLeavesTheProcessRunning) {
  Forked child([] {
    for (int signo : {SIGCHLD, SIGURG, SIGWINCH}) {
      kernel_default_for(signo);
      raise_signal(signo);  // the default action is to do nothing
    }
    return 0;
  });
  EXPECT_TRUE(child.wait().success());
}

TEST(SeedSignal, S3_CoreEndsTheProcessAndDumpsCore) {
  const std::string pattern = sys_core_pattern();
  if (pattern.empty() || pattern.front() == '|' || pattern.find('/') != std::string::npos)
    GTEST_SKIP() << "core files go elsewhere here (core_pattern \"" << pattern << "\")";
  // A small program, so its core is small; the shell raises the core limit for itself and
  // writes the core into a folder that the test removes.
  test::TempDir dir;
  auto child = Child::spawn(
      {.argv = {"sh", "-c", "ulimit -c unlimited 2>/dev/null || exit 9; kill -s QUIT $$"},
       .cwd = dir.path()});
  ExitStatus status = child.wait();
  if (status.exited && status.code == 9)
    GTEST_SKIP() << "the core size limit cannot be raised here";
  EXPECT_EQ(status.signal, SIGQUIT) << status.to_string();
  EXPECT_TRUE(status.core_dumped) << status.to_string();
}

TEST(SeedSignal, S3_StopStopsAndContContinues) {
  auto ready = Pipe::create();
  auto go_on = Pipe::create();
  Forked child([&] {
    // A group of its own whose parent is in another group of the session: not an orphaned
    // group, for which the kernel would discard SIGTSTP.
    if (::setpgid(0, 0) == -1) return 3;
    kernel_default_for(SIGTSTP);
    test::notify(ready.write_end);
    (void)test::await(go_on.read_end);
    return 0;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  send_signal(child.pid(), SIGTSTP);
  int status = 0;
  ASSERT_EQ(::waitpid(child.pid(), &status, WUNTRACED), child.pid());
  ASSERT_TRUE(WIFSTOPPED(status));
  EXPECT_EQ(WSTOPSIG(status), SIGTSTP);

  send_signal(child.pid(), SIGCONT);
  ASSERT_EQ(::waitpid(child.pid(), &status, WCONTINUED), child.pid());
  EXPECT_TRUE(WIFCONTINUED(status));
  test::notify(go_on.write_end);
  EXPECT_TRUE(child.wait().success());
}

// --- S4: SIGKILL and SIGSTOP -----------------------------------------------------------------

TEST(SeedSignal, S4_SigkillAndSigstopCannotBeCaughtBlockedOrIgnored) {
  for (int signo : {SIGKILL, SIGSTOP}) {
    std::vector<std::function<void()>> attempts{
        [&] { ScopedSignalHandler handler(signo, record); },
        [&] { ignore_signal(signo); },
        [&] { ScopedSignalMask mask({signo}); },
        [&] { ScopedSignalMask mask(SignalSet::full(), ScopedSignalMask::How::set); },
        [&] { (void)SignalFd::create({signo}); },
    };
    for (const auto& attempt : attempts) {
      Error e = test::error_from(attempt);
      EXPECT_EQ(e.errnum(), EINVAL) << e.what();
      EXPECT_NE(std::string(e.what()).find("cannot be caught, blocked or ignored"),
                std::string::npos)
          << e.what();
    }
  }
  // And the kernel agrees: asking it directly fails, or is silently not done.
  struct sigaction action {};
  action.sa_handler = SIG_IGN;
  EXPECT_EQ(::sigaction(SIGKILL, &action, nullptr), -1);
  EXPECT_EQ(errno, EINVAL);
  sigset_t kill_only;
  ::sigemptyset(&kill_only);
  ::sigaddset(&kill_only, SIGKILL);
  sigset_t before;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &kill_only, &before), 0);
  EXPECT_FALSE(signal_mask().contains(SIGKILL)) << "the kernel dropped it without a word";
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &before, nullptr), 0);
}

TEST(SeedSignal, S4_SigkillEndsAProcessThatBlocksEverythingElse) {
  auto ready = Pipe::create();
  Forked child([&]() -> int {
    ScopedSignalMask mask(SignalSet::blockable());
    for (int signo : {SIGTERM, SIGINT, SIGHUP}) ignore_signal(signo);
    test::notify(ready.write_end);
    for (;;) ::pause();
  });
  ASSERT_TRUE(test::await(ready.read_end));
  send_signal(child.pid(), SIGTERM);  // held back
  send_signal(child.pid(), SIGKILL);  // not
  ExitStatus status = child.wait();
  EXPECT_EQ(status.signal, SIGKILL) << status.to_string();
}

// --- S5, S6: generated, pending, delivered --------------------------------------------------

TEST(SeedSignal, S5_ASignalIsGeneratedThenPendingThenDelivered) {
  reset_record();
  ScopedSignalHandler handler(SIGUSR1, record);
  {
    ScopedSignalMask mask({SIGUSR1});
    raise_signal(SIGUSR1);  // generated
    EXPECT_TRUE(pending_signals().contains(SIGUSR1)) << "pending";
    EXPECT_EQ(g_deliveries.load(), 0);
  }  // unblocked: delivered before the mask call returns
  EXPECT_EQ(g_deliveries.load(), 1) << "delivered";
  EXPECT_EQ(g_last_signo.load(), SIGUSR1);
  EXPECT_FALSE(pending_signals().contains(SIGUSR1));
}

TEST(SeedSignal, S6_ABlockedSignalStaysPendingAndUnblockingDeliversIt) {
  reset_record();
  ScopedSignalHandler handler(SIGUSR2, record);
  const pid_t parent = ::getpid();
  {
    ScopedSignalMask mask({SIGUSR2});
    Forked sender([parent] {
      send_signal(parent, SIGUSR2);
      return 0;
    });
    ASSERT_TRUE(sender.wait().success());  // sent, for sure, and the sender is gone
    EXPECT_TRUE(pending_signals().contains(SIGUSR2));
    EXPECT_EQ(g_deliveries.load(), 0) << "a blocked signal is not delivered, and not lost";
  }
  EXPECT_EQ(g_deliveries.load(), 1);
  EXPECT_EQ(g_last_code.load(), SI_USER);
  EXPECT_NE(g_last_pid.load(), 0);
  EXPECT_NE(g_last_pid.load(), parent) << "the sender's pid, kept while it was pending";
}

// --- S7: the calls ---------------------------------------------------------------------------

TEST(SeedSignal, S7_KillSignalsAnotherProcess) {
  auto ready = Pipe::create();
  Forked child([&]() -> int {
    kernel_default_for(SIGTERM);
    test::notify(ready.write_end);
    for (;;) ::pause();
  });
  ASSERT_TRUE(test::await(ready.read_end));
  send_signal(child.pid(), SIGTERM);
  EXPECT_EQ(child.wait().signal, SIGTERM);
}

TEST(SeedSignal, S7_RaiseRunsTheHandlerBeforeReturning) {
  reset_record();
  ScopedSignalHandler handler(SIGUSR1, record);
  raise_signal(SIGUSR1);
  EXPECT_EQ(g_deliveries.load(), 1);
  EXPECT_EQ(g_last_code.load(), SI_TKILL);
}

void return_from_abort_handler(int, siginfo_t*, void*) {}

TEST(SeedSignal, S7_AbortEndsTheProcessWithSigabrtEvenWhenCaught) {
  Forked child([]() -> int {
    kernel_default_for(SIGABRT);
    ScopedSignalHandler handler(SIGABRT, return_from_abort_handler);
    abort_process();
  });
  ExitStatus status = child.wait();
  EXPECT_FALSE(status.exited) << status.to_string();
  EXPECT_EQ(status.signal, SIGABRT) << status.to_string();
}

TEST(SeedSignal, S7_AlarmAndSetitimerDeliverSigalrmToAHandler) {
  StopTimers stop;
  reset_record();
  ScopedSignalHandler handler(SIGALRM, record);
  ScopedSignalMask mask({SIGALRM});
  sigset_t alarm_only = SignalSet{SIGALRM}.native();
  siginfo_t info{};
  timespec net{10, 0};

  (void)set_alarm(1);
  ASSERT_EQ(::sigtimedwait(&alarm_only, &info, &net), SIGALRM);

  (void)set_interval_timer({.initial = 1ms});
  ASSERT_EQ(::sigtimedwait(&alarm_only, &info, &net), SIGALRM);

  // Now through the handler (sigaction): wait with SIGALRM unblocked until it has run
  // (ppoll swaps the mask atomically, so the signal cannot slip in before the wait).
  (void)set_interval_timer({.initial = 1ms});
  sigset_t unblocked = signal_mask().remove(SIGALRM).native();
  const int rc = ::ppoll(nullptr, 0, &net, &unblocked);
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(errno, EINTR) << "woken by the handler, not by the 10 s safety net";
  EXPECT_EQ(g_deliveries.load(), 1);
  EXPECT_EQ(g_last_signo.load(), SIGALRM);
}

TEST(SeedSignal, S7_SignalAndSigactionInstallHandlers) {
  reset_record();
  // signal(2), the old way: no sender information.
  auto* old = ::signal(SIGUSR2, [](int signo) { g_last_signo.store(signo); });
  ASSERT_NE(old, SIG_ERR);
  raise_signal(SIGUSR2);
  EXPECT_EQ(g_last_signo.load(), SIGUSR2);
  ::signal(SIGUSR2, old);
  // sigaction(2) with SA_SIGINFO, scoped.
  {
    ScopedSignalHandler handler(SIGUSR2, record);
    raise_signal(SIGUSR2);
    EXPECT_EQ(g_deliveries.load(), 1);
    EXPECT_EQ(g_last_pid.load(), ::getpid());
  }
}

// --- S8: sets and masks ----------------------------------------------------------------------

TEST(SeedSignal, S8_SetsEmptyFillAddDeleteIsMember) {
  SignalSet set = SignalSet::empty();
  EXPECT_TRUE(set.is_empty());
  set.add(SIGINT).add(SIGRTMIN + 1);
  EXPECT_TRUE(set.contains(SIGINT));
  EXPECT_TRUE(set.contains(SIGRTMIN + 1));
  EXPECT_FALSE(set.contains(SIGTERM));
  set.remove(SIGINT);
  EXPECT_FALSE(set.contains(SIGINT));
  EXPECT_EQ(set.signals(), std::vector<int>{SIGRTMIN + 1});

  SignalSet full = SignalSet::full();
  for (const auto& row : signal_table()) EXPECT_TRUE(full.contains(row.number)) << row.name;
  EXPECT_EQ(full.signals().size(), signal_table().size());
}

TEST(SeedSignal, S8_SigprocmaskBlocksUnblocksAndSetsTheMask) {
  const SignalSet before = signal_mask();
  ASSERT_FALSE(before.contains(SIGUSR1));
  {
    ScopedSignalMask block({SIGUSR1, SIGUSR2});
    EXPECT_TRUE(signal_mask().contains(SIGUSR1));
    EXPECT_TRUE(signal_mask().contains(SIGUSR2));
    {
      ScopedSignalMask unblock({SIGUSR2}, ScopedSignalMask::How::unblock);
      EXPECT_TRUE(signal_mask().contains(SIGUSR1));
      EXPECT_FALSE(signal_mask().contains(SIGUSR2));
      {
        ScopedSignalMask set({SIGHUP}, ScopedSignalMask::How::set);
        EXPECT_EQ(signal_mask(), (SignalSet{SIGHUP}));
      }
      EXPECT_FALSE(signal_mask().contains(SIGUSR2));
    }
    EXPECT_TRUE(signal_mask().contains(SIGUSR2));
  }
  EXPECT_EQ(signal_mask(), before);
}

TEST(SeedSignal, S8_SigpendingListsSignalsHeldBack) {
  ScopedSignalMask block({SIGUSR1, SIGRTMIN + 2});
  EXPECT_FALSE(pending_signals().contains(SIGUSR1));
  raise_signal(SIGUSR1);
  queue_signal(::getpid(), SIGRTMIN + 2, 5);
  EXPECT_EQ(pending_signals(), (SignalSet{SIGUSR1, SIGRTMIN + 2}));
  // Take them, so they are not delivered when the mask goes.
  auto sfd = SignalFd::create({SIGUSR1, SIGRTMIN + 2});
  while (sfd.read(Deadline::now())) {
  }
  EXPECT_TRUE(pending_signals().is_empty());
}

// --- S9: one integer -------------------------------------------------------------------------

TEST(SeedSignal, S9_SigqueueCarriesOneIntegerToTheReceiver) {
  static_assert(sizeof(sigval) == sizeof(void*),
                "si_value is one int or one pointer, nothing more");
  ScopedSignalMask mask({SIGUSR1});
  auto sfd = SignalFd::create({SIGUSR1});
  const pid_t parent = ::getpid();
  Forked child([parent] {
    queue_signal(parent, SIGUSR1, 424242);
    return 0;
  });
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value, 424242);
  EXPECT_TRUE(got->queued());
  EXPECT_EQ(got->sender_pid, child.pid());
  EXPECT_EQ(got->sender_uid, ::getuid());
  EXPECT_TRUE(child.wait().success());
}

TEST(SeedSignal, S9_AHandlerReadsTheValueFromSiginfo) {
  reset_record();
  ScopedSignalHandler handler(SIGUSR2, record);
  {
    ScopedSignalMask mask({SIGUSR2});
    queue_signal(::getpid(), SIGUSR2, -17);
  }
  EXPECT_EQ(g_deliveries.load(), 1);
  EXPECT_EQ(g_last_value.load(), -17);
  EXPECT_EQ(g_last_code.load(), SI_QUEUE);
}

// --- S10: standard signals do not queue, real-time ones do ------------------------------------

TEST(SeedSignal, S10_StandardSignalSentThriceWhileBlockedArrivesOnce) {
  ScopedSignalMask mask({SIGUSR1});
  auto sfd = SignalFd::create({SIGUSR1});
  for (int i = 1; i <= 3; ++i) queue_signal(::getpid(), SIGUSR1, i);
  auto first = sfd.read(safety_net());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->signo, SIGUSR1);
  EXPECT_EQ(first->value, 1) << "the first one is kept, the later ones are dropped";
  EXPECT_FALSE(sfd.read(Deadline::now()).has_value()) << "only one of three arrived";
}

TEST(SeedSignal, S10_StandardSignalFromKillThriceArrivesOnceToAHandler) {
  reset_record();
  ScopedSignalHandler handler(SIGUSR2, record);
  {
    ScopedSignalMask mask({SIGUSR2});
    for (int i = 0; i < 3; ++i) send_signal(::getpid(), SIGUSR2);
  }
  EXPECT_EQ(g_deliveries.load(), 1);
}

TEST(SeedSignal, S10_RealtimeSignalSentThriceArrivesThriceInOrderWithValues) {
  const int rt = SIGRTMIN + 1;
  ScopedSignalMask mask({rt});
  auto sfd = SignalFd::create({rt});
  for (int value : {10, 20, 30}) queue_signal(::getpid(), rt, value);
  for (int value : {10, 20, 30}) {
    auto got = sfd.read(safety_net());
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->signo, rt);
    EXPECT_EQ(got->value, value);
  }
  EXPECT_FALSE(sfd.read(Deadline::now()).has_value());
}

TEST(SeedSignal, S10_LowerRealtimeSignalsAreDeliveredFirst) {
  ScopedSignalMask mask({SIGRTMIN + 4, SIGRTMIN + 2});
  auto sfd = SignalFd::create({SIGRTMIN + 4, SIGRTMIN + 2});
  queue_signal(::getpid(), SIGRTMIN + 4, 4);
  queue_signal(::getpid(), SIGRTMIN + 2, 2);
  auto first = sfd.read(safety_net());
  auto second = sfd.read(safety_net());
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->signo, SIGRTMIN + 2);
  EXPECT_EQ(second->signo, SIGRTMIN + 4);
}

// --- S11: one alarm ---------------------------------------------------------------------------

TEST(SeedSignal, S11_ANewAlarmReplacesTheOldAndReturnsItsSecondsLeft) {
  StopTimers stop;
  (void)set_alarm(0);
  EXPECT_EQ(set_alarm(100), 0u) << "no alarm was set";
  const unsigned left = set_alarm(50);
  EXPECT_GT(left, 0u);
  EXPECT_LE(left, 100u);
  const unsigned left_of_second = set_alarm(0);
  EXPECT_GT(left_of_second, 0u);
  EXPECT_LE(left_of_second, 50u) << "the 100 s alarm is gone: the process has one alarm";
  EXPECT_EQ(set_alarm(0), 0u) << "cancelled";
}

TEST(SeedSignal, S11_OnlyTheLastAlarmFires) {
  StopTimers stop;
  ScopedSignalMask mask({SIGALRM});
  auto sfd = SignalFd::create({SIGALRM});
  (void)set_alarm(100);
  EXPECT_GT(set_alarm(1), 0u);
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->signo, SIGALRM);
  EXPECT_EQ(interval_timer().initial, 0us) << "nothing else is set: the 100 s alarm was replaced";
  EXPECT_EQ(set_alarm(0), 0u);
}

// --- S12: setitimer ---------------------------------------------------------------------------

TEST(SeedSignal, S12_SetitimerWithoutIntervalSendsSigalrmOnce) {
  StopTimers stop;
  ScopedSignalMask mask({SIGALRM});
  auto sfd = SignalFd::create({SIGALRM});
  (void)set_interval_timer({.initial = 2ms});
  auto got = sfd.read(safety_net());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->signo, SIGALRM);
  const TimerSetting left = interval_timer();
  EXPECT_EQ(left.initial, 0us) << "disarmed after one expiry";
  EXPECT_EQ(left.interval, 0us);
  EXPECT_FALSE(pending_signals().contains(SIGALRM));
}

TEST(SeedSignal, S12_SetitimerWithIntervalSendsSigalrmPeriodically) {
  StopTimers stop;
  ScopedSignalMask mask({SIGALRM});
  auto sfd = SignalFd::create({SIGALRM});
  (void)set_interval_timer({.initial = 2ms, .interval = 2ms});
  EXPECT_EQ(interval_timer().interval, 2ms);
  for (int i = 0; i < 3; ++i) {
    auto got = sfd.read(safety_net());
    ASSERT_TRUE(got.has_value()) << "expiry " << i;
    EXPECT_EQ(got->signo, SIGALRM);
  }
  const TimerSetting before = set_interval_timer({});
  EXPECT_EQ(before.interval, 2ms) << "still armed, periodic";
  EXPECT_EQ(interval_timer().initial, 0us) << "stopped";
}

}  // namespace
}  // namespace ipckit
