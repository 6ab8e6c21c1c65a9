#pragma once

// Helpers every ipckit test uses: unique names, temporary folders that remove themselves,
// forked children that are always reaped, and a way to see that a thread or process is
// blocked in a given syscall (instead of sleeping and hoping).

#include <sys/syscall.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "ipckit/fd.hpp"
#include "ipckit/process.hpp"

namespace ipckit {
/// gtest prints IoStatus by name.
inline void PrintTo(IoStatus status, std::ostream* os) { *os << to_string(status); }
}  // namespace ipckit

namespace ipckit::test {

/// "ipckit-t-<pid>-<n>": unique across processes and within one.
[[nodiscard]] std::string unique_name(std::string_view prefix = "ipckit-t");

/// A folder /tmp/ipckit-t-<pid>-<n>/ removed (with all it holds) on destruction.
class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// A forked child running `body`; its return value is the exit code. Exceptions and gtest
/// failures inside the body make it exit with 100+. The destructor kills and reaps it.
class Forked {
 public:
  explicit Forked(std::function<int()> body);
  Forked(const Forked&) = delete;
  Forked& operator=(const Forked&) = delete;
  ~Forked();
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Waits (30 s at most, then kills it) and returns how it ended.
  ExitStatus wait(std::chrono::seconds timeout = std::chrono::seconds(30));

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

/// The calling thread's id (gettid).
[[nodiscard]] pid_t this_tid();

/// Polls /proc/<tid>/syscall until thread `tid` (of any process) is sleeping inside syscall
/// number `nr` (e.g. SYS_read), or `timeout` passes. Returns whether it got there.
[[nodiscard]] bool wait_until_blocked_in(pid_t tid, long nr,
                                         std::chrono::seconds timeout = std::chrono::seconds(20));

/// Runs a command through `sh -c` and returns its stdout.
[[nodiscard]] std::string shell_output(const std::string& command);

/// The ipckit command built alongside the tests.
[[nodiscard]] std::string cli_path();

/// Runs the ipckit command with `args`; returns its exit status and what it printed.
struct CliRun {
  ExitStatus status;
  std::string out;
  std::string err;
};
[[nodiscard]] CliRun run_cli(const std::vector<std::string>& args);

}  // namespace ipckit::test
