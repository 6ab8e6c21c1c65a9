#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"

// Child processes and pipelines: run a program with its stdin, stdout and stderr joined to
// pipes, files, /dev/null or this process's own; learn how it ended (exit code, or the signal
// that killed it) through a pidfd that poll/epoll can watch; and run `ls | wc -l`-style
// chains whose stages are joined by pipes, as a shell would.
//
//   auto child = ipckit::Child::spawn({.argv = {"ls", "-l"}, .out = ipckit::Stdio::pipe()});
//   std::string listing = ipckit::read_all(child.stdout_pipe());
//   ipckit::ExitStatus status = child.wait();          // status.success()
//
//   auto result = ipckit::Pipeline{{"ls"}, {"wc", "-l"}}.run();
//   // result.output == "12\n"; result.statuses[i] says how stage i ended
//
// A program that does not exist or cannot be executed is an Error from spawn (ENOENT,
// EACCES), never a child that exits with 127.

namespace ipckit {

/// Where one of a child's standard streams goes.
class Stdio {
 public:
  /// The same stream as this process (the default).
  [[nodiscard]] static Stdio inherit() { return Stdio{Kind::inherit}; }
  /// A new pipe; this process gets the other end (Child::stdin_pipe(), stdout_pipe()...).
  [[nodiscard]] static Stdio pipe() { return Stdio{Kind::pipe}; }
  /// /dev/null.
  [[nodiscard]] static Stdio null() { return Stdio{Kind::null}; }
  /// A file: read for stdin; for stdout and stderr created (mode 0644 before umask) and
  /// truncated, or appended to when `append`.
  [[nodiscard]] static Stdio file(std::filesystem::path path, bool append = false);
  /// A descriptor of this process (duplicated at spawn; the caller keeps its own).
  [[nodiscard]] static Stdio from(const Fd& fd);

  enum class Kind : unsigned char { inherit, pipe, null, file, descriptor };
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] bool append() const noexcept { return append_; }
  [[nodiscard]] int borrowed_fd() const noexcept { return fd_; }

 private:
  explicit Stdio(Kind kind) noexcept : kind_(kind) {}
  Kind kind_ = Kind::inherit;
  std::filesystem::path path_;
  bool append_ = false;
  int fd_ = -1;  // borrowed, for Kind::descriptor
};

/// How a process ended.
struct ExitStatus {
  bool exited = false;      ///< it called exit(); `code` holds the status
  int code = 0;             ///< exit status (0..255) when `exited`
  int signal = 0;           ///< the signal that killed it, when !exited
  bool core_dumped = false;

  [[nodiscard]] bool success() const noexcept { return exited && code == 0; }
  /// What a shell's $? shows: the exit code, or 128 + the signal's number.
  [[nodiscard]] int shell_code() const noexcept { return exited ? code : 128 + signal; }
  /// "exited with 0", "killed by SIGKILL", "killed by SIGSEGV (core dumped)".
  [[nodiscard]] std::string to_string() const;
  /// Decodes a waitpid(2) status word.
  [[nodiscard]] static ExitStatus from_wait_status(int status) noexcept;
};

struct SpawnOptions {
  /// argv[0] is the program: a path when it contains '/', otherwise looked up in PATH.
  std::vector<std::string> argv{};
  Stdio in = Stdio::inherit();
  Stdio out = Stdio::inherit();
  Stdio err = Stdio::inherit();
  /// Working directory of the child; this process's when empty.
  std::filesystem::path cwd{};
  /// Extra environment entries "NAME=value", added to (or replacing) this process's.
  std::vector<std::string> env{};
};

/// A running (or ended, not yet reaped) child process. Move-only. Destroying a Child that
/// was not waited for kills it (SIGKILL) and reaps it, so no child outlives its owner
/// unnoticed and no zombie is left; call wait() to let it finish.
class Child {
 public:
  /// Starts the program. Throws Error: a missing program (ENOENT, naming the PATH searched),
  /// one that cannot run (EACCES, ENOEXEC), an empty argv, a stdio file that cannot open.
  [[nodiscard]] static Child spawn(const SpawnOptions& options);

