// Tests of ipckit::Child, ipckit::Stdio, ipckit::ExitStatus and ipckit::Pipeline.
//
// Every child is reaped: either by wait() or by ~Child (which kills and reaps). Children that
// must stay alive for a while block on a pipe the test holds (a "gate"), and end when the
// test closes it; nothing here sleeps to synchronise or asserts on timing.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using ipckit::Child;
using ipckit::Deadline;
using ipckit::Error;
using ipckit::ExitStatus;
using ipckit::Fd;
using ipckit::Pipe;
using ipckit::Pipeline;
using ipckit::Stdio;
using ipckit::test::error_from;
using ipckit::test::has_substring;
using ipckit::test::TempDir;

static_assert(!std::is_copy_constructible_v<Child> && !std::is_copy_assignable_v<Child>);
static_assert(std::is_nothrow_move_constructible_v<Child> &&
              std::is_nothrow_move_assignable_v<Child>);

// Long enough that only a bug makes a bounded wait give up.
constexpr auto kPatience = 30s;

void write_text(const Fd& fd, std::string_view text) {
  auto r = fd.write_all(std::as_bytes(std::span{text.data(), text.size()}));
  ASSERT_TRUE(r.ok()) << ipckit::to_string(r.status);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Waits at most kPatience; a child still running then is a failure (and is killed by ~Child).
ExitStatus wait_bounded(Child& child) {
  auto status = child.wait(Deadline::after(kPatience));
  if (!status) {
    ADD_FAILURE() << "child " << child.pid() << " still running after " << kPatience.count()
                  << " s";
    return ExitStatus{};
  }
  return *status;
}

// True when this process has no child at all, running or unreaped.
bool no_children_left() {
  errno = 0;
  return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

// A child that runs until the test lets it go: `cat` reading a pipe the test holds, so it
// ends (exit 0) exactly when `gate.write_end` is closed.
struct GatedChild {
  Pipe gate = Pipe::create();
  Child child =
      Child::spawn({.argv = {"cat"}, .in = Stdio::from(gate.read_end), .out = Stdio::null()});
  GatedChild() { gate.read_end.reset(); }
  void release() { gate.write_end.reset(); }
};

// Sets an environment variable of this process until scope exit. The tests are
// single-threaded, so setenv cannot race with a getenv elsewhere.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    ::setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe)
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() { ::unsetenv(name_); }  // NOLINT(concurrency-mt-unsafe)

 private:
  const char* name_;
};

// Restores one signal's disposition on scope exit.
class ScopedSignalAction {
 public:
  ScopedSignalAction(int sig, void (*handler)(int)) : sig_(sig) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    ::sigaction(sig_, &sa, &old_);
  }
  ScopedSignalAction(const ScopedSignalAction&) = delete;
  ScopedSignalAction& operator=(const ScopedSignalAction&) = delete;
  ~ScopedSignalAction() { ::sigaction(sig_, &old_, nullptr); }

 private:
  int sig_;
  struct sigaction old_ {};
};

// Blocks one signal in this thread until scope exit.
class ScopedBlock {
 public:
  explicit ScopedBlock(int sig) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    ::pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ScopedBlock(const ScopedBlock&) = delete;
  ScopedBlock& operator=(const ScopedBlock&) = delete;
  ~ScopedBlock() { ::pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_{};
};

// --- standard streams ------------------------------------------------------------------

TEST(Child, StdoutPipeCapturesOutput) {
  auto child = Child::spawn({.argv = {"echo", "hello", "world"}, .out = Stdio::pipe()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "hello world\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, StdoutPipeCarriesOutputLargerThanThePipe) {
  // seq prints about 1.3 MB: far more than a pipe holds, so the child blocks until we read.
  const std::string expected = ipckit::test::shell_output("seq 1 200000");
  auto child = Child::spawn({.argv = {"seq", "1", "200000"}, .out = Stdio::pipe()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), expected);
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, StdinPipeFeedsTheChild) {
  auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::pipe()});
  write_text(child.stdin_pipe(), "one\n");
  std::array<std::byte, 4> echoed{};
  ASSERT_TRUE(child.stdout_pipe().read_exact(echoed).ok());
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(echoed.data()), echoed.size()), "one\n");
  write_text(child.stdin_pipe(), "two\n");
  child.stdin_pipe().reset();  // end of stream for cat: it copies what is left and exits
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "two\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, ClosingStdinPipeGivesChildEndOfStream) {
  // wc -l prints its count only once its input ends.
  auto child = Child::spawn({.argv = {"wc", "-l"}, .in = Stdio::pipe(), .out = Stdio::pipe()});
  write_text(child.stdin_pipe(), "a\nb\nc\n");
  child.stdin_pipe().reset();
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "3\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, WaitClosesStdinSoAReadingChildEnds) {
  auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::null()});
  write_text(child.stdin_pipe(), "ignored\n");
  ExitStatus status = child.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
  EXPECT_FALSE(child.stdin_pipe().valid());
}

