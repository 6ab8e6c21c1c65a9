// Tests of ipckit::TracedChild, ipckit::TraceEvent, open_pidfd and wait_for_exit.
//
// Programs that must stay alive until the test acts are `sleep 1000000`: a target the test
// then signals or kills, never a wait standing in for synchronisation. Faults come from
// python3 (ctypes.string_at(16) reads address 16). Every traced child ends in the test, or
// is killed and reaped by ~TracedChild.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/process.hpp"
#include "test_util.hpp"
#include "trace_util.hpp"

namespace {

using namespace std::chrono_literals;
using ipckit::Deadline;
using ipckit::TracedChild;
using ipckit::TraceEvent;
using ipckit::test::error_from;
using ipckit::test::describe;
using ipckit::test::events_to_the_end;
using ipckit::test::find_event;
using ipckit::test::has_substring;
using Kind = TraceEvent::Kind;

static_assert(!std::is_copy_constructible_v<TracedChild> &&
              !std::is_copy_assignable_v<TracedChild>);
static_assert(std::is_nothrow_move_constructible_v<TracedChild> &&
              std::is_nothrow_move_assignable_v<TracedChild>);

const std::vector<std::string> kSegfault{"python3", "-c", "import ctypes; ctypes.string_at(16)"};
const std::vector<std::string> kLongLived{"sleep", "1000000"};

// Maps a 4096-byte file (argv[1]), writes the mapping's address to argv[1].addr, cuts the
// file to 0 bytes and reads the mapped byte: SIGBUS (BUS_ADRERR) at that address.
const char* const kSigbusScript =
    "import ctypes, mmap, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
    "os.ftruncate(fd, 4096)\n"
    "m = mmap.mmap(fd, 4096)\n"
    "addr = ctypes.addressof(ctypes.c_char.from_buffer(m))\n"
    "with open(sys.argv[1] + '.addr', 'w') as f: f.write(str(addr))\n"
    "os.ftruncate(fd, 0)\n"
    "ctypes.string_at(addr, 1)\n";

// The state letter of /proc/PID/stat: 'R', 'S', 't' (tracing stop), 'T' (stopped), 'Z'...
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

TEST(TracedChild, ExitIsTheOnlyEventOfAProgramThatJustExits) {
  auto traced = TracedChild::spawn({"sh", "-c", "exit 3"});
  TraceEvent e = traced.next();  // neither the start-up hand-shake nor the exec shows
  EXPECT_EQ(e.kind, Kind::exited) << e.to_string();
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.pid, traced.pid());
  EXPECT_EQ(e.to_string(), "exited with 3");
  ASSERT_TRUE(traced.status().has_value());
  EXPECT_EQ(traced.status()->shell_code(), 3);
}

TEST(TracedChild, SignalFromItselfIsReportedWithSenderAndPassedOnToItsHandler) {
  // The trap's handler runs only if the tracer passes SIGUSR1 on: then it exits 7, not 3.
  auto traced = TracedChild::spawn({"sh", "-c", "trap 'exit 7' USR1; kill -USR1 $$; exit 3"});
  auto events = events_to_the_end(traced);
  const TraceEvent* usr1 = find_event(events, Kind::signal, SIGUSR1);
  ASSERT_NE(usr1, nullptr) << describe(events);
  EXPECT_TRUE(usr1->has_sender);
  EXPECT_EQ(usr1->code, SI_USER);
  EXPECT_EQ(usr1->sender_pid, traced.pid());
  EXPECT_EQ(usr1->sender_uid, ::getuid());
  EXPECT_FALSE(usr1->is_fault);
  EXPECT_EQ(usr1->to_string(), "signal SIGUSR1 from pid " + std::to_string(traced.pid()) +
                                   " (uid " + std::to_string(::getuid()) + ")");
  EXPECT_EQ(events.back().kind, Kind::exited) << describe(events);
  EXPECT_EQ(events.back().exit_code, 7) << describe(events);
}

