// `ipckit bench`: placeholder until the bench engine lands.
#include "commands.hpp"

namespace ipckit::cli {
void add_bench_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("bench", "Measure every mechanism side by side (not yet built)");
  cmd->callback([&exit_code] { exit_code = 2; });
}
}  // namespace ipckit::cli