TEST(Child, StderrPipeCapturesErrorsApartFromOutput) {
  auto child = Child::spawn({.argv = {"sh", "-c", "echo out; echo oops >&2"},
                             .out = Stdio::pipe(),
                             .err = Stdio::pipe()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "out\n");
  EXPECT_EQ(ipckit::read_all(child.stderr_pipe()), "oops\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, PipesNotAskedForStayEmpty) {
  auto child = Child::spawn({.argv = {"true"}, .out = Stdio::null()});
  EXPECT_FALSE(child.stdin_pipe().valid());
  EXPECT_FALSE(child.stdout_pipe().valid());
  EXPECT_FALSE(child.stderr_pipe().valid());
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, StdinFromFileFeedsTheChild) {
  TempDir dir;
  write_file(dir / "in.txt", "from a file\n");
  auto child =
      Child::spawn({.argv = {"cat"}, .in = Stdio::file(dir / "in.txt"), .out = Stdio::pipe()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "from a file\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, StdinFromMissingFileThrowsNamingPath) {
  TempDir dir;
  const auto missing = dir / "missing.txt";
  Error e = error_from([&] { (void)Child::spawn({.argv = {"cat"}, .in = Stdio::file(missing)}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), missing.string()));
  EXPECT_TRUE(has_substring(e.what(), "stdin"));
}

TEST(Child, StdoutToFileTruncatesIt) {
  TempDir dir;
  write_file(dir / "out.txt", "old content, longer than the new one\n");
  auto child = Child::spawn({.argv = {"echo", "new"}, .out = Stdio::file(dir / "out.txt")});
  EXPECT_TRUE(child.wait().success());
  EXPECT_EQ(read_file(dir / "out.txt"), "new\n");
}

TEST(Child, StdoutToFileCreatesItWithMode0644BeforeUmask) {
  TempDir dir;
  mode_t old_umask = ::umask(022);
  auto child = Child::spawn({.argv = {"echo", "made"}, .out = Stdio::file(dir / "new.txt")});
  ::umask(old_umask);
  EXPECT_TRUE(child.wait().success());
  EXPECT_EQ(read_file(dir / "new.txt"), "made\n");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "new.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(Child, StdoutToFileAppendsWhenAsked) {
  TempDir dir;
  write_file(dir / "log.txt", "first\n");
  for (const char* word : {"second", "third"}) {
    auto child = Child::spawn({.argv = {"echo", word}, .out = Stdio::file(dir / "log.txt", true)});
    EXPECT_TRUE(child.wait().success());
  }
  EXPECT_EQ(read_file(dir / "log.txt"), "first\nsecond\nthird\n");
}

TEST(Child, StderrToFileKeepsStdoutApart) {
  TempDir dir;
  auto child = Child::spawn({.argv = {"sh", "-c", "echo out; echo err >&2"},
                             .out = Stdio::pipe(),
                             .err = Stdio::file(dir / "err.txt")});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "out\n");
  EXPECT_TRUE(child.wait().success());
  EXPECT_EQ(read_file(dir / "err.txt"), "err\n");
}

TEST(Child, StdinNullGivesImmediateEndOfStream) {
  auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::null(), .out = Stdio::pipe()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, StdoutNullIsDevNull) {
  // $$ is the shell: its own stdout, not readlink's.
  auto child = Child::spawn(
      {.argv = {"sh", "-c", R"(echo lost; t=$(readlink /proc/$$/fd/1); echo "$t" >&2)"},
       .out = Stdio::null(),
       .err = Stdio::pipe()});
  EXPECT_EQ(ipckit::read_all(child.stderr_pipe()), "/dev/null\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, StdoutFromDescriptorWritesIntoIt) {
  Pipe p = Pipe::create();
  auto child = Child::spawn({.argv = {"echo", "from child"}, .out = Stdio::from(p.write_end)});
  EXPECT_TRUE(child.wait().success());
  // The caller keeps its own descriptor: it is still open and usable.
  ASSERT_TRUE(p.write_end.valid());
  write_text(p.write_end, "from parent\n");
  p.write_end.reset();
  EXPECT_EQ(ipckit::read_all(p.read_end), "from child\nfrom parent\n");
}

TEST(Child, StdinFromDescriptorReadsFromIt) {
  Pipe p = Pipe::create();
  write_text(p.write_end, "through a borrowed descriptor\n");
  p.write_end.reset();
  auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::from(p.read_end), .out = Stdio::pipe()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "through a borrowed descriptor\n");
  EXPECT_TRUE(child.wait().success());
  EXPECT_TRUE(p.read_end.valid());
}

TEST(Child, StdioFromClosedDescriptorThrows) {
  Fd none;
  Error e = error_from([&] { (void)Child::spawn({.argv = {"cat"}, .in = Stdio::from(none)}); });
  EXPECT_EQ(e.errnum(), EBADF);
  EXPECT_TRUE(has_substring(e.what(), "stdin"));
}

// A process whose stdin is closed (a daemon, say) gets descriptor 0 for its next pipe; that
// descriptor is close-on-exec like every ipckit descriptor, so handing it to a child as stdin
// must still reach the child.
TEST(Child, StdinFromDescriptorNumberedZeroReachesTheChild) {
  ipckit::test::Forked forked([] {
    ::close(0);
    Pipe p = Pipe::create();
    if (p.read_end.get() != 0) return 10;
    write_text(p.write_end, "hello");
    p.write_end.reset();
    auto child = Child::spawn({.argv = {"cat"},
                               .in = Stdio::from(p.read_end),
                               .out = Stdio::pipe(),
                               .err = Stdio::null()});
    std::string out = ipckit::read_all(child.stdout_pipe());
    ExitStatus status = child.wait();
    if (out != "hello") return 11;
    return status.success() ? 0 : 12;
  });
  EXPECT_EQ(forked.wait().shell_code(), 0)
      << "10: set-up failed; 11: cat did not get the bytes (its stdin was closed at exec); "
         "12: cat failed";
}

// --- working directory and environment ------------------------------------------------

TEST(Child, RunsInTheGivenWorkingDirectory) {
  TempDir dir;
  auto child = Child::spawn({.argv = {"pwd"}, .out = Stdio::pipe(), .cwd = dir.path()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()),
            std::filesystem::canonical(dir.path()).string() + "\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, RelativeProgramPathIsResolvedInTheChildsWorkingDirectory) {
  // POSIX leaves it open; glibc's posix_spawn changes directory before exec, as a shell's
  // `cd dir && ./prog` does.
  TempDir dir;
  write_file(dir / "hello.sh", "#!/bin/sh\necho hello from the script\n");
  std::filesystem::permissions(dir / "hello.sh", std::filesystem::perms::owner_all);
  auto child = Child::spawn({.argv = {"./hello.sh"}, .out = Stdio::pipe(), .cwd = dir.path()});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "hello from the script\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, MissingWorkingDirectoryThrowsNamingIt) {
  TempDir dir;
  const auto missing = dir / "no-such-dir";
  Error e = error_from([&] { (void)Child::spawn({.argv = {"true"}, .cwd = missing}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), missing.string()));
  EXPECT_TRUE(no_children_left());
}

TEST(Child, WorkingDirectoryThatIsAFileThrowsEnotdir) {
  TempDir dir;
  write_file(dir / "file", "x");
  Error e = error_from([&] { (void)Child::spawn({.argv = {"true"}, .cwd = dir / "file"}); });
  EXPECT_EQ(e.errnum(), ENOTDIR);
  EXPECT_TRUE(has_substring(e.what(), (dir / "file").string()));
}

TEST(Child, EnvEntriesAreAddedAndReplaceInheritedOnes) {
  ScopedEnv kept("IPCKIT_T_KEPT", "kept");
  ScopedEnv replaced("IPCKIT_T_REPLACED", "old");
  auto child = Child::spawn(
      {.argv = {"sh", "-c",
                R"(printf '%s|%s|%s' "$IPCKIT_T_KEPT" "$IPCKIT_T_REPLACED" "$IPCKIT_T_ADDED")"},
       .out = Stdio::pipe(),
       .env = {"IPCKIT_T_REPLACED=new", "IPCKIT_T_ADDED=added"}});
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "kept|new|added");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, EnvReplacementLeavesOneEntryPerName) {
  ScopedEnv once("IPCKIT_T_ONCE", "old");
  auto child = Child::spawn({.argv = {"env"}, .out = Stdio::pipe(), .env = {"IPCKIT_T_ONCE=new"}});
  std::istringstream lines(ipckit::read_all(child.stdout_pipe()));
  EXPECT_TRUE(child.wait().success());
  int entries = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("IPCKIT_T_ONCE=", 0) == 0) {
      ++entries;
      EXPECT_EQ(line, "IPCKIT_T_ONCE=new");
    }
  }
  EXPECT_EQ(entries, 1);
}

// --- how it ended ------------------------------------------------------------------------

TEST(Child, ExitCodeIsReported) {
  auto child = Child::spawn({.argv = {"sh", "-c", "exit 7"}});
  ExitStatus status = child.wait();
  EXPECT_TRUE(status.exited);
  EXPECT_EQ(status.code, 7);
  EXPECT_EQ(status.signal, 0);
  EXPECT_FALSE(status.success());
  EXPECT_EQ(status.shell_code(), 7);
  EXPECT_EQ(status.to_string(), "exited with 7");
  EXPECT_TRUE(child.reaped());
}

TEST(Child, KilledBySignalReportsSignalAndShellCode) {
  auto child = Child::spawn({.argv = {"sh", "-c", "kill -KILL $$"}});
  ExitStatus status = child.wait();
  EXPECT_FALSE(status.exited);
  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_FALSE(status.success());
  EXPECT_EQ(status.shell_code(), 128 + SIGKILL);
  EXPECT_EQ(status.to_string(), "killed by SIGKILL");
}

TEST(Child, WaitAgainReturnsTheSameStatus) {
  auto child = Child::spawn({.argv = {"sh", "-c", "exit 3"}});
  EXPECT_EQ(child.wait().code, 3);
  EXPECT_EQ(child.wait().code, 3);
  auto again = child.wait(Deadline::now());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->code, 3);
}

