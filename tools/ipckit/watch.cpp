// stub: being written
#include "commands.hpp"
namespace ipckit::cli {
void add_watch_command(CLI::App& app, int& exit_code) { (void)app; (void)exit_code; }
}  // namespace ipckit::cli