TEST(TracedChild, SignalFromAnotherProcessNamesThatProcessAndKillsAsUntraced) {
  auto traced = TracedChild::spawn(kLongLived);
  ASSERT_EQ(::kill(traced.pid(), SIGUSR1), 0);
  auto events = events_to_the_end(traced);
  const TraceEvent* usr1 = find_event(events, Kind::signal, SIGUSR1);
  ASSERT_NE(usr1, nullptr) << describe(events);
  EXPECT_TRUE(usr1->has_sender);
  EXPECT_EQ(usr1->sender_pid, ::getpid());
  EXPECT_EQ(usr1->sender_uid, ::getuid());
  // Passed on: SIGUSR1's default action ends it, as it would untraced.
  EXPECT_EQ(events.back().kind, Kind::killed);
  EXPECT_EQ(events.back().signo, SIGUSR1);
  EXPECT_EQ(events.back().to_string(), "killed by SIGUSR1");
  EXPECT_EQ(traced.status()->shell_code(), 128 + SIGUSR1);
}

TEST(TracedChild, SigqueueSenderAndValueAreReported) {
  auto traced = TracedChild::spawn(kLongLived);
  sigval value{};
  value.sival_int = 7;
  ASSERT_EQ(::sigqueue(traced.pid(), SIGUSR2, value), 0);
  auto events = events_to_the_end(traced);
  const TraceEvent* usr2 = find_event(events, Kind::signal, SIGUSR2);
  ASSERT_NE(usr2, nullptr) << describe(events);
  EXPECT_EQ(usr2->code, SI_QUEUE);
  EXPECT_TRUE(usr2->has_sender);
  EXPECT_EQ(usr2->sender_pid, ::getpid());
  EXPECT_EQ(usr2->value, 7);
  EXPECT_TRUE(has_substring(usr2->to_string(), "with value 7"));
}

TEST(TracedChild, SegfaultIsReportedWithTheFaultAddressThenKillsIt) {
  auto traced = TracedChild::spawn(kSegfault);
  auto events = events_to_the_end(traced);
  const TraceEvent* fault = find_event(events, Kind::signal, SIGSEGV);
  ASSERT_NE(fault, nullptr) << describe(events);
  EXPECT_TRUE(fault->is_fault);
  EXPECT_FALSE(fault->has_sender);
  EXPECT_EQ(fault->fault_address, 16U);
  EXPECT_EQ(fault->code, SEGV_MAPERR);
  EXPECT_EQ(fault->to_string(), "fault SIGSEGV at 0x0000000000000010 (SEGV_MAPERR)");
  EXPECT_EQ(events.back().kind, Kind::killed) << describe(events);
  EXPECT_EQ(events.back().signo, SIGSEGV);
  EXPECT_EQ(traced.status()->shell_code(), 139);
}

TEST(TracedChild, NonCanonicalAddressFaultIsSiKernelWithNoAddress) {
  // x86-64 raises a general-protection fault, not a page fault, for a non-canonical address:
  // si_code SI_KERNEL and no si_addr. It is still a fault, but 0 is not where it happened.
  auto traced = TracedChild::spawn(
      {"python3", "-c", "import ctypes; ctypes.string_at(0x8000000000000000)"});
  auto events = events_to_the_end(traced);
  const TraceEvent* fault = find_event(events, Kind::signal, SIGSEGV);
  ASSERT_NE(fault, nullptr) << describe(events);
  EXPECT_TRUE(fault->is_fault);
  EXPECT_EQ(fault->code, SI_KERNEL);
  EXPECT_EQ(fault->to_string(), "fault SIGSEGV (SI_KERNEL: general protection, no address given)");
  EXPECT_EQ(traced.status()->shell_code(), 139);
}

