#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapter.hpp"

// The bench engine: runs rows (one mechanism at one message size) in two processes and
// returns what they measured. For each row it forks a child; the parent and the child are
// pinned to two distinct CPUs (when at least two are allowed) and go through three phases:
//
//   1. floor probe: c2c ping-pong for a few thousand round trips; its p50 is floor_ns;
//   2. latency: ping-pong over the mechanism; each round trip timed with steady_clock;
//      warm-up first, then until the time budget or the sample cap; p50, p99, p99.9;
//   3. throughput: the parent streams messages for the time budget, the child receives;
//      msgs/s, bytes/s and the CPU time both processes spent per message.
//
// Every message carries a sequence number, checked by the receiver, so a lost, duplicated
// or reordered message makes the row an error. The child reports its results and errors
// over a control pipe; the parent always reaps it, killing it when the row runs past its
// time limit, so a broken adapter gives an error row, never a hang.
//
//   auto options = ipckit::bench::EngineOptions::quick();
//   ipckit::bench::Report report =
//       ipckit::bench::run(ipckit::bench::select_mechanisms("pipe,fifo"), options);
//   for (const auto& row : report.rows) { ... row.rtt->p50 ... row.error ... }

namespace ipckit::bench {

/// Where a row's two processes run.
struct CpuPair {
  int parent = -1;
  int child = -1;
};

/// Round-trip times of one row, in nanoseconds (nearest-rank percentiles).
struct RttStats {
  std::int64_t p50 = 0;
  std::int64_t p99 = 0;
  std::int64_t p999 = 0;
  std::size_t samples = 0;  ///< round trips measured (after the warm-up)
};

/// The one-way stream of one row.
struct ThroughputStats {
  std::uint64_t messages = 0;  ///< messages received in order (the "last" one included)
  double seconds = 0;          ///< parent's first send to child's last receive
  double msgs_per_s = 0;
  double bytes_per_s = 0;
  double cpu_ns_per_msg = 0;           ///< sender's and receiver's CPU time per message
  double cpu_ns_per_msg_sender = 0;    ///< the parent's share
  double cpu_ns_per_msg_receiver = 0;  ///< the child's share
};

/// One mechanism at one message size: numbers, or an error.
struct RowResult {
  std::string mechanism{};
  std::size_t size = 0;
  std::optional<RttStats> rtt{};
  std::optional<ThroughputStats> throughput{};  ///< empty for round-trip-only mechanisms
  std::optional<std::int64_t> floor_ns{};       ///< empty when the probe could not run
  std::string error{};                          ///< empty when the row measured fine

  [[nodiscard]] bool ok() const noexcept { return error.empty(); }
};

/// The machine the numbers come from.
struct MachineInfo {
  unsigned cpus = 0;        ///< online CPUs
  std::string cpu_model{};  ///< /proc/cpuinfo "model name" (or "unknown")
  std::string kernel{};     ///< uname release
};

/// Sent before each row starts (for progress lines).
struct RowStart {
  std::size_t index = 0;  ///< 0-based
  std::size_t total = 0;
  std::string mechanism{};
  std::size_t size = 0;
};

struct EngineOptions {
  /// Message sizes for every mechanism without a fixed size.
  std::vector<std::size_t> sizes{64, 4096};
  /// Ping-pong time per row; the first tenth is warm-up, not recorded.
  std::chrono::nanoseconds latency_budget{std::chrono::milliseconds(1500)};
  /// One-way stream time per row.
  std::chrono::nanoseconds throughput_budget{std::chrono::seconds(1)};
  /// Round trips recorded per row at most (the phase ends early when reached).
  std::size_t max_rtt_samples = 1'000'000;
  /// Messages per throughput phase at most.
  std::uint64_t max_messages = 100'000'000;
  /// The floor probe before each row: its time budget (a tenth warm-up) and sample cap.
  std::chrono::nanoseconds probe_budget{std::chrono::milliseconds(50)};
  std::size_t probe_samples = 4000;
  /// The longest a single wait may last (the child getting ready, a spin, an open) before
  /// the row is given up as an error.
  std::chrono::nanoseconds stall_timeout{std::chrono::seconds(5)};
  /// The whole row's limit; the child is killed past it. Zero: the budgets plus two
  /// stall timeouts plus 10 s.
  std::chrono::nanoseconds row_timeout{};
  /// Pin the two processes to two distinct allowed CPUs (when there are two).
  bool pin = true;
  /// Called before each row starts (progress output); may be empty.
  std::function<void(const RowStart&)> on_row_start{};

  /// The defaults: about 1.5 s of round trips and 1 s of stream per row.
  [[nodiscard]] static EngineOptions full() { return {}; }
  /// About 0.3 s of each per row.
  [[nodiscard]] static EngineOptions quick();
};

/// What a whole run produced.
struct Report {
  MachineInfo machine{};
  std::optional<CpuPair> pinned{};  ///< empty when the processes were not pinned
  std::vector<RowResult> rows{};
  std::vector<std::string> notes{};              ///< e.g. a mechanism skipped on one CPU
  std::chrono::nanoseconds latency_budget{};     ///< as run (EngineOptions)
  std::chrono::nanoseconds throughput_budget{};  ///< as run (EngineOptions)
};

/// Runs every mechanism at every size (a mechanism with a fixed size: one row), in order.
/// Mechanisms that spin are skipped with a note when fewer than two CPUs are allowed. A
/// failing row becomes a RowResult with `error`; run itself throws only for bad options.
[[nodiscard]] Report run(const std::vector<std::unique_ptr<Mechanism>>& mechanisms,
                         const EngineOptions& options);

/// Runs one row. Never throws for a failure of the mechanism: that is `error`.
[[nodiscard]] RowResult run_row(Mechanism& mechanism, std::size_t size,
                                const EngineOptions& options);

/// The CPUs the rows would be pinned to: the first allowed CPU and the next allowed one
/// that is not its SMT sibling (or any other when all are). Empty with fewer than two.
[[nodiscard]] std::optional<CpuPair> choose_cpus();

/// Online CPUs, CPU model and kernel release of this machine.
[[nodiscard]] MachineInfo machine_info();

}  // namespace ipckit::bench
