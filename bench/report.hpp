#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "engine.hpp"

// What `ipckit bench` prints: the JSON of the contract in docs/architecture.md and a table for people.
//
//   ipckit::bench::Report report = ipckit::bench::run(mechanisms, options);
//   fmt::print("{}", ipckit::bench::format_table(report));
//   fmt::print("{}\n", ipckit::bench::to_json(report).dump(2));
//
// JSON: {"machine":{"cpus","cpu_model","kernel"},"results":[{"mechanism","size",
// "rtt_ns":{"p50","p99","p999"},"msgs_per_s","bytes_per_s","floor_ns","cpu_ns_per_msg",...}]}
// with null where a number does not apply (throughput of c2c, floor_ns without two CPUs). An
// errored row has only "mechanism", "size" and "error". Extra fields: per row
// "cpu_ns_per_msg_sender", "cpu_ns_per_msg_receiver", "rtt_samples", "messages", "seconds";
// at the top "pinned_cpus", "latency_budget_s", "throughput_budget_s", "notes".

namespace ipckit::bench {

/// The report as JSON (field order as in the contract).
[[nodiscard]] nlohmann::ordered_json to_json(const Report& report);

/// A header line, one line per row (an errored row says "error: ..."), the notes, a legend.
[[nodiscard]] std::string format_table(const Report& report);

/// A time with three significant digits and a unit: "212 ns", "45.1 µs", "1.23 ms", "2.50 s".
[[nodiscard]] std::string format_duration(double ns);

/// A rate with three significant digits and an SI prefix: format_rate(4.61e6, "") is
/// "4.61 M/s", format_rate(1.15e9, "B") is "1.15 GB/s".
[[nodiscard]] std::string format_rate(double per_second, std::string_view unit);

}  // namespace ipckit::bench
