// Tests of `ipckit watch -- CMD [ARGS...]`, run as a user would run it (run_cli).

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <string>
#include <string_view>

#include "ipckit/process.hpp"
#include "test_util.hpp"

namespace {

using ipckit::test::run_cli;

testing::AssertionResult has_substring(std::string_view text, std::string_view part) {
  if (text.find(part) != std::string_view::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
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

TEST(Watch, HelpExplainsTheCommand) {
  auto run = run_cli({"watch", "--help"});
  EXPECT_EQ(run.status.code, 0);
  EXPECT_TRUE(has_substring(run.out, "ptrace"));
  EXPECT_TRUE(has_substring(run.out, "128+N"));
  EXPECT_TRUE(has_substring(run.out, "ipckit watch -- "));
}

}  // namespace
