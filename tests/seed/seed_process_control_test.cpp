// Conformance: the seed's purposes of IPC that are about processes themselves, on the real
// kernel: I2 event notification (a parent learns that a child ended) through pidfds, and I4
// process control (a controlling process sees another's traps, exceptions and state changes)
// through ipckit::TracedChild.
//
// Processes that must live until the test acts block reading a pipe the test holds, or are
// `sleep 1000000` that the test signals; nothing sleeps to synchronise. Every child is reaped
// (Child::wait, ~Child, ~TracedChild); a grandchild ends when the test closes its pipe.

#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "ipckit/signal.hpp"
#include "test_util.hpp"
#include "trace_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using Kind = TraceEvent::Kind;
using test::describe;
using test::events_to_the_end;
using test::find_event;

constexpr auto kPatience = 30s;  // only a bug makes a bounded wait give up

TEST(SeedProcess, I2_ParentLearnsChildEndedThroughPidfdWithoutSigchld) {
  // No SIGCHLD handler, and SIGCHLD blocked: the pidfd alone can tell us.
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGCHLD, nullptr, &current), 0);
  ASSERT_EQ(current.sa_handler, SIG_DFL);
  ScopedSignalMask no_sigchld({SIGCHLD});

  auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::null()});
  ASSERT_TRUE(child.pidfd().valid()) << "pidfd_open is missing (kernel before 5.3)";
  EXPECT_EQ(test::poll_in(child.pidfd(), 0), 0) << "readable while the child runs";
  EXPECT_FALSE(wait_for_exit(child.pidfd(), Deadline::now()));

  child.stdin_pipe().reset();  // cat reads end of stream and exits
  EXPECT_NE(test::poll_in(child.pidfd(), static_cast<int>(kPatience / 1ms)) & POLLIN, 0);
  EXPECT_TRUE(wait_for_exit(child.pidfd(), Deadline::now()));
  EXPECT_FALSE(child.reaped());  // the pidfd tells; wait() reaps
  EXPECT_TRUE(child.wait().success());
}

TEST(SeedProcess, I2_WatcherLearnsThatAProcessNotItsChildEndedThroughOpenPidfd) {
  // sh starts `cat` in the background and exits: cat, reading the test's pipe, lives on as a
  // process that is not the test's child. Its pid cannot be reused while the pipe is open.
  Pipe gate = Pipe::create();
  auto sh = Child::spawn({.argv = {"sh", "-c", "exec 3<&0; cat <&3 >/dev/null 3<&- & echo $!"},
                          .in = Stdio::from(gate.read_end),
                          .out = Stdio::pipe()});
  gate.read_end.reset();
  const std::string printed = read_all(sh.stdout_pipe());
  ASSERT_TRUE(sh.wait().success());
  const auto cat_pid = static_cast<pid_t>(std::stol(printed));

  Fd pidfd = open_pidfd(cat_pid);
  EXPECT_TRUE(pidfd.cloexec());
  EXPECT_EQ(::waitpid(cat_pid, nullptr, WNOHANG), -1) << "cat should not be our child";
  EXPECT_EQ(errno, ECHILD);
  EXPECT_FALSE(wait_for_exit(pidfd, Deadline::now())) << "readable while cat runs";

  gate.write_end.reset();  // cat reads end of stream and exits
  EXPECT_TRUE(wait_for_exit(pidfd, Deadline::after(kPatience)));
}

TEST(SeedProcess, I4_TracerSeesChildSignalsAndFaults) {
  // An exception: a read of address 16 faults; the tracer sees where, then the death.
  auto faulting = TracedChild::spawn({"python3", "-c", "import ctypes; ctypes.string_at(16)"});
  auto fault_events = events_to_the_end(faulting);
  const TraceEvent* fault = find_event(fault_events, Kind::signal, SIGSEGV);
  ASSERT_NE(fault, nullptr) << describe(fault_events);
  EXPECT_TRUE(fault->is_fault);
  EXPECT_EQ(fault->fault_address, 16U);
  EXPECT_EQ(fault->code, SEGV_MAPERR);
  EXPECT_EQ(fault_events.back().kind, Kind::killed);
  EXPECT_EQ(fault_events.back().signo, SIGSEGV);

  // A signal from another process (this one): the tracer sees who sent it.
  auto signalled = TracedChild::spawn({"sleep", "1000000"});
  ASSERT_EQ(::kill(signalled.pid(), SIGUSR1), 0);
  auto signal_events = events_to_the_end(signalled);
  const TraceEvent* usr1 = find_event(signal_events, Kind::signal, SIGUSR1);
  ASSERT_NE(usr1, nullptr) << describe(signal_events);
  EXPECT_TRUE(usr1->has_sender);
  EXPECT_EQ(usr1->sender_pid, ::getpid());
  EXPECT_EQ(usr1->sender_uid, ::getuid());
  EXPECT_EQ(signal_events.back().kind, Kind::killed);
  EXPECT_EQ(signal_events.back().signo, SIGUSR1);
}

TEST(SeedProcess, I4_TracerSeesStoppedContinuedAndExited) {
  auto traced = TracedChild::spawn({"sh", "-c", "kill -STOP $$; exit 4"});
  EXPECT_EQ(traced.next().signo, SIGSTOP);
  TraceEvent stopped = traced.next();
  ASSERT_EQ(stopped.kind, Kind::stopped) << stopped.to_string();
  EXPECT_EQ(stopped.signo, SIGSTOP);
  ASSERT_EQ(::kill(traced.pid(), SIGCONT), 0);
  EXPECT_EQ(traced.next().kind, Kind::continued);
  EXPECT_EQ(traced.next().signo, SIGCONT);
  TraceEvent exited = traced.next();
  EXPECT_EQ(exited.kind, Kind::exited) << exited.to_string();
  EXPECT_EQ(exited.exit_code, 4);
}

TEST(SeedProcess, I4_TracerSeesAChildKilledBySignalAndPassesCaughtSignalsOn) {
  // Caught: the handler runs (exit 9 rather than 0), so the tracer passed the signal on.
  auto caught = TracedChild::spawn({"sh", "-c", "trap 'exit 9' TERM; kill -TERM $$; exit 0"});
  auto caught_events = events_to_the_end(caught);
  EXPECT_NE(find_event(caught_events, Kind::signal, SIGTERM), nullptr) << describe(caught_events);
  EXPECT_EQ(caught_events.back().kind, Kind::exited);
  EXPECT_EQ(caught_events.back().exit_code, 9);

  // Not caught: it dies of it, and the tracer sees the death with the signal.
  auto killed = TracedChild::spawn({"sh", "-c", "kill -TERM $$"});
  auto killed_events = events_to_the_end(killed);
  EXPECT_EQ(killed_events.back().kind, Kind::killed) << describe(killed_events);
  EXPECT_EQ(killed_events.back().signo, SIGTERM);
  EXPECT_EQ(killed.status()->shell_code(), 128 + SIGTERM);
}

}  // namespace
}  // namespace ipckit