TEST(TracedChild, Int3IsAFaultSigtrapWithNoAddress) {
  auto traced = TracedChild::spawn(
      {"python3", "-c",
       "import ctypes, mmap\n"
       "m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
       "m.write(b'\\xcc\\xc3')\n"  // int3; ret
       "ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()\n"});
  auto events = events_to_the_end(traced);
  const TraceEvent* trap = find_event(events, Kind::signal, SIGTRAP);
  ASSERT_NE(trap, nullptr) << describe(events);
  EXPECT_TRUE(trap->is_fault);
  EXPECT_EQ(trap->code, SI_KERNEL);
  EXPECT_EQ(trap->to_string(), "fault SIGTRAP (SI_KERNEL: breakpoint (int3), no address given)");
  EXPECT_EQ(events.back().kind, Kind::killed) << describe(events);
  EXPECT_EQ(events.back().signo, SIGTRAP);
}

TEST(TracedChild, SigbusPastTheEndOfATruncatedMappedFileIsReportedWithItsAddress) {
  ipckit::test::TempDir dir;
  const std::string file = (dir / "mapped").string();
  auto traced = TracedChild::spawn({"python3", "-c", kSigbusScript, file});
  auto events = events_to_the_end(traced);
  const TraceEvent* bus = find_event(events, Kind::signal, SIGBUS);
  ASSERT_NE(bus, nullptr) << describe(events);
  EXPECT_TRUE(bus->is_fault);
  EXPECT_EQ(bus->code, BUS_ADRERR);
  std::ifstream in(file + ".addr");
  unsigned long long address = 0;
  ASSERT_TRUE(in >> address) << "the script did not write the mapping's address";
  EXPECT_EQ(bus->fault_address, address);
  EXPECT_TRUE(has_substring(bus->to_string(), "fault SIGBUS at 0x"));
  EXPECT_TRUE(has_substring(bus->to_string(), "(BUS_ADRERR)"));
  EXPECT_EQ(events.back().kind, Kind::killed) << describe(events);
  EXPECT_EQ(events.back().signo, SIGBUS);
}

TEST(TracedChild, NextFromAnotherThreadThrowsEpermAndTheSpawningThreadGoesOn) {
  auto traced = TracedChild::spawn(kLongLived);
  // A signal waits for the tracer: from another thread, ptrace would fail with ESRCH.
  ASSERT_EQ(::kill(traced.pid(), SIGUSR1), 0);
  ipckit::Error error{"(not run)", "", 0};
  std::thread other([&] { error = error_from([&] { (void)traced.next(); }); });
  other.join();
  EXPECT_EQ(error.errnum(), EPERM);
  EXPECT_TRUE(has_substring(error.what(), "call next() on the thread that called spawn()"));
  auto events = events_to_the_end(traced);  // this thread, the tracer, still can
  EXPECT_NE(find_event(events, Kind::signal, SIGUSR1), nullptr) << describe(events);
  EXPECT_EQ(events.back().kind, Kind::killed) << describe(events);
  EXPECT_EQ(events.back().signo, SIGUSR1);
}

TEST(TracedChild, SpawnedAndFollowedOnAWorkerThreadWorks) {
  std::vector<TraceEvent> events;
  std::thread worker([&] {
    auto traced = TracedChild::spawn({"sh", "-c", "kill -USR2 $$"});
    events = events_to_the_end(traced);
  });
  worker.join();
  ASSERT_FALSE(events.empty());
  EXPECT_NE(find_event(events, Kind::signal, SIGUSR2), nullptr) << describe(events);
  EXPECT_EQ(events.back().kind, Kind::killed) << describe(events);
}

TEST(TracedChild, ScriptWhoseInterpreterIsMissingThrowsEnoentSayingTheFileExists) {
  ipckit::test::TempDir dir;
  const auto script = dir / "script";
  const std::string_view text = "#!/nonexistent/ipckit-interpreter\n";
  ipckit::test::make_file(script, text, text.size());
  ASSERT_EQ(::chmod(script.c_str(), 0700), 0);
  auto e = error_from([&] { (void)TracedChild::spawn({script.string()}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), "exists, but the interpreter on its #! line"));
  EXPECT_FALSE(has_substring(e.what(), "no such program file"));
}