TEST(ExitStatus, ToStringSaysHowTheProcessEnded) {
  EXPECT_EQ(ExitStatus::from_wait_status(W_EXITCODE(0, 0)).to_string(), "exited with 0");
  EXPECT_EQ(ExitStatus::from_wait_status(W_EXITCODE(255, 0)).to_string(), "exited with 255");
  EXPECT_EQ(ExitStatus::from_wait_status(W_EXITCODE(0, SIGKILL)).to_string(), "killed by SIGKILL");
  EXPECT_EQ(ExitStatus::from_wait_status(W_EXITCODE(0, SIGTERM)).to_string(), "killed by SIGTERM");
  EXPECT_EQ(ExitStatus::from_wait_status(W_EXITCODE(0, SIGSEGV) | WCOREFLAG).to_string(),
            "killed by SIGSEGV (core dumped)");
  EXPECT_EQ(ExitStatus::from_wait_status(W_EXITCODE(0, SIGRTMIN + 1)).to_string(),
            "killed by SIGRTMIN+1");
}

TEST(ExitStatus, FromWaitStatusDecodesEachField) {
  ExitStatus exited = ExitStatus::from_wait_status(W_EXITCODE(42, 0));
  EXPECT_TRUE(exited.exited);
  EXPECT_EQ(exited.code, 42);
  EXPECT_EQ(exited.shell_code(), 42);
  EXPECT_FALSE(exited.success());

  ExitStatus cored = ExitStatus::from_wait_status(W_EXITCODE(0, SIGABRT) | WCOREFLAG);
  EXPECT_FALSE(cored.exited);
  EXPECT_EQ(cored.signal, SIGABRT);
  EXPECT_TRUE(cored.core_dumped);
  EXPECT_EQ(cored.shell_code(), 128 + SIGABRT);

  EXPECT_TRUE(ExitStatus::from_wait_status(0).success());
}

