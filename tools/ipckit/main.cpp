// ipckit: the command for the people who run and debug systems built on Linux IPC.
// One subcommand per file; this file only dispatches and turns errors into exit codes:
// 0 success, 1 a failure the command reports (an ipckit::Error), 2 a usage mistake.

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <exception>
#include <string>

#include "commands.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"

namespace {

int run(int argc, char** argv) {
  CLI::App app{
      "ipckit: inspect, measure and use Linux inter-process communication "
      "(pipes, FIFOs, shared memory, message queues, semaphores, signals, sockets)",
      "ipckit"};
  app.set_version_flag("--version", "ipckit " IPCKIT_VERSION);
  app.require_subcommand(1);
  app.footer("Run `ipckit COMMAND --help` for a command's options.");

  int exit_code = 0;
  ipckit::cli::add_ls_command(app, exit_code);
  ipckit::cli::add_rm_command(app, exit_code);
  ipckit::cli::add_limits_command(app, exit_code);
  ipckit::cli::add_bench_command(app, exit_code);
  ipckit::cli::add_signals_command(app, exit_code);
  ipckit::cli::add_watch_command(app, exit_code);
  ipckit::cli::add_send_command(app, exit_code);
  ipckit::cli::add_recv_command(app, exit_code);

  // CLI11 would say only "A subcommand is required" for a misspelt command: name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (const auto* sub : app.get_subcommands({})) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || sub->get_name() == argv[1];
    }
    if (!found) {
      fmt::print(stderr,
                 "ipckit: unknown command '{}'; the commands are: {}\nRun `ipckit --help` for more.\n",
                 argv[1], known);
      return 2;
    }
  }

  // `ipckit watch CMD -- ARGS`: CLI11 ends the subcommand at `--` and would complain only
  // about ARGS; say where the `--` goes instead.
  if (argc > 3 && std::string(argv[1]) == "watch" && std::string(argv[2]) != "--" && argv[2][0] != '-') {
    for (int i = 3; i < argc; ++i) {
      if (std::string(argv[i]) == "--") {
        fmt::print(stderr,
                   "ipckit watch: put `--` before the command, not inside it: ipckit watch -- "
                   "CMD [ARGS...]\n");
        return 2;
      }
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that succeed; every real parse error is a usage
    // mistake: exit 2 as documented, whatever CLI11's own code for it.
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    // Started with stdin, stdout or stderr closed (`ipckit recv URL 2>&-`), the command would
    // print into, or read from, the first object it opens: /dev/null takes their place first.
    ipckit::ensure_standard_descriptors();
    return run(argc, argv);
  } catch (const std::exception& e) {  // ipckit::Error included: its what() says it all
    std::fprintf(stderr, "ipckit: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "ipckit: unknown failure\n");
  }
  return 1;
}
