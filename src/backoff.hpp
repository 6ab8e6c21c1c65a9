#pragma once

// Private: the pauses of a wait that has no event to sleep on (a System V queue, a FIFO with
// no reader yet, a listener that is not there yet), until a deadline.

#include <algorithm>
#include <chrono>
#include <thread>

#include "ipckit/deadline.hpp"

namespace ipckit::detail {

/// The first and the longest pause between two tries.
struct Backoff {
  std::chrono::nanoseconds next;
  std::chrono::nanoseconds cap;

  /// The pause to take now (never past `deadline`); doubles the next one up to the cap.
  [[nodiscard]] std::chrono::nanoseconds step(Deadline deadline) noexcept {
    const std::chrono::nanoseconds pause = std::min(next, deadline.remaining());
    next = std::min(next * 2, cap);
    return pause;
  }

  /// Sleeps the next pause and returns true; false, without sleeping, once `deadline` has
  /// passed. `while (backoff.sleep(deadline)) { try again }` makes one try after the last pause.
  bool sleep(Deadline deadline) {
    if (deadline.expired()) return false;
    std::this_thread::sleep_for(step(deadline));
    return true;
  }
};

/// The pauses of the library's polling waits: 100 µs, doubling to 10 ms.
inline constexpr Backoff kPollBackoff{std::chrono::microseconds(100), std::chrono::milliseconds(10)};

}  // namespace ipckit::detail
