// `ipckit watch -- CMD [ARGS...]`: run CMD under ptrace and report, one line each on stderr,
// every signal it receives (with its sender, or the faulting address), every stop and
// continue, and how it ended; exit with CMD's own exit code (128+N when signal N killed it).

#include <fmt/core.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/process.hpp"

namespace ipckit::cli {
namespace {

constexpr const char* kDescription =
    "Run CMD and report what happens to it, one line each on stderr (prefixed `ipckit watch: `, "
    "so CMD's own output stays clean): every signal it receives, with the sending process and "
    "user when a process sent it; every fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) "
    "with the address touched; each stop and continue; and how it ended. Each signal is passed "
    "on, so CMD behaves as it would without ipckit. SIGTERM, SIGHUP, SIGINT and SIGQUIT sent to "
    "the watcher by a process are passed on to CMD. Exits with CMD's exit code, 128+N when "
    "signal N killed it, 127 when CMD is not found, 126 when it cannot be run. Uses ptrace (PTRACE_SEIZE): only CMD itself is "
    "watched, not the programs it starts.";

constexpr const char* kFooter =
    "Example:\n"
    "  ipckit watch -- sh -c 'trap \"echo got\" USR1; kill -USR1 $$; exit 3'\n"
    "  ipckit watch: [pid 4242] signal SIGUSR1 from pid 4242 (uid 0)\n"
    "  got\n"
    "  ipckit watch: [pid 4242] exited with 3\n"
    "Put `--` before CMD so that CMD's own options are not taken for ipckit's.";

void report(const TraceEvent& e) {
  fmt::print(stderr, "ipckit watch: [pid {}] {}\n", e.pid, e.to_string());
  std::fflush(stderr);
}

// Signals that would end the watcher, and with it (PTRACE_O_EXITKILL, a SIGKILL) CMD before
// CMD's own handler could run. The watcher passes them on to CMD instead, as timeout(1) does,
// and reports what CMD made of them.
constexpr std::array kForwarded{SIGTERM, SIGHUP, SIGINT, SIGQUIT};
volatile std::sig_atomic_t cmd_pidfd = -1;  // CMD's pidfd: never hits a reused pid
volatile std::sig_atomic_t cmd_pid = -1;    // used when pidfds are missing (Linux < 5.3)

extern "C" void forward_signal(int signo, siginfo_t* info, void* /*context*/) {
  // SI_KERNEL: the terminal (^C, ^\, a hangup) sent it to the whole foreground group, CMD
  // included, so CMD has it already. Otherwise a process sent it to us: pass it on. Only
  // async-signal-safe calls here.
  if (info != nullptr && info->si_code == SI_KERNEL) return;
  const int saved_errno = errno;
  if (cmd_pidfd >= 0)
    ::syscall(SYS_pidfd_send_signal, static_cast<int>(cmd_pidfd), signo, nullptr, 0U);
  else if (cmd_pid > 0)
    ::kill(static_cast<pid_t>(cmd_pid), signo);
  errno = saved_errno;
}

int watch(const std::vector<std::string>& command) {
  // Block the forwarded signals until CMD's pid is known, so one that comes during the
  // spawn waits and is then passed on rather than killing the watcher (the spawn gives
  // CMD an empty signal mask, so CMD itself does not inherit the block).
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int signo : kForwarded) sigaddset(&forwarded, signo);
  sigset_t old_mask;
  ::pthread_sigmask(SIG_BLOCK, &forwarded, &old_mask);
  std::optional<TracedChild> spawned;
  try {
    spawned.emplace(TracedChild::spawn(command));
  } catch (const Error& e) {
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    // As a shell would: 127 for a program that is not there (or whose interpreter or loader
    // is not), 126 for one that cannot run.
    if (e.errnum() != ENOENT && e.errnum() != EACCES && e.errnum() != ENOEXEC) throw;
    const char* what = "cannot run it";
    if (e.errnum() == ENOENT)
      what = find_program(command[0]).has_value() ? "cannot execute: required file not found"
                                              : "command not found";
    fmt::print(stderr, "ipckit watch: {}: {}\nipckit: {}\n", command[0], what, e.what());
    return e.errnum() == ENOENT ? 127 : 126;
  }
  TracedChild& traced = *spawned;
  Fd pidfd;
  try {
    pidfd = open_pidfd(traced.pid());
  } catch (const Error&) {
    // No pidfd (an old kernel): kill(pid) instead; CMD stays our unreaped child until the
    // last event, so its pid cannot be reused before then.
  }
  cmd_pidfd = pidfd.get();
  cmd_pid = traced.pid();
  struct sigaction forward {};
  forward.sa_sigaction = forward_signal;
  forward.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&forward.sa_mask);
  for (int signo : kForwarded) ::sigaction(signo, &forward, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  for (;;) {
    TraceEvent e = traced.next();
    report(e);
    if (e.kind == TraceEvent::Kind::exited || e.kind == TraceEvent::Kind::killed) {
      cmd_pidfd = -1;  // before the pidfd closes and its number may be reused
      cmd_pid = -1;    // reaped: its pid may be given to another process now
      return traced.status()->shell_code();
    }
  }
}

}  // namespace

void add_watch_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "watch", "Run a command and report each signal, fault, stop and how it ended");
  cmd->description(kDescription);
  cmd->footer(kFooter);
  auto command = std::make_shared<std::vector<std::string>>();
  cmd->add_option("CMD", *command, "The program to run, then its arguments; put `--` before it")
      ->required()
      ->expected(1, -1);
  // Without `--`, CLI11 would take CMD's options (`sh -c ...`) for ipckit's and reorder them:
  // prefix_command() sets them aside, and the callback turns that into a clear usage error.
  cmd->prefix_command();
  cmd->callback([cmd, command, &exit_code] {
    for (const auto& extra : cmd->remaining()) {
      if (extra != "--")
        throw CLI::ValidationError(
            "CMD",
            "put `--` before the command when it has options: ipckit watch -- CMD [ARGS...]");
    }
    exit_code = watch(*command);
  });
}

}  // namespace ipckit::cli
