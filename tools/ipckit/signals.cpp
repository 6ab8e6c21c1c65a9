// `ipckit signals [-l] [--json]`: the signal table of this system (S1, S3): number, name as
// `kill -l` prints it, default action (man 7 signal) and what the signal means.

#include <fmt/core.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.hpp"
#include "ipckit/signal.hpp"

namespace ipckit::cli {
namespace {

// The layout of bash's `kill -l`: "%2d) NAME", a tab after each entry but every fifth,
// which ends its line; a last line that is not full ends with a tab and a newline.
std::string kill_list() {
  std::string out;
  int column = 0;
  for (const auto& row : signal_table()) {
    out += fmt::format("{:2d}) {}", row.number, row.name);
    if (++column < 5) {
      out += '\t';
    } else {
      column = 0;
      out += '\n';
    }
  }
  if (column != 0) out += '\n';
  return out;
}

nlohmann::ordered_json as_json() {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const auto& row : signal_table()) {
    rows.push_back({{"number", row.number},
                    {"name", row.name},
                    {"action", to_string(row.action)},
                    {"description", row.description}});
  }
  return rows;
}

std::string table() {
  std::string out = fmt::format("{:>3}  {:<12} {:<6} {}\n", "NUM", "NAME", "ACTION", "DESCRIPTION");
  for (const auto& row : signal_table())
    out += fmt::format("{:>3}  {:<12} {:<6} {}\n", row.number, row.name, to_string(row.action),
                       row.description);
  return out;
}

}  // namespace

void add_signals_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "signals",
      "Show this system's signals: number, name, default action (Term, Ign, Core, Stop, Cont) "
      "and meaning");
  cmd->footer(
      "Actions (man 7 signal): Term ends the process, Core ends it with a core dump, Ign does "
      "nothing, Stop stops it, Cont continues it if stopped. SIGKILL and SIGSTOP cannot be "
      "caught, blocked or ignored.\n"
      "Real-time signals are named as bash's `kill -l` names them (SIGRTMIN+3, SIGRTMAX-2); "
      "glibc keeps 32 and 33 for itself.");
  auto list = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  auto* list_flag =
      cmd->add_flag("-l,--list", *list, "Print the names as `kill -l` does (byte for byte)");
  cmd->add_flag(
         "--json", *json,
         R"(Print a JSON array: [{"number":2,"name":"SIGINT","action":"Term","description":...}])")
      ->excludes(list_flag);
  cmd->callback([list, json, &exit_code] {
    if (*json) {
      fmt::print("{}\n", as_json().dump(2));
    } else if (*list) {
      fmt::print("{}", kill_list());
    } else {
      fmt::print("{}", table());
    }
    exit_code = 0;
  });
}

}  // namespace ipckit::cli
