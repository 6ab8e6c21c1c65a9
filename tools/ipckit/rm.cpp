// `ipckit rm`: placeholder until the inspect work lands.
#include "commands.hpp"

namespace ipckit::cli {
void add_rm_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("rm", "(not yet built)");
  cmd->group("");  // hidden until it works
  cmd->callback([&exit_code] { exit_code = 2; });
}
}  // namespace ipckit::cli
