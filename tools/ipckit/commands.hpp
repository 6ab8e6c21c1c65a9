#pragma once

// Each subcommand of `ipckit` registers itself on the app. A command stores its exit code in
// `exit_code`; it reports failures by throwing ipckit::Error, which main prints.

#include <CLI/CLI.hpp>

namespace ipckit::cli {

void add_limits_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_ls_command(CLI::App& app, int& exit_code);
void add_rm_command(CLI::App& app, int& exit_code);
void add_signals_command(CLI::App& app, int& exit_code);
void add_watch_command(CLI::App& app, int& exit_code);
void add_send_command(CLI::App& app, int& exit_code);
void add_recv_command(CLI::App& app, int& exit_code);

}  // namespace ipckit::cli
