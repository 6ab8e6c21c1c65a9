#pragma once

// Shared by the signal unit and seed tests.

#include "ipckit/error.hpp"
#include "ipckit/signal.hpp"

namespace ipckit::test {

/// Cancels alarm() and the ITIMER_REAL timer when a test ends, however it ends.
struct StopTimers {
  StopTimers() = default;
  StopTimers(const StopTimers&) = delete;
  StopTimers& operator=(const StopTimers&) = delete;
  ~StopTimers() {
    (void)set_alarm(0);
    try {
      (void)set_interval_timer({});
    } catch (const Error&) {
    }
  }
};

}  // namespace ipckit::test
