#pragma once

// Helpers every ipckit test uses: unique names, temporary folders that remove themselves,
// forked children that are always reaped, and a way to see that a thread or process is
// blocked in a given syscall (instead of sleeping and hoping).

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/process.hpp"
#include "ipckit/region.hpp"
#include "ipckit/sysv.hpp"

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

/// The uid (and gid) of the second user the tests run as: nobody.
inline constexpr uid_t kNobody = 65534;
/// Whether this process may become kNobody (it runs as root).
[[nodiscard]] bool can_become_nobody();
/// Whether this process has CAP_SYS_RESOURCE (root has it), which lifts limits such as
/// pipe-max-size and the mqueue limits.
[[nodiscard]] bool has_sys_resource();
/// Drops CAP_SYS_RESOURCE from this process (call it in a forked child); false when it cannot.
[[nodiscard]] bool drop_sys_resource();
/// Makes the calling process kNobody for good (no supplementary groups); for a forked child.
/// False when that failed.
[[nodiscard]] bool become_nobody();

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

/// Runs `f`, which must throw ipckit::Error, and returns that Error (a test failure, and an
/// empty Error, when it throws none).
template <class F>
Error error_from(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no ipckit::Error was thrown";
  return Error{"(nothing thrown)", "", 0};
}

/// EXPECT_TRUE(has_substring(text, part)): on failure, prints both.
inline testing::AssertionResult has_substring(std::string_view text, std::string_view part) {
  if (text.find(part) != std::string_view::npos) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

/// error_from(f).what(): the message a user would read.
[[nodiscard]] std::string message_of(const std::function<void()>& f);

/// Writes `text` into `region` at `offset` (bounds-checked by Region).
void put(Region& region, std::size_t offset, std::string_view text);
/// `n` bytes of `region` at `offset`, as text.
[[nodiscard]] std::string get(const Region& region, std::size_t offset, std::size_t n);

/// A file's bytes as read(2) sees them, without any mapping.
[[nodiscard]] std::string file_bytes(const std::filesystem::path& path);
/// Creates (0600) or truncates `path`, sets its size and writes `content` at its start.
void make_file(const std::filesystem::path& path, std::string_view content, std::size_t size);
/// open(2) with O_CLOEXEC; a test failure naming the path when it fails.
[[nodiscard]] Fd open_file(const std::filesystem::path& path, int flags);

/// poll(2) for POLLIN on one descriptor, retrying EINTR; returns revents (0 on timeout).
[[nodiscard]] short poll_in(const Fd& fd, int timeout_ms);

/// One byte through a pipe to say "go on": how tests order processes instead of sleeping.
void notify(const Fd& fd);
/// Waits (30 s at most) for notify()'s byte; false when it did not come.
[[nodiscard]] bool await(const Fd& fd);

/// Removes an IPC object at the end of a test, however the test ends, and only in the process
/// that made the guard (a forked child's copy does nothing). An object already gone is fine;
/// any other failure to remove it is a test failure.
///
///   test::RemoveAtEnd guard(queue);                          // a System V handle: IPC_RMID
///   test::RemoveAtEnd guard(name, &MessageQueue::remove);    // a POSIX name (shm, mq, sem)
///   test::RemoveAtEnd guard([&] { ... }, "what it removes"); // anything else
class RemoveAtEnd {
 public:
  template <class Handle>
    requires requires(const Handle& h) {
      h.remove();
      h.id();
    }
  explicit RemoveAtEnd(Handle handle)
      : RemoveAtEnd([handle] { handle.remove(); }, "System V object " + std::to_string(handle.id())) {}
  RemoveAtEnd(std::string name, bool (*remove)(std::string_view))
      : RemoveAtEnd([name, remove] { (void)remove(name); }, name) {}
  RemoveAtEnd(std::function<void()> remove, std::string what)
      : remove_(std::move(remove)), what_(std::move(what)) {}
  RemoveAtEnd(const RemoveAtEnd&) = delete;
  RemoveAtEnd& operator=(const RemoveAtEnd&) = delete;
  ~RemoveAtEnd();

 private:
  std::function<void()> remove_;
  std::string what_;
  pid_t owner_ = ::getpid();
};

}  // namespace ipckit::test
