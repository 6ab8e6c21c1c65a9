// `ipckit watch -- CMD [ARGS...]`: run CMD under ptrace and report, one line each on stderr,
// every signal it receives (with its sender, or the faulting address), every stop and
// continue, and how it ended; exit with CMD's own exit code (128+N when signal N killed it).

#include <fmt/core.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ipckit/error.hpp"
#include "ipckit/process.hpp"

namespace ipckit::cli {
namespace {

constexpr const char* kDescription =
    "Run CMD and report what happens to it, one line each on stderr (prefixed `ipckit watch: `, "
    "so CMD's own output stays clean): every signal it receives, with the sending process and "
    "user when a process sent it; every fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE) with the "
    "address touched; each stop and continue; and how it ended. Each signal is passed on, so "
    "CMD behaves as it would without ipckit. Exits with CMD's exit code, 128+N when signal N "
    "killed it, 127 when CMD is not found. Uses ptrace (PTRACE_SEIZE): only CMD itself is "
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

int watch(const std::vector<std::string>& command) {
  std::optional<TracedChild> spawned;
  try {
    spawned.emplace(TracedChild::spawn(command));
  } catch (const Error& e) {
    // As a shell would: 127 for a program that is not there, 126 for one that cannot run.
    if (e.errnum() != ENOENT && e.errnum() != EACCES && e.errnum() != ENOEXEC) throw;
    fmt::print(stderr, "ipckit watch: {}: {}\nipckit: {}\n", command[0],
               e.errnum() == ENOENT ? "command not found" : "cannot run it", e.what());
    return e.errnum() == ENOENT ? 127 : 126;
  }
  TracedChild& traced = *spawned;
  // The terminal sends ^C and ^\ to CMD and to us alike. Left at its default, ^C would kill
  // this watcher and with it (PTRACE_O_EXITKILL) CMD, before CMD could handle it; ignored,
  // CMD decides, and we report what it did. Set after the spawn, so CMD keeps the defaults.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGQUIT, SIG_IGN);
  for (;;) {
    TraceEvent e = traced.next();
    report(e);
    if (e.kind == TraceEvent::Kind::exited || e.kind == TraceEvent::Kind::killed)
      return traced.status()->shell_code();
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