  Child(Child&& other) noexcept;
  Child& operator=(Child&& other) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// A pidfd for the child: readable (POLLIN) once it has ended. Lets an event loop learn
  /// of the end without SIGCHLD. Invalid on kernels without pidfd_open (before 5.3).
  [[nodiscard]] const Fd& pidfd() const noexcept { return pidfd_; }

  /// This process's ends of the pipes asked with Stdio::pipe() (empty Fd otherwise). Reset
  /// stdin_pipe() to give the child end of stream.
  [[nodiscard]] Fd& stdin_pipe() noexcept { return stdin_; }
  [[nodiscard]] Fd& stdout_pipe() noexcept { return stdout_; }
  [[nodiscard]] Fd& stderr_pipe() noexcept { return stderr_; }

  /// Waits for the child to end and reaps it. Closes stdin_pipe() first so a child reading
  /// its input sees end of stream. Calling it again returns the same status.
  ExitStatus wait();
  /// Waits until the deadline; nothing when the child is still running then. Unlike wait(),
  /// leaves stdin_pipe() open, so it also serves as a "has it ended?" check.
  std::optional<ExitStatus> wait(Deadline deadline);
  /// Sends a signal (through the pidfd when there is one, so a reused pid is never hit).
  /// Throws Error; a child that has already been reaped is an Error (ESRCH).
  void kill(int signal) const;
  [[nodiscard]] bool reaped() const noexcept { return status_.has_value(); }

 private:
  Child() = default;
  void terminate_and_reap() noexcept;
  std::optional<ExitStatus> reap(bool block);

  pid_t pid_ = -1;
  Fd pidfd_;
  Fd stdin_;
  Fd stdout_;
  Fd stderr_;
  std::optional<ExitStatus> status_;
};

/// Reads a descriptor to end of stream and returns everything. Throws Error.
[[nodiscard]] std::string read_all(const Fd& fd);

/// What a pipeline printed and how each stage ended.
struct PipelineResult {
  std::string output;                 ///< the last stage's stdout, when captured
  std::vector<ExitStatus> statuses;   ///< one per stage, in order
  std::vector<std::string> commands;  ///< each stage's command line, for messages

  /// True when every stage exited with 0 (like bash's `set -o pipefail`).
  [[nodiscard]] bool success() const noexcept;
  /// Throws Error naming the first stage that did not succeed and how it ended.
  const PipelineResult& check() const;  // NOLINT(modernize-use-nodiscard): chaining is optional
};

/// A chain of programs, each one's stdout joined to the next one's stdin by a pipe, like
/// the shell's `ls | wc -l`.
class Pipeline {
 public:
  Pipeline() = default;
  Pipeline(std::initializer_list<std::vector<std::string>> stages);

  /// Adds a stage at the end.
  Pipeline& add(std::vector<std::string> argv);
  /// The first stage's stdin (default: inherit). Stdio::pipe() is refused (Error EINVAL):
  /// nothing could write to it; pass your own pipe's read end with Stdio::from().
  Pipeline& input(Stdio in);
  /// Where every stage's stderr goes (default: inherit). Stdio::pipe() is refused, as above.
  Pipeline& errors(Stdio err);

  /// Starts every stage, captures the last stage's stdout, waits for all and returns how
  /// each ended. Throws Error when a stage cannot start (the stages already started are
  /// killed and reaped) or the pipeline is empty. A stage that runs and fails is not an
  /// exception: see PipelineResult::success() and check().
  [[nodiscard]] PipelineResult run() const;

  /// "ls | wc -l".
  [[nodiscard]] std::string to_string() const;

 private:
  std::vector<std::vector<std::string>> stages_;
  Stdio in_ = Stdio::inherit();
  Stdio err_ = Stdio::inherit();
};

}  // namespace ipckit