TEST(TracedChild, DirectoryThrowsEaccesSayingItIsADirectory) {
  ipckit::test::TempDir dir;
  auto e = error_from([&] { (void)TracedChild::spawn({dir.path().string()}); });
  EXPECT_EQ(e.errnum(), EACCES);
  EXPECT_TRUE(has_substring(e.what(), "is a directory, not a program"));
}

TEST(TracedChild, SigsegvSentByKillIsASignalFromAProcessNotAFault) {
  auto traced = TracedChild::spawn({"sh", "-c", "kill -SEGV $$"});
  auto events = events_to_the_end(traced);
  const TraceEvent* segv = find_event(events, Kind::signal, SIGSEGV);
  ASSERT_NE(segv, nullptr) << describe(events);
  EXPECT_FALSE(segv->is_fault);
  EXPECT_TRUE(segv->has_sender);
  EXPECT_EQ(segv->sender_pid, traced.pid());
}

TEST(TracedChild, StoppedChildStaysStoppedUntilContinued) {
  auto traced = TracedChild::spawn({"sh", "-c", "kill -STOP $$; exit 4"});
  TraceEvent sig = traced.next();
  EXPECT_EQ(sig.kind, Kind::signal) << sig.to_string();
  EXPECT_EQ(sig.signo, SIGSTOP);
  EXPECT_EQ(sig.sender_pid, traced.pid());
  TraceEvent stop = traced.next();
  ASSERT_EQ(stop.kind, Kind::stopped) << stop.to_string();
  EXPECT_EQ(stop.signo, SIGSTOP);
  EXPECT_EQ(stop.to_string(), "stopped by SIGSTOP");

  // Held stopped (PTRACE_LISTEN), not let run on: were it running, it would have exited.
  const char state = proc_state(traced.pid());
  EXPECT_TRUE(state == 't' || state == 'T') << "state " << state;

  ASSERT_EQ(::kill(traced.pid(), SIGCONT), 0);
  TraceEvent cont = traced.next();
  EXPECT_EQ(cont.kind, Kind::continued) << cont.to_string();
  EXPECT_EQ(cont.to_string(), "continued");
  TraceEvent cont_signal = traced.next();
  EXPECT_EQ(cont_signal.kind, Kind::signal) << cont_signal.to_string();
  EXPECT_EQ(cont_signal.signo, SIGCONT);
  EXPECT_EQ(cont_signal.sender_pid, ::getpid());
  TraceEvent end = traced.next();
  EXPECT_EQ(end.kind, Kind::exited) << end.to_string();
  EXPECT_EQ(end.exit_code, 4);
}

TEST(TracedChild, IgnoredStopSignalIsReportedButDoesNotStopIt) {
  auto traced = TracedChild::spawn({"sh", "-c", "trap '' TSTP; kill -TSTP $$; exit 5"});
  auto events = events_to_the_end(traced);
  EXPECT_NE(find_event(events, Kind::signal, SIGTSTP), nullptr) << describe(events);
  for (const auto& e : events) EXPECT_NE(e.kind, Kind::stopped) << describe(events);
  EXPECT_EQ(events.back().kind, Kind::exited);
  EXPECT_EQ(events.back().exit_code, 5);
}

TEST(TracedChild, ChildEndingIsReportedWithTheChildsPid) {
  auto traced = TracedChild::spawn({"sh", "-c", "sh -c 'exit 2'; exit 0"});
  auto events = events_to_the_end(traced);
  const TraceEvent* chld = find_event(events, Kind::signal, SIGCHLD);
  ASSERT_NE(chld, nullptr) << describe(events);
  EXPECT_EQ(chld->code, CLD_EXITED);
  EXPECT_NE(chld->sender_pid, traced.pid());
  EXPECT_TRUE(has_substring(chld->to_string(),
                            "(child pid " + std::to_string(chld->sender_pid) + " exited)"));
}

