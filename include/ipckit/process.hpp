#pragma once

#include <cstdint>
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
//
// Also here: TracedChild, a child run under ptrace(2) (PTRACE_SEIZE) whose signals, faults,
// stops and end are reported one event at a time; and open_pidfd / wait_for_exit, which use
// pidfd_open(2) to learn that any process (not only a child) has ended.
//
//   auto traced = ipckit::TracedChild::spawn({"sh", "-c", "kill -USR1 $$"});
//   ipckit::TraceEvent e = traced.next();              // "signal SIGUSR1 from pid ..."

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

/// One thing a traced process did (see TracedChild).
struct TraceEvent {
  enum class Kind : unsigned char {
    signal,     ///< a signal was delivered to it (`signo`; sender or fault address when known)
    stopped,    ///< it stopped (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU: `signo`)
    continued,  ///< it was continued (SIGCONT)
    exited,     ///< it ended with exit(`exit_code`)
    killed,     ///< a signal (`signo`) ended it; `core_dumped` when it left a core
  };
  Kind kind = Kind::signal;
  pid_t pid = 0;              ///< the traced process
  int signo = 0;
  int code = 0;               ///< si_code of the signal (SI_USER, SI_QUEUE, SEGV_MAPERR, ...)
  bool has_sender = false;    ///< sent by a process (kill, sigqueue, raise): sender_* are set
  pid_t sender_pid = 0;
  uid_t sender_uid = 0;
  bool is_fault = false;      ///< a hardware fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP by
                              ///< the CPU): fault_address is the address it touched, except
                              ///< when `code` is SI_KERNEL (a general-protection fault such as
                              ///< a non-canonical address, an int3): then no address is given
  std::uint64_t fault_address = 0;
  int value = 0;              ///< sent with sigqueue (SI_QUEUE): the value's sival_int
  int exit_code = 0;          ///< exited: the code
  bool core_dumped = false;   ///< killed: it dumped core

  /// One line for a person: "signal SIGUSR1 from pid 42 (uid 0)", "... with value 7" (sigqueue),
  /// "signal SIGCHLD (child pid 43 exited)", "fault SIGSEGV at 0x0000000000000010
  /// (SEGV_MAPERR)", "fault SIGSEGV (SI_KERNEL: general protection, no address given)",
  /// "stopped by SIGSTOP", "continued", "exited with 3", "killed by SIGSEGV
  /// (core dumped)".
  [[nodiscard]] std::string to_string() const;
};

/// A child run under ptrace (PTRACE_SEIZE) so that its parent sees each signal it receives,
/// each fault, stop and continue, and how it ended (seed I4: a controlling process sees
/// another process's traps and exceptions). The tracer passes every signal on as the kernel
/// would have delivered it without a tracer, so the program behaves as it would untraced.
/// Only the child itself is traced, not processes it starts. Move-only; destroying one that
/// has not ended kills (SIGKILL) and reaps it.
///
/// Threads and signals (ptrace binds a tracee to one thread of the tracer):
/// - call next() on the thread that called spawn(); from another thread it is an Error (EPERM).
/// - the child is killed (PTRACE_O_EXITKILL) when the thread that called spawn() exits, not
///   only when the process does: do not spawn from a short-lived worker thread.
/// - at each signal the child waits, stopped, until next() is called: call it promptly.
/// - a SIGCHLD handler (or any thread) that calls waitpid(-1) or wait() reaps and steals the
///   child's stops and end: next() then blocks or fails with ECHILD. Wait for specific pids.
/// - a signal sent to the child between fork and exec is held until it is traced and then
///   reported (before anything else) by next(); so is a stop: spawn() returns once the
///   program has started, that is after a SIGCONT when the child was stopped before its exec.
///
///   auto traced = ipckit::TracedChild::spawn({"sh", "-c", "kill -USR1 $$; exit 3"});
///   for (;;) {
///     ipckit::TraceEvent e = traced.next();      // blocks until the child does something
///     std::cout << e.to_string() << '\n';
///     if (e.kind == ipckit::TraceEvent::Kind::exited || e.kind == ipckit::TraceEvent::Kind::killed) break;
///   }
class TracedChild {
 public:
  /// Starts `argv` (searched in PATH) traced from its first instruction. Throws Error: an
  /// empty argv, a missing program (ENOENT naming PATH; or naming the file when it is there but
  /// its #! interpreter or ELF loader is not), one that cannot run (EACCES, ENOEXEC), ptrace
  /// refused (EPERM: says to check /proc/sys/kernel/yama/ptrace_scope or the container's
  /// seccomp profile), a child killed before its exec (errno 0, saying by what).
  [[nodiscard]] static TracedChild spawn(const std::vector<std::string>& argv);

  TracedChild(TracedChild&& other) noexcept;
  TracedChild& operator=(TracedChild&& other) noexcept;
  TracedChild(const TracedChild&) = delete;
  TracedChild& operator=(const TracedChild&) = delete;
  ~TracedChild();

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  /// Waits for the next event and lets the child go on (passing on the signal, if any).
  /// After an `exited` or `killed` event the child is reaped; calling next() again then is
  /// an Error. Throws Error on a ptrace or waitpid failure, and (EPERM) when called on
  /// another thread than the one that called spawn().
  [[nodiscard]] TraceEvent next();
  /// How it ended, once next() has returned `exited` or `killed`.
  [[nodiscard]] std::optional<ExitStatus> status() const noexcept { return status_; }

 private:
  TracedChild() = default;
  // Handles one waitpid report: the event to give the caller, or nothing (bookkeeping).
  std::optional<TraceEvent> on_stop(int status);

  pid_t pid_ = -1;
  pid_t tracer_tid_ = -1;  // the thread that seized the child: the only one ptrace obeys
  bool stopped_ = false;   // in a group-stop (held there with PTRACE_LISTEN)
  std::vector<TraceEvent> pending_;  // seen before the exec, reported first by next()
  std::optional<ExitStatus> status_;
};

/// The file execvp(3) would try first for `program`: `program` itself when it holds a '/',
/// else the first entry of PATH that has a file of that name (like `command -v`). Nothing
/// when there is none. A found file may still fail to run (no x bit, a missing #!
/// interpreter); the spawn error then says which.
[[nodiscard]] std::optional<std::filesystem::path> find_program(const std::string& program);

/// pidfd_open(2): a descriptor for any process (not only a child) that turns readable
/// (POLLIN) when the process ends, so a watcher learns of the end without SIGCHLD and is
/// never fooled by a reused pid (I2). Throws Error: ESRCH (no such process), EINVAL (pid <= 0,
/// or a thread id that is not a thread-group leader), ENOSYS (kernel before 5.3).
[[nodiscard]] Fd open_pidfd(pid_t pid);
/// Waits until the process behind a pidfd has ended, or the deadline passes (false). Takes a
/// pidfd only (open_pidfd, Child::pidfd()): an ordinary descriptor would report "ended" as
/// soon as it is readable. Throws Error: EBADF for an empty Fd.
[[nodiscard]] bool wait_for_exit(const Fd& pidfd, Deadline deadline = Deadline::never());

}  // namespace ipckit