TEST(Child, WaitWithDeadlineReturnsNothingWhileRunningThenTheStatus) {
  GatedChild gated;
  EXPECT_FALSE(gated.child.wait(Deadline::now()).has_value());
  EXPECT_FALSE(gated.child.wait(Deadline::after(10ms)).has_value());
  EXPECT_FALSE(gated.child.reaped());
  gated.release();
  auto status = gated.child.wait(Deadline::after(kPatience));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->success()) << status->to_string();
  EXPECT_TRUE(gated.child.reaped());
}

// A timed wait is how a caller asks "has it ended yet?" between two writes; it must not take
// the child's stdin away (only the blocking wait() closes it, as documented).
TEST(Child, WaitWithDeadlineLeavesStdinOpenWhileChildRuns) {
  auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::pipe()});
  write_text(child.stdin_pipe(), "first\n");
  EXPECT_FALSE(child.wait(Deadline::now()).has_value());
  ASSERT_TRUE(child.stdin_pipe().valid()) << "wait(Deadline) closed the child's stdin";
  write_text(child.stdin_pipe(), "second\n");
  child.stdin_pipe().reset();
  EXPECT_EQ(ipckit::read_all(child.stdout_pipe()), "first\nsecond\n");
  EXPECT_TRUE(child.wait().success());
}

