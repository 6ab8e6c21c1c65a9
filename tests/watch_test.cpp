// Tests of `ipckit watch -- CMD [ARGS...]`, run as a user would run it (run_cli).

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/process.hpp"
#include "test_util.hpp"

namespace {

using ipckit::test::has_substring;
using ipckit::test::run_cli;

// Reads `fd` into `text` until `marker` shows; false when the stream ends first or 30 s pass.
bool read_until(ipckit::Fd& fd, std::string& text, std::string_view marker) {
  using namespace std::chrono_literals;
  std::array<std::byte, 512> buf{};
  const auto deadline = ipckit::Deadline::after(30s);
  while (text.find(marker) == std::string::npos) {
    auto r = fd.read_some(buf, deadline);
    if (r.status != ipckit::IoStatus::ok || r.bytes == 0) return false;
    text.append(reinterpret_cast<const char*>(buf.data()), r.bytes);  // NOLINT
  }
  return true;
}

// A command that says "ready" once its handler for `signal_name` is set, then waits; the
// handler prints "trapped" and exits 9.
std::vector<std::string> trapping_command(const std::string& signal_name) {
  return {"python3", "-c",
          "import os, signal\n"
          "def trapped(signo, frame):\n"
          "    print('trapped', flush=True)\n"
          "    os._exit(9)\n"
          "signal.signal(signal." + signal_name + ", trapped)\n"
          "print('ready', flush=True)\n"
          "while True: signal.pause()\n"};
}

// Runs `ipckit watch -- trapping_command(signal)`, sends `signo` to the watcher (not to CMD)
// once CMD is ready, and checks that CMD's handler ran and its exit code came back.
void expect_passed_on_to_the_command(int signo, const std::string& signal_name) {
  using namespace std::chrono_literals;
  std::vector<std::string> argv{ipckit::test::cli_path(), "watch", "--"};
  for (auto& word : trapping_command(signal_name)) argv.push_back(word);
  auto watch = ipckit::Child::spawn({.argv = argv,
                                     .in = ipckit::Stdio::null(),
                                     .out = ipckit::Stdio::pipe(),
                                     .err = ipckit::Stdio::pipe()});
  std::string out;
  ASSERT_TRUE(read_until(watch.stdout_pipe(), out, "ready\n")) << out;
  ASSERT_EQ(::kill(watch.pid(), signo), 0);
  auto status = watch.wait(ipckit::Deadline::after(30s));
  ASSERT_TRUE(status.has_value()) << "the watcher did not end: the signal was not passed on";
  out += ipckit::read_all(watch.stdout_pipe());
  const std::string err = ipckit::read_all(watch.stderr_pipe());
  EXPECT_TRUE(status->exited) << status->to_string() << "\n" << err;
  EXPECT_EQ(status->code, 9) << err;
  EXPECT_EQ(out, "ready\ntrapped\n");
  EXPECT_TRUE(has_substring(err, "] signal " + signal_name + " from pid " +
                                     std::to_string(watch.pid())));
  EXPECT_TRUE(has_substring(err, "] exited with 9\n"));
}

TEST(Watch, SigtermToTheWatcherIsPassedOnAndTheCommandsHandlerDecides) {
  expect_passed_on_to_the_command(SIGTERM, "SIGTERM");
}

TEST(Watch, SighupToTheWatcherIsPassedOnAndTheCommandsHandlerDecides) {
  expect_passed_on_to_the_command(SIGHUP, "SIGHUP");
}

TEST(Watch, SigintFromAProcessToTheWatcherIsPassedOnAndTheCommandsHandlerDecides) {
  expect_passed_on_to_the_command(SIGINT, "SIGINT");
}

TEST(Watch, ReportsTheSignalPassesItOnAndExitsWithTheCommandsCode) {
  auto run = run_cli({"watch", "--", "sh", "-c", "trap 'echo got' USR1; kill -USR1 $$; exit 3"});
  EXPECT_TRUE(run.status.exited);
  EXPECT_EQ(run.status.code, 3) << run.err;
  EXPECT_EQ(run.out, "got\n");  // the handler ran; stdout holds only CMD's output
  EXPECT_TRUE(has_substring(run.err, "ipckit watch: [pid "));
  EXPECT_TRUE(has_substring(run.err, "] signal SIGUSR1 from pid "));
  EXPECT_TRUE(has_substring(run.err, "] exited with 3\n"));
}

TEST(Watch, EveryReportLineIsPrefixed) {
  auto run = run_cli({"watch", "--", "sh", "-c", "kill -USR2 $$"});
  ASSERT_FALSE(run.err.empty());
  std::size_t start = 0;
  while (start < run.err.size()) {
    std::size_t end = run.err.find('\n', start);
    ASSERT_NE(end, std::string::npos) << run.err;
    EXPECT_EQ(run.err.compare(start, 19, "ipckit watch: [pid "), 0)
        << run.err.substr(start, end - start);
    start = end + 1;
  }
}

TEST(Watch, SegfaultIsReportedWithTheFaultAddressAndExits139) {
  auto run = run_cli({"watch", "--", "python3", "-c", "import ctypes; ctypes.string_at(16)"});
  EXPECT_EQ(run.status.shell_code(), 139) << run.err;
  EXPECT_TRUE(has_substring(run.err, "] fault SIGSEGV at 0x0000000000000010 (SEGV_MAPERR)\n"));
  EXPECT_TRUE(has_substring(run.err, "] killed by SIGSEGV"));
}

TEST(Watch, CommandKilledBySignalNExitsWith128PlusN) {
  auto run = run_cli({"watch", "--", "sh", "-c", "kill -TERM $$"});
  EXPECT_TRUE(run.status.exited);
  EXPECT_EQ(run.status.code, 128 + 15) << run.err;
  EXPECT_TRUE(has_substring(run.err, "] killed by SIGTERM\n"));
}

TEST(Watch, StopIsReportedAndHoldsUntilAContinueIsReported) {
  using namespace std::chrono_literals;
  auto watch = ipckit::Child::spawn(
      {.argv = {ipckit::test::cli_path(), "watch", "--", "sh", "-c", "kill -STOP $$; exit 4"},
       .in = ipckit::Stdio::null(),
       .out = ipckit::Stdio::null(),
       .err = ipckit::Stdio::pipe()});
  // Read the report until the stop shows, then continue the command from here.
  std::string err;
  std::array<std::byte, 512> buf{};
  const auto deadline = ipckit::Deadline::after(30s);
  while (err.find("] stopped by SIGSTOP\n") == std::string::npos) {
    auto r = watch.stderr_pipe().read_some(buf, deadline);
    ASSERT_EQ(r.status, ipckit::IoStatus::ok) << err;
    err.append(reinterpret_cast<const char*>(buf.data()), r.bytes);  // NOLINT
  }
  const auto at = err.find("[pid ");
  ASSERT_NE(at, std::string::npos) << err;
  const auto pid = static_cast<pid_t>(std::stol(err.substr(at + 5)));
  ASSERT_EQ(::kill(pid, SIGCONT), 0);
  err += ipckit::read_all(watch.stderr_pipe());
  EXPECT_EQ(watch.wait().code, 4) << err;
  EXPECT_TRUE(has_substring(err, "] signal SIGSTOP from pid " + std::to_string(pid)));
  EXPECT_TRUE(has_substring(err, "] continued\n"));
  EXPECT_TRUE(has_substring(err, "] signal SIGCONT from pid " + std::to_string(::getpid())));
  EXPECT_TRUE(has_substring(err, "] exited with 4\n"));
}

TEST(Watch, MissingCommandIsAUsageError) {
  auto bare = run_cli({"watch"});
  EXPECT_EQ(bare.status.code, 2);
  EXPECT_TRUE(has_substring(bare.err, "CMD"));
  auto dashes = run_cli({"watch", "--"});
  EXPECT_EQ(dashes.status.code, 2);
}

TEST(Watch, CommandOptionsWithoutDashDashAreAUsageErrorSayingSo) {
  auto run = run_cli({"watch", "sh", "-c", "exit 0"});
  EXPECT_EQ(run.status.code, 2);
  EXPECT_TRUE(has_substring(run.err, "put `--` before the command"));
}

TEST(Watch, DashDashInsideTheCommandIsAUsageErrorSayingWhereItGoes) {
  auto run = run_cli({"watch", "echo", "--", "x"});
  EXPECT_EQ(run.status.code, 2);
  EXPECT_TRUE(has_substring(run.err, "put `--` before the command, not inside it"));
}

TEST(Watch, CommandWithoutOptionsNeedsNoDashDash) {
  auto run = run_cli({"watch", "true"});
  EXPECT_EQ(run.status.code, 0) << run.err;
  EXPECT_TRUE(has_substring(run.err, "] exited with 0\n"));
}

TEST(Watch, ProgramNotFoundExits127LikeAShell) {
  auto run = run_cli({"watch", "--", "ipckit-no-such-program", "arg"});
  EXPECT_TRUE(run.status.exited);
  EXPECT_EQ(run.status.code, 127);
  EXPECT_TRUE(has_substring(run.err, "ipckit-no-such-program: command not found"));
  EXPECT_TRUE(has_substring(run.err, "PATH"));
}

TEST(Watch, ProgramThatCannotRunExits126LikeAShell) {
  ipckit::test::TempDir dir;
  ipckit::test::make_file(dir / "data", "not a program", 13);  // mode 0600: no x bit
  auto run = run_cli({"watch", "--", (dir / "data").string()});
  EXPECT_TRUE(run.status.exited);
  EXPECT_EQ(run.status.code, 126) << run.err;
  EXPECT_TRUE(has_substring(run.err, "cannot run it"));
  EXPECT_TRUE(has_substring(run.err, "EACCES"));
}

TEST(Watch, MissingInterpreterExits127SayingARequiredFileIsMissing) {
  ipckit::test::TempDir dir;
  const auto script = dir / "script";
  const std::string_view text = "#!/nonexistent/ipckit-interpreter\n";
  ipckit::test::make_file(script, text, text.size());
  ASSERT_EQ(::chmod(script.c_str(), 0700), 0);
  auto run = run_cli({"watch", "--", script.string()});
  EXPECT_EQ(run.status.code, 127) << run.err;
  EXPECT_TRUE(has_substring(run.err, "cannot execute: required file not found"));
  EXPECT_FALSE(has_substring(run.err, "command not found"));
}

TEST(Watch, SigbusIsReportedWithItsAddress) {
  ipckit::test::TempDir dir;
  auto run = run_cli({"watch", "--", "python3", "-c",
                      "import ctypes, mmap, os, sys\n"
                      "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
                      "os.ftruncate(fd, 4096)\n"
                      "m = mmap.mmap(fd, 4096)\n"
                      "addr = ctypes.addressof(ctypes.c_char.from_buffer(m))\n"
                      "print(hex(addr), flush=True)\n"
                      "os.ftruncate(fd, 0)\n"
                      "ctypes.string_at(addr, 1)\n",
                      (dir / "mapped").string()});
  EXPECT_EQ(run.status.shell_code(), 128 + SIGBUS) << run.err;
  ASSERT_GT(run.out.size(), 3U) << run.err;
  const std::string digits = run.out.substr(2, run.out.size() - 3);  // "0x7f...\n"
  const std::string address = "0x" + std::string(16 - digits.size(), '0') + digits;
  EXPECT_TRUE(has_substring(run.err, "] fault SIGBUS at " + address + " (BUS_ADRERR)\n"));
  EXPECT_TRUE(has_substring(run.err, "] killed by SIGBUS"));
}

TEST(Watch, NonCanonicalAddressFaultSaysNoAddressWasGiven) {
  auto run = run_cli(
      {"watch", "--", "python3", "-c", "import ctypes; ctypes.string_at(0x8000000000000000)"});
  EXPECT_EQ(run.status.shell_code(), 139) << run.err;
  EXPECT_TRUE(has_substring(run.err,
                            "] fault SIGSEGV (SI_KERNEL: general protection, no address given)\n"));
}

TEST(Watch, HelpExplainsTheCommand) {
  auto run = run_cli({"watch", "--help"});
  EXPECT_EQ(run.status.code, 0);
  EXPECT_TRUE(has_substring(run.out, "ptrace"));
  EXPECT_TRUE(has_substring(run.out, "128+N"));
  EXPECT_TRUE(has_substring(run.out, "126"));
  EXPECT_TRUE(has_substring(run.out, "SIGTRAP"));
  EXPECT_TRUE(has_substring(run.out, "ipckit watch -- "));
}

}  // namespace