TEST(TracedChild, MissingProgramThrowsEnoentNamingPath) {
  auto e = error_from([] { (void)TracedChild::spawn({"ipckit-no-such-program"}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), "ipckit-no-such-program"));
  EXPECT_TRUE(has_substring(e.what(), "PATH"));
}

TEST(TracedChild, MissingProgramPathThrowsEnoent) {
  auto e = error_from([] { (void)TracedChild::spawn({"/nonexistent/ipckit-no-such-program"}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), "no such program file"));
}

TEST(TracedChild, FileThatIsNotExecutableThrowsEacces) {
  ipckit::test::TempDir dir;
  ipckit::test::make_file(dir / "data", "not a program", 13);  // mode 0600: no x bit
  auto e = error_from([&] { (void)TracedChild::spawn({(dir / "data").string()}); });
  EXPECT_EQ(e.errnum(), EACCES);
}

TEST(TracedChild, EmptyArgvThrowsEinval) {
  EXPECT_EQ(error_from([] { (void)TracedChild::spawn({}); }).errnum(), EINVAL);
  EXPECT_EQ(error_from([] { (void)TracedChild::spawn({""}); }).errnum(), EINVAL);
}

TEST(TracedChild, NextAfterTheEndThrowsNamingHowItEnded) {
  auto traced = TracedChild::spawn({"sh", "-c", "exit 1"});
  auto events = events_to_the_end(traced);
  auto e = error_from([&] { (void)traced.next(); });
  EXPECT_EQ(e.errnum(), ECHILD);
  EXPECT_TRUE(has_substring(e.what(), "exited with 1"));
}

TEST(TracedChild, DestroyedWhileRunningIsKilledAndReaped) {
  pid_t pid = -1;
  ipckit::Fd pidfd;
  {
    auto traced = TracedChild::spawn(kLongLived);
    pid = traced.pid();
    pidfd = ipckit::open_pidfd(pid);
    EXPECT_FALSE(ipckit::wait_for_exit(pidfd, Deadline::now()));
  }
  EXPECT_TRUE(ipckit::wait_for_exit(pidfd, Deadline::now()));
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, WNOHANG), -1);  // already reaped: no zombie is left
  EXPECT_EQ(errno, ECHILD);
}