TEST(Child, PidfdBecomesReadableWhenChildEndsWithoutSigchld) {
  // No SIGCHLD handler, and SIGCHLD blocked: the pidfd alone tells us.
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGCHLD, nullptr, &current), 0);
  ASSERT_EQ(current.sa_handler, SIG_DFL);
  ScopedBlock no_sigchld(SIGCHLD);

  GatedChild gated;
  ASSERT_TRUE(gated.child.pidfd().valid()) << "pidfd_open is missing (kernel before 5.3)";
  EXPECT_TRUE(gated.child.pidfd().cloexec());
  EXPECT_EQ(ipckit::test::poll_in(gated.child.pidfd(), 0), 0) << "readable while the child runs";
  gated.release();
  EXPECT_NE(ipckit::test::poll_in(gated.child.pidfd(), static_cast<int>(kPatience / 1ms)) & POLLIN, 0);
  EXPECT_FALSE(gated.child.reaped());  // poll only tells; wait() reaps
  EXPECT_TRUE(gated.child.wait().success());
}

TEST(Child, KillSendsTheSignalThroughThePidfd) {
  GatedChild gated;
  ASSERT_TRUE(gated.child.pidfd().valid());
  gated.child.kill(SIGTERM);
  ExitStatus status = wait_bounded(gated.child);
  EXPECT_FALSE(status.exited);
  EXPECT_EQ(status.signal, SIGTERM);
  EXPECT_EQ(status.shell_code(), 128 + SIGTERM);
  EXPECT_EQ(status.to_string(), "killed by SIGTERM");
}

TEST(Child, KillAfterReapingThrowsEsrch) {
  auto child = Child::spawn({.argv = {"true"}});
  ASSERT_TRUE(child.wait().success());
  Error e = error_from([&] { child.kill(SIGTERM); });
  EXPECT_EQ(e.errnum(), ESRCH);
  EXPECT_TRUE(has_substring(e.what(), std::to_string(child.pid())));
}

TEST(Child, DestroyedWhileRunningIsKilledAndReaped) {
  pid_t pid = -1;
  {
    auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::null()});
    pid = child.pid();
    ASSERT_GT(pid, 0);
  }
  errno = 0;
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "the child is still ours: not reaped";
  EXPECT_EQ(errno, ECHILD);
  EXPECT_TRUE(no_children_left());
}

TEST(Child, MoveAssignOverRunningChildKillsAndReapsIt) {
  GatedChild first;
  pid_t first_pid = first.child.pid();
  first.child = Child::spawn({.argv = {"true"}});
  errno = 0;
  EXPECT_EQ(::waitpid(first_pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
  EXPECT_TRUE(first.child.wait().success());
}

TEST(Child, MovedChildKeepsItsPipesAndStatus) {
  auto child = Child::spawn({.argv = {"echo", "moved"}, .out = Stdio::pipe()});
  pid_t pid = child.pid();
  Child moved = std::move(child);
  EXPECT_EQ(moved.pid(), pid);
  EXPECT_EQ(ipckit::read_all(moved.stdout_pipe()), "moved\n");
  EXPECT_TRUE(moved.wait().success());
}

// --- what the child starts with --------------------------------------------------------

TEST(Child, StartsWithSigpipeAtDefaultEvenWhenParentIgnoresIt) {
  ScopedSignalAction ignore(SIGPIPE, SIG_IGN);
  auto child = Child::spawn({.argv = {"yes"}, .out = Stdio::pipe()});
  std::array<std::byte, 64> some{};
  ASSERT_TRUE(child.stdout_pipe().read_exact(some).ok());
  child.stdout_pipe().reset();  // yes's next write finds no reader
  ExitStatus status = wait_bounded(child);
  EXPECT_EQ(status.signal, SIGPIPE) << status.to_string();
  EXPECT_EQ(status.shell_code(), 141);
}

TEST(Child, StartsWithNoSignalBlockedEvenWhenParentBlocksSome) {
  ScopedBlock blocked(SIGTERM);
  GatedChild gated;
  gated.child.kill(SIGTERM);
  ExitStatus status = wait_bounded(gated.child);
  EXPECT_EQ(status.signal, SIGTERM) << status.to_string();
}

TEST(Child, DoesNotInheritParentDescriptors) {
  // Descriptors ipckit opened in this process: a pipe, another child's stdin and pidfd.
  Pipe p = Pipe::create();
  auto other = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::null()});
  ASSERT_TRUE(p.read_end.cloexec() && p.write_end.cloexec() && other.stdin_pipe().cloexec());
  // Whoever started this test may have left it descriptors without close-on-exec (a CI
  // runner's log pipe, say); any exec passes those on, and they are not ipckit's.
  std::set<int> expected{0, 1, 2};
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::stoi(entry.path().filename().string());
    int flags = ::fcntl(fd, F_GETFD);
    if (flags != -1 && (flags & FD_CLOEXEC) == 0) expected.insert(fd);
  }
  // ls itself opens /proc/self/fd, on the lowest number free in the child.
  int own = 0;
  while (expected.contains(own)) ++own;
  expected.insert(own);

  auto child = Child::spawn({.argv = {"ls", "/proc/self/fd"}, .out = Stdio::pipe()});
  std::istringstream listing(ipckit::read_all(child.stdout_pipe()));
  ASSERT_TRUE(child.wait().success());
  std::set<int> seen;
  for (int fd = 0; listing >> fd;) seen.insert(fd);

  auto show = [](const std::set<int>& fds) {
    std::string out;
    for (int fd : fds) out += std::to_string(fd) + " ";
    return out;
  };
  EXPECT_EQ(seen, expected) << "the child saw: " << show(seen) << "\nexpected: " << show(expected)
                            << "\nipckit descriptors open here: " << p.read_end.get() << " "
                            << p.write_end.get() << " " << other.stdin_pipe().get() << " "
                            << other.pidfd().get();
  EXPECT_TRUE(other.wait().success());
}

