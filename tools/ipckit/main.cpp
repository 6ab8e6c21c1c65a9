// ipckit: the command for the people who run and debug systems built on Linux IPC.
// One subcommand per file; this file only dispatches and turns errors into exit codes.

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "ipckit/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "ipckit: inspect, measure and use Linux inter-process communication "
      "(pipes, FIFOs, shared memory, message queues, semaphores, signals, sockets)",
      "ipckit"};
  app.set_version_flag("--version", "ipckit " IPCKIT_VERSION);
  app.require_subcommand(1);
  app.footer("Run `ipckit COMMAND --help` for a command's options.");

  int exit_code = 0;
  ipckit::cli::add_limits_command(app, exit_code);
  ipckit::cli::add_bench_command(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ipckit::Error& e) {
    fmt::print(stderr, "ipckit: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ipckit: {}\n", e.what());
    return 1;
  }
  return exit_code;
}
