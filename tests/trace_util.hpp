#pragma once

// Shared by the tracer's unit and seed tests: run a TracedChild to its end and look through
// what it reported.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ipckit/process.hpp"

namespace ipckit::test {

[[nodiscard]] inline bool is_end(const TraceEvent& e) {
  return e.kind == TraceEvent::Kind::exited || e.kind == TraceEvent::Kind::killed;
}

/// Every event up to and including the end (a failure if there is no end in 100000 events).
inline std::vector<TraceEvent> events_to_the_end(TracedChild& traced) {
  std::vector<TraceEvent> events;
  for (int i = 0; i < 100000; ++i) {
    events.push_back(traced.next());
    if (is_end(events.back())) return events;
  }
  ADD_FAILURE() << "the traced child did not end";
  return events;
}

/// The first event of `kind` for signal `signo`, or nullptr.
[[nodiscard]] inline const TraceEvent* find_event(const std::vector<TraceEvent>& events,
                                                  TraceEvent::Kind kind, int signo) {
  for (const auto& e : events)
    if (e.kind == kind && e.signo == signo) return &e;
  return nullptr;
}

/// One line per event, for failure messages.
[[nodiscard]] inline std::string describe(const std::vector<TraceEvent>& events) {
  std::string out;
  for (const auto& e : events) out += e.to_string() + "\n";
  return out;
}

}  // namespace ipckit::test