TEST(TracedChild, DestroyedWhileStoppedIsKilledAndReaped) {
  pid_t pid = -1;
  {
    auto traced = TracedChild::spawn({"sh", "-c", "kill -STOP $$"});
    pid = traced.pid();
    EXPECT_EQ(traced.next().kind, Kind::signal);
    EXPECT_EQ(traced.next().kind, Kind::stopped);
  }
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(TracedChild, MovedChildKeepsBeingTraced) {
  auto first = TracedChild::spawn({"sh", "-c", "exit 6"});
  const pid_t pid = first.pid();
  TracedChild second = std::move(first);
  EXPECT_EQ(second.pid(), pid);
  TraceEvent e = second.next();
  EXPECT_EQ(e.kind, Kind::exited);
  EXPECT_EQ(e.exit_code, 6);
  EXPECT_EQ(error_from([&] { (void)first.next(); }).errnum(),
            EINVAL);  // NOLINT(bugprone-use-after-move)
}

TEST(TracedChild, MoveAssignOverRunningChildKillsAndReapsIt) {
  auto running = TracedChild::spawn(kLongLived);
  const pid_t pid = running.pid();
  running = TracedChild::spawn({"sh", "-c", "exit 0"});
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(running.next().kind, Kind::exited);
}

TEST(TraceEvent, ToStringSaysWhatHappened) {
  TraceEvent killed{.kind = Kind::killed, .signo = SIGSEGV, .core_dumped = true};
  EXPECT_EQ(killed.to_string(), "killed by SIGSEGV (core dumped)");
  TraceEvent stopped{.kind = Kind::stopped, .signo = SIGTSTP};
  EXPECT_EQ(stopped.to_string(), "stopped by SIGTSTP");
  TraceEvent bus{.kind = Kind::signal,
                 .signo = SIGBUS,
                 .code = BUS_ADRERR,
                 .is_fault = true,
                 .fault_address = 0x7f0000001000};
  EXPECT_EQ(bus.to_string(), "fault SIGBUS at 0x00007f0000001000 (BUS_ADRERR)");
  TraceEvent timer{.kind = Kind::signal, .signo = SIGALRM, .code = SI_KERNEL};
  EXPECT_EQ(timer.to_string(), "signal SIGALRM (SI_KERNEL)");
  TraceEvent realtime{.kind = Kind::signal,
                      .signo = SIGRTMIN + 3,
                      .code = SI_QUEUE,
                      .has_sender = true,
                      .sender_pid = 42,
                      .sender_uid = 1000,
                      .value = -1};
  EXPECT_EQ(realtime.to_string(), "signal SIGRTMIN+3 from pid 42 (uid 1000) with value -1");
  TraceEvent general_protection{
      .kind = Kind::signal, .signo = SIGSEGV, .code = SI_KERNEL, .is_fault = true};
  EXPECT_EQ(general_protection.to_string(),
            "fault SIGSEGV (SI_KERNEL: general protection, no address given)");
  TraceEvent reserved{.kind = Kind::signal, .signo = 32, .code = SI_KERNEL};  // glibc's own
  EXPECT_EQ(reserved.to_string(), "signal 32 (SI_KERNEL)");
}

TEST(Pidfd, WaitForExitIsFalseWhileRunningThenTrueOnceEnded) {
  auto child = ipckit::Child::spawn(
      {.argv = {"cat"}, .in = ipckit::Stdio::pipe(), .out = ipckit::Stdio::null()});
  ipckit::Fd pidfd = ipckit::open_pidfd(child.pid());
  EXPECT_TRUE(pidfd.cloexec());
  EXPECT_FALSE(ipckit::wait_for_exit(pidfd, Deadline::now()));
  EXPECT_FALSE(ipckit::wait_for_exit(pidfd, Deadline::after(1ms)));
  child.stdin_pipe().reset();  // cat sees end of stream and exits
  EXPECT_TRUE(ipckit::wait_for_exit(pidfd, Deadline::after(30s)));
  EXPECT_TRUE(child.wait().success());
}

TEST(Pidfd, OpenPidfdOfNoSuchProcessThrowsEsrch) {
  // pid_max itself is never given to a process: pids run below it.
  const auto pid_max =
      static_cast<pid_t>(std::stol(ipckit::test::shell_output("cat /proc/sys/kernel/pid_max")));
  auto e = error_from([&] { (void)ipckit::open_pidfd(pid_max); });
  EXPECT_EQ(e.errnum(), ESRCH);
  EXPECT_TRUE(has_substring(e.what(), "pid " + std::to_string(pid_max)));
}

TEST(Pidfd, OpenPidfdOfPidZeroThrowsEinval) {
  EXPECT_EQ(error_from([] { (void)ipckit::open_pidfd(0); }).errnum(), EINVAL);
}

TEST(Pidfd, WaitForExitOnAnEmptyFdThrowsEbadf) {
  EXPECT_EQ(error_from([] { (void)ipckit::wait_for_exit(ipckit::Fd{}); }).errnum(), EBADF);
}

}  // namespace

namespace {

TEST(FindProgram, FindsWhatExecvpWouldRunInPathOrAsGiven) {
  const auto sh = ipckit::find_program("sh");
  ASSERT_TRUE(sh.has_value());
  EXPECT_EQ(sh->filename(), "sh");
  EXPECT_TRUE(std::filesystem::exists(*sh));
  EXPECT_EQ(ipckit::find_program("/bin/sh"), std::filesystem::path("/bin/sh"));
  EXPECT_FALSE(ipckit::find_program("ipckit-no-such-program").has_value());
  EXPECT_FALSE(ipckit::find_program("/nonexistent/ipckit-program").has_value());
  EXPECT_FALSE(ipckit::find_program("").has_value());
}

}  // namespace