TEST(Child, SecondChildDoesNotHoldFirstChildsStdin) {
  // If the second child held a copy of the first one's stdin, the first would never see
  // end of stream and this wait would hang.
  auto first = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::null()});
  GatedChild second;
  first.stdin_pipe().reset();
  EXPECT_TRUE(wait_bounded(first).success());
  second.release();
  EXPECT_TRUE(wait_bounded(second.child).success());
}

// --- errors at spawn -------------------------------------------------------------------

TEST(Child, SpawnMissingProgramThrowsNamingProgramAndPath) {
  Error e = error_from([] { (void)Child::spawn({.argv = {"ipckit-t-no-such-program"}}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_EQ(e.object(), "ipckit-t-no-such-program");
  EXPECT_TRUE(has_substring(e.what(), "ipckit-t-no-such-program"));
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
  ASSERT_NE(path, nullptr);
  EXPECT_TRUE(has_substring(e.what(), path));
  EXPECT_TRUE(no_children_left());
}

TEST(Child, SpawnMissingProgramPathThrowsEnoent) {
  TempDir dir;
  const auto missing = (dir / "no-such-program").string();
  Error e = error_from([&] { (void)Child::spawn({.argv = {missing}}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), missing));
}

TEST(Child, SpawnNonExecutableFileThrowsEacces) {
  TempDir dir;
  const auto script = dir / "not-executable.sh";
  write_file(script, "#!/bin/sh\necho should not run\n");
  std::filesystem::permissions(
      script, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  Error e = error_from([&] { (void)Child::spawn({.argv = {script.string()}}); });
  EXPECT_EQ(e.errnum(), EACCES);
  EXPECT_TRUE(has_substring(e.what(), script.string()));
  EXPECT_TRUE(has_substring(e.what(), "not executable"));
}

TEST(Child, SpawnFileWithoutInterpreterLineThrowsEnoexec) {
  TempDir dir;
  const auto junk = dir / "junk";
  write_file(junk, "this is not a program\n");
  std::filesystem::permissions(junk, std::filesystem::perms::owner_all);
  Error e = error_from([&] { (void)Child::spawn({.argv = {junk.string()}}); });
  EXPECT_EQ(e.errnum(), ENOEXEC);
  EXPECT_TRUE(has_substring(e.what(), junk.string()));
}

TEST(Child, SpawnEmptyArgvThrows) {
  Error e = error_from([] { (void)Child::spawn({}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has_substring(e.what(), "argv"));
  Error blank = error_from([] { (void)Child::spawn({.argv = {""}}); });
  EXPECT_EQ(blank.errnum(), EINVAL);
}

TEST(Child, WaitWithSigchldIgnoredThrowsEchildNamingTheCause) {
  // With SIGCHLD set to SIG_IGN the kernel reaps children itself; waitpid then fails.
  ScopedSignalAction ignore(SIGCHLD, SIG_IGN);
  auto child = Child::spawn({.argv = {"true"}});
  Error e = error_from([&] { (void)child.wait(); });
  EXPECT_EQ(e.errnum(), ECHILD);
  EXPECT_TRUE(has_substring(e.what(), "SIGCHLD"));
}

// --- Pipeline --------------------------------------------------------------------------

TEST(Pipeline, LsWcOutputEqualsTheShells) {
  auto result = Pipeline{{"ls"}, {"wc", "-l"}}.run();
  EXPECT_EQ(result.output, ipckit::test::shell_output("ls | wc -l"));
  EXPECT_TRUE(result.success());
  ASSERT_EQ(result.statuses.size(), 2u);
  EXPECT_EQ(result.commands, (std::vector<std::string>{"ls", "wc -l"}));
}

TEST(Pipeline, LsWcOfAFolderCountsItsEntries) {
  TempDir dir;
  for (const char* name : {"a", "b c", "d.txt", ".hidden"}) write_file(dir / name, "");
  auto result = Pipeline{{"ls", dir.path().string()}, {"wc", "-l"}}.run();
  EXPECT_EQ(result.output, ipckit::test::shell_output("ls '" + dir.path().string() + "' | wc -l"));
  EXPECT_EQ(result.output, "3\n");
  EXPECT_TRUE(result.success());
}

TEST(Pipeline, ThreeStagesChainInOrder) {
  auto result = Pipeline{{"printf", R"(b\na\nc\nb\n)"}, {"sort"}, {"uniq", "-c"}}.run();
  EXPECT_EQ(result.output, ipckit::test::shell_output(R"(printf 'b\na\nc\nb\n' | sort | uniq -c)"));
  EXPECT_TRUE(result.success());
  EXPECT_EQ(result.statuses.size(), 3u);
}

TEST(Pipeline, OutputLargerThanAPipeArrivesWhole) {
  auto result = Pipeline{{"seq", "1", "200000"}, {"cat"}, {"cat"}}.run();
  EXPECT_EQ(result.output, ipckit::test::shell_output("seq 1 200000"));
  EXPECT_TRUE(result.success());
}

TEST(Pipeline, ReportsEachStagesStatus) {
  auto result =
      Pipeline{{"sh", "-c", "echo a; exit 3"}, {"cat"}, {"sh", "-c", "cat; exit 5"}}.run();
  EXPECT_EQ(result.output, "a\n");
  ASSERT_EQ(result.statuses.size(), 3u);
  EXPECT_EQ(result.statuses[0].code, 3);
  EXPECT_TRUE(result.statuses[1].success());
  EXPECT_EQ(result.statuses[2].code, 5);
  EXPECT_FALSE(result.success());
}

TEST(Pipeline, FailingStageMakesSuccessFalseAndCheckThrowNamingIt) {
  auto result = Pipeline{{"true"}, {"false"}, {"cat"}}.run();
  EXPECT_FALSE(result.success());
  EXPECT_FALSE(result.statuses[1].success());
  EXPECT_TRUE(result.statuses[0].success());
  EXPECT_TRUE(result.statuses[2].success());
  Error e = error_from([&] { (void)result.check(); });
  EXPECT_EQ(e.errnum(), 0);
  EXPECT_TRUE(has_substring(e.what(), "stage 2"));
  EXPECT_TRUE(has_substring(e.what(), "`false`"));
  EXPECT_TRUE(has_substring(e.what(), "exited with 1"));
}

TEST(Pipeline, FailingFirstStageIsNamedByCheck) {
  auto result = Pipeline{{"false"}, {"cat"}}.run();
  EXPECT_FALSE(result.success());
  Error e = error_from([&] { (void)result.check(); });
  EXPECT_TRUE(has_substring(e.what(), "stage 1"));
  EXPECT_TRUE(has_substring(e.what(), "false | cat"));
}

TEST(Pipeline, CheckReturnsTheResultWhenEveryStageSucceeded) {
  auto result = Pipeline{{"echo", "ok"}, {"cat"}}.run();
  EXPECT_NO_THROW((void)result.check());
  EXPECT_EQ(&result.check(), &result);
}

TEST(Pipeline, ProducerOutlivedByConsumerIsKilledBySigpipeAndReported) {
  // `yes | head -n 1`: head ends after one line; yes then writes into a pipe with no reader.
  // It dies of SIGPIPE (only if this process keeps no copy of the pipe), as under a shell.
  ScopedSignalAction ignore(SIGPIPE, SIG_IGN);
  auto result = Pipeline{{"yes"}, {"head", "-n", "1"}}.run();
  EXPECT_EQ(result.output, "y\n");
  EXPECT_EQ(result.statuses[0].signal, SIGPIPE) << result.statuses[0].to_string();
  EXPECT_TRUE(result.statuses[1].success());
  EXPECT_FALSE(result.success());  // like bash's `set -o pipefail`
}

TEST(Pipeline, MissingProgramInStage2ThrowsNamingStageAndLeavesNoChildren) {
  // Stage 1 would run for ever (it reads a pipe this test holds): only a kill ends it.
  Pipe gate = Pipe::create();
  Pipeline pipeline{{"cat"}, {"ipckit-t-no-such-program", "-x"}, {"wc", "-l"}};
  pipeline.input(Stdio::from(gate.read_end));
  Error e = error_from([&] { (void)pipeline.run(); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), "ipckit-t-no-such-program"));
  EXPECT_TRUE(has_substring(e.what(), "stage 2"));
  EXPECT_TRUE(no_children_left());
}

TEST(Pipeline, EmptyPipelineThrows) {
  Error e = error_from([] { (void)Pipeline{}.run(); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has_substring(e.what(), "no stages"));
}

TEST(Pipeline, SingleStageCapturesItsOutput) {
  auto result = Pipeline{{"echo", "alone"}}.run();
  EXPECT_EQ(result.output, "alone\n");
  EXPECT_TRUE(result.success());
}

TEST(Pipeline, InputFileFeedsTheFirstStage) {
  TempDir dir;
  write_file(dir / "words", "cherry\napple\nbanana\n");
  Pipeline pipeline{{"sort"}, {"tr", "a-z", "A-Z"}};
  pipeline.input(Stdio::file(dir / "words"));
  auto result = pipeline.run();
  EXPECT_EQ(result.output, "APPLE\nBANANA\nCHERRY\n");
  EXPECT_TRUE(result.success());
}

TEST(Pipeline, ErrorsGoWhereAsked) {
  TempDir dir;
  Pipeline pipeline{{"sh", "-c", "echo to-err >&2; echo to-out"},
                    {"sh", "-c", "cat; echo second >&2"}};
  pipeline.errors(Stdio::file(dir / "err.txt", true));
  auto result = pipeline.run();
  EXPECT_EQ(result.output, "to-out\n");
  EXPECT_TRUE(result.success());
  std::string err = read_file(dir / "err.txt");
  EXPECT_TRUE(has_substring(err, "to-err\n"));
  EXPECT_TRUE(has_substring(err, "second\n"));
}

// Stdio::pipe() gives "this process the other end", but a Pipeline keeps its children to
// itself: nothing could ever write a first stage's input pipe, so a first stage that reads
// (`cat`) would wait for ever and run() with it. The stage here does not read, so this test
// fails instead of hanging while the library accepts the mistake.
TEST(Pipeline, InputPipeIsRefusedBecauseNothingCouldWriteIt) {
  Pipeline pipeline{{"true"}};
  Error e = error_from([&] { pipeline.input(Stdio::pipe()); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_NE(std::string(e.what()).find("Stdio::from"), std::string::npos) << e.what();
  EXPECT_TRUE(pipeline.run().success());  // the refused input was not kept
  EXPECT_TRUE(no_children_left());
}

// Likewise nothing reads a pipe given to errors(): a stage that writes more than a pipe holds
// to stderr would block for ever.
TEST(Pipeline, ErrorsPipeIsRefusedBecauseNothingWouldReadIt) {
  Pipeline pipeline{{"true"}};
  Error e = error_from([&] { pipeline.errors(Stdio::pipe()); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_NE(std::string(e.what()).find("Stdio::from"), std::string::npos) << e.what();
  EXPECT_TRUE(no_children_left());
}

TEST(Pipeline, AddAppendsStagesAndToStringJoinsThem) {
  Pipeline pipeline;
  pipeline.add({"ls", "-l"}).add({"wc", "-l"});
  EXPECT_EQ(pipeline.to_string(), "ls -l | wc -l");
  EXPECT_EQ((Pipeline{{"ls"}, {"sort", "-r"}, {"head"}}.to_string()), "ls | sort -r | head");
}

// As Child.StdinFromDescriptorNumberedZeroReachesTheChild, through a pipeline: in a process
// whose stdin is closed, the first link between two stages is descriptor 0.
TEST(Pipeline, WorksInAProcessWhoseStdinIsClosed) {
  const std::string expected = ipckit::test::shell_output("printf 'a\\nb\\n' | wc -l");
  ipckit::test::Forked forked([&] {
    ::close(0);
    auto result = Pipeline{{"printf", "a\\nb\\n"}, {"wc", "-l"}}.errors(Stdio::null()).run();
    if (!result.success()) return 10;
    return result.output == expected ? 0 : 11;
  });
  EXPECT_EQ(forked.wait().shell_code(), 0) << "10: a stage failed; 11: wrong output";
}

}  // namespace

namespace {

TEST(Pipeline, ErrorsFileKeepsTheStderrOfEveryStage) {
  TempDir dir;
  const auto log = dir / "errors.log";
  auto result = Pipeline{{"sh", "-c", "echo first-stage-error >&2; echo data"},
                         {"sh", "-c", "cat >/dev/null; echo second >&2"}}
                    .errors(Stdio::file(log))
                    .run();
  EXPECT_TRUE(result.success());
  std::ifstream in(log);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(all.find("first-stage-error\n"), std::string::npos) << all;
  EXPECT_NE(all.find("second\n"), std::string::npos) << all;
}

}  // namespace
