#include "report.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "sizes.hpp"

namespace ipckit::bench {
namespace {

using Json = nlohmann::ordered_json;

// Three significant digits: 4.61, 45.1, 212.
std::string three_digits(double v) {
  if (v >= 99.95) return fmt::format("{:.0f}", v);
  if (v >= 9.995) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2f}", v);
}

// Rounds to `decimals` places so the JSON shows 4771.4, not 4771.400000000001.
double rounded(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(v * scale) / scale;
}

// A rate as a whole number (msgs_per_s, bytes_per_s).
Json whole(double v) {
  Json number = static_cast<std::int64_t>(std::llround(v));
  return number;
}

Json row_json(const RowResult& row) {
  Json j = Json::object();
  j["mechanism"] = row.mechanism;
  j["size"] = row.size;
  if (!row.ok()) {
    j["error"] = row.error;
    return j;
  }
  if (row.rtt) {
    j["rtt_ns"] = {{"p50", row.rtt->p50}, {"p99", row.rtt->p99}, {"p999", row.rtt->p999}};
  } else {
    j["rtt_ns"] = {{"p50", nullptr}, {"p99", nullptr}, {"p999", nullptr}};
  }
  const auto& t = row.throughput;
  j["msgs_per_s"] = t ? whole(t->msgs_per_s) : Json(nullptr);
  j["bytes_per_s"] = t ? whole(t->bytes_per_s) : Json(nullptr);
  j["floor_ns"] = row.floor_ns ? Json(*row.floor_ns) : Json(nullptr);
  j["cpu_ns_per_msg"] = t ? Json(rounded(t->cpu_ns_per_msg, 1)) : Json(nullptr);
  j["cpu_ns_per_msg_sender"] = t ? Json(rounded(t->cpu_ns_per_msg_sender, 1)) : Json(nullptr);
  j["cpu_ns_per_msg_receiver"] = t ? Json(rounded(t->cpu_ns_per_msg_receiver, 1)) : Json(nullptr);
  j["rtt_samples"] = row.rtt ? Json(row.rtt->samples) : Json(nullptr);
  j["messages"] = t ? Json(t->messages) : Json(nullptr);
  j["seconds"] = t ? Json(rounded(t->seconds, 6)) : Json(nullptr);
  return j;
}

// One table line: every cell already formatted.
constexpr std::size_t kColumns = 10;
using Cells = std::array<std::string, kColumns>;
constexpr std::array<std::string_view, kColumns> kHeadings{
    "mechanism", "size",    "p50",   "p99",       "p99.9",
    "msgs/s",    "bytes/s", "floor", "p50/floor", "cpu/msg"};
constexpr std::string_view kNone = "—";

Cells row_cells(const RowResult& row) {
  Cells c;
  c[0] = row.mechanism;
  c[1] = format_size(row.size);
  for (std::size_t i = 2; i < c.size(); ++i) c[i] = kNone;
  if (row.rtt) {
    c[2] = format_duration(static_cast<double>(row.rtt->p50));
    c[3] = format_duration(static_cast<double>(row.rtt->p99));
    c[4] = format_duration(static_cast<double>(row.rtt->p999));
  }
  if (row.throughput) {
    c[5] = format_rate(row.throughput->msgs_per_s, "");
    c[6] = format_rate(row.throughput->bytes_per_s, "B");
    c[9] = format_duration(row.throughput->cpu_ns_per_msg);
  }
  if (row.floor_ns) {
    c[7] = format_duration(static_cast<double>(*row.floor_ns));
    if (row.rtt && *row.floor_ns > 0) {
      const double ratio = static_cast<double>(row.rtt->p50) / static_cast<double>(*row.floor_ns);
      c[8] = ratio < 9.95 ? fmt::format("{:.1f}x", ratio) : fmt::format("{:.0f}x", ratio);
    }
  }
  return c;
}

// Display width of UTF-8 text: code points (the table only has µ and — beyond ASCII).
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char ch) {
    return (static_cast<unsigned char>(ch) & 0xC0U) != 0x80U;
  }));
}

}  // namespace

std::string format_duration(double ns) {
  if (ns < 999.5) return fmt::format("{:.0f} ns", ns);
  if (ns < 999'500.0) return three_digits(ns / 1e3) + " µs";
  if (ns < 999'500'000.0) return three_digits(ns / 1e6) + " ms";
  return three_digits(ns / 1e9) + " s";
}

std::string format_rate(double per_second, std::string_view unit) {
  constexpr std::array<std::string_view, 5> kPrefixes{"", "k", "M", "G", "T"};
  std::size_t i = 0;
  while (i + 1 < kPrefixes.size() && per_second >= 999.5) {
    per_second /= 1000;
    ++i;
  }
  return fmt::format("{} {}{}/s", three_digits(per_second), kPrefixes[i], unit);
}

nlohmann::ordered_json to_json(const Report& report) {
  Json j = Json::object();
  j["machine"] = {{"cpus", report.machine.cpus},
                  {"cpu_model", report.machine.cpu_model},
                  {"kernel", report.machine.kernel}};
  Json results = Json::array();
  for (const auto& row : report.rows) results.push_back(row_json(row));
  j["results"] = std::move(results);
  j["pinned_cpus"] =
      report.pinned ? Json::array({report.pinned->parent, report.pinned->child}) : Json(nullptr);
  j["latency_budget_s"] = std::chrono::duration<double>(report.latency_budget).count();
  j["throughput_budget_s"] = std::chrono::duration<double>(report.throughput_budget).count();
  j["notes"] = report.notes;
  return j;
}

std::string format_table(const Report& report) {
  std::string out =
      fmt::format("ipckit bench: {}, {} CPUs online, Linux {}; ", report.machine.cpu_model,
                  report.machine.cpus, report.machine.kernel);
  out += report.pinned ? fmt::format("the two processes pinned to CPUs {} and {}\n",
                                     report.pinned->parent, report.pinned->child)
                       : std::string("the two processes not pinned\n");

  std::vector<Cells> lines(1);
  std::copy(kHeadings.begin(), kHeadings.end(), lines[0].begin());
  std::vector<const RowResult*> sources{nullptr};
  for (const auto& row : report.rows) {
    lines.push_back(row_cells(row));
    sources.push_back(&row);
  }
  std::array<std::size_t, kColumns> widths{};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool errored = sources[i] != nullptr && !sources[i]->ok();
    for (std::size_t c = 0; c < widths.size(); ++c) {
      if (errored && c >= 2) break;  // an error line prints its message instead
      widths[c] = std::max(widths[c], width(lines[i][c]));
    }
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string line;
    for (std::size_t c = 0; c < widths.size(); ++c) {
      if (sources[i] != nullptr && !sources[i]->ok() && c == 2) {
        line += "  error: " + sources[i]->error;
        break;
      }
      const std::string& cell = lines[i][c];
      const std::string pad(widths[c] - std::min(widths[c], width(cell)), ' ');
      if (c > 0) line += "  ";
      line += c < 2 ? cell + pad : pad + cell;  // names left, numbers right
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  for (const auto& note : report.notes) out += "note: " + note + "\n";
  out +=
      "p50, p99, p99.9: round trip (ping-pong) percentiles; msgs/s, bytes/s: one-way stream; "
      "floor: c2c round trip probed just before the row; cpu/msg: CPU time of both processes "
      "per streamed message\n";
  return out;
}

}  // namespace ipckit::bench
