// `ipckit bench [--only LIST] [--sizes LIST] [--quick] [--json] [--out DIR]`: every mechanism
// side by side, round-trip latency and one-way throughput, as a table or JSON. The measuring
// is the bench engine's (bench/); this file parses options and prints.

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "commands.hpp"
#include "ipckit/fd.hpp"
#include "engine.hpp"
#include "ipckit/error.hpp"
#include "registry.hpp"
#include "report.hpp"
#include "sizes.hpp"

namespace ipckit::cli {
namespace {

struct BenchArgs {
  std::string only{};
  std::string sizes{};
  bool quick = false;
  bool json = false;
  std::string out_dir{};
};

// A CLI11 check that runs `parse` and turns its exception into the error text.
template <class Parse>
CLI::Validator parses_with(Parse parse, std::string name) {
  return CLI::Validator(
      [parse](const std::string& value) -> std::string {
        try {
          (void)parse(value);
          return {};
        } catch (const std::exception& e) {
          return e.what();
        }
      },
      "", std::move(name));
}

std::string mechanisms_help() {
  std::string text = "Mechanisms (run in this order):\n";
  for (const auto& r : bench::registry()) text += fmt::format("  {:<10} {}\n", r.name, r.summary);
  return text;
}

// Creates the --out folder before the run, so a bad path fails at once, not after it.
std::filesystem::path prepare_out_dir(const std::string& dir) {
  const std::filesystem::path folder{dir};
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) throw Error{"mkdir", folder.string(), ec.value(), "cannot create the --out folder"};
  return folder / "bench.json";
}

void write_json_file(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::trunc);
  out << text << '\n';
  out.close();
  if (!out) throw Error{"write", file.string(), 0, "cannot write the JSON report"};
}

int run_bench(const BenchArgs& args) {
  // Measure the configuration we recommend for speed: SIGPIPE ignored process-wide, so
  // ipckit's writes skip the per-write SIGPIPE guard (docs/bench.md says so).
  ignore_sigpipe();
  bench::EngineOptions options =
      args.quick ? bench::EngineOptions::quick() : bench::EngineOptions::full();
  if (!args.sizes.empty()) options.sizes = bench::parse_sizes(args.sizes);
  if (::isatty(STDERR_FILENO) == 1) {
    options.on_row_start = [](const bench::RowStart& r) {
      fmt::print(stderr, "ipckit bench: [{}/{}] {} {}\n", r.index + 1, r.total, r.mechanism,
                 bench::format_size(r.size));
      std::fflush(stderr);
    };
  }
  const std::filesystem::path json_file =
      args.out_dir.empty() ? std::filesystem::path{} : prepare_out_dir(args.out_dir);
  const auto mechanisms =
      args.only.empty() ? bench::all_mechanisms() : bench::select_mechanisms(args.only);
  const bench::Report report = bench::run(mechanisms, options);

  const std::string json = bench::to_json(report).dump(2);
  if (!json_file.empty()) write_json_file(json_file, json);
  if (args.json) {
    fmt::print("{}\n", json);
  } else {
    fmt::print("{}", bench::format_table(report));
  }
  if (!json_file.empty()) fmt::print(stderr, "ipckit bench: wrote {}\n", json_file.string());
  std::fflush(stdout);
  for (const auto& row : report.rows) {
    if (!row.ok()) return 1;
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "bench",
      "Measure every mechanism side by side: round-trip latency (p50, p99, p99.9) and one-way "
      "throughput between two processes pinned to two CPUs");
  auto args = std::make_shared<BenchArgs>();
  cmd->add_option("--only", args->only,
                  "Run only these mechanisms, comma-separated, e.g. pipe,fifo "
                  "(known: " +
                      bench::known_mechanism_names() + "; default: all)")
      ->type_name("LIST")
      ->check(parses_with([](const std::string& v) { return bench::parse_mechanism_list(v); },
                          "MECHANISMS"));
  cmd->add_option("--sizes", args->sizes,
                  "Message sizes in bytes, comma-separated; units K, KiB, M, MiB are powers of "
                  "1024, e.g. 64,4K,1MiB (default: 64,4K; at least 16 B for the header, at most "
                  "64 MiB). c2c always runs once at 64 B")
      ->type_name("LIST")
      ->check(parses_with([](const std::string& v) { return bench::parse_sizes(v); }, "SIZES"));
  cmd->add_flag("--quick", args->quick,
                "About 0.3 s of round trips and 0.3 s of stream per row instead of 1.5 s and 1 s "
                "(a few seconds in all)");
  cmd->add_flag("--json", args->json,
                "Print the results as one JSON object on stdout instead of the table");
  cmd->add_option("--out", args->out_dir,
                  "Also write the JSON to DIR/bench.json (DIR is created); the table, or the "
                  "JSON with --json, still goes to stdout")
      ->type_name("DIR");
  cmd->footer(
      mechanisms_help() +
      "\nEach row forks a second process; both are pinned to two distinct CPUs when two are\n"
      "allowed. Before each row a short c2c probe measures the floor (floor_ns): a cache line\n"
      "bounced between the two CPUs, which moves on a VM, so compare p50/floor row by row.\n"
      "Round trips: ping-pong after a warm-up, each timed with steady_clock. Throughput: a\n"
      "one-way stream; every message carries a sequence number the receiver checks, so a\n"
      "lost, duplicated or reordered message makes the row an error. cpu/msg is the CPU time\n"
      "both processes spent per streamed message. Progress goes to stderr when it is a\n"
      "terminal. Exit status: 0, or 1 when a row failed (its error is in the table or JSON).\n"
      "See docs/bench.md.");
  cmd->callback([args, &exit_code] { exit_code = run_bench(*args); });
}

}  // namespace ipckit::cli
