#pragma once

#include <sched.h>

#include <chrono>
#include <cstdint>

#include "ipckit/spin.hpp"

// Busy-waiting for adapters that spin (c2c, later shared memory): a pause hint for the CPU and
// a bound, so a spin whose peer has died ends with an error instead of hanging the bench.
//
//   SpinBound bound{row.stall_timeout};
//   while (word.load(std::memory_order_acquire) == seen) {
//     if (!bound.spin()) throw Error{"spin", "c2c line", ETIMEDOUT, "the peer stopped answering"};
//   }
//
// The fast path reads no clock: the deadline is set and checked only every kCheckEvery spins,
// so a wait that ends within a few microseconds costs nothing but the loads and pauses.

namespace ipckit::bench {

using ipckit::cpu_relax;

class SpinBound {
 public:
  /// Spins between two clock checks (a few hundred microseconds of pauses).
  static constexpr std::uint32_t kCheckEvery = 1U << 14;

  explicit SpinBound(std::chrono::nanoseconds timeout) noexcept : timeout_(timeout) {}

  /// One pause. Returns false once `timeout` has passed since the first slow check; until
  /// then, every kCheckEvery spins it also yields the CPU, so two spinners that share one CPU
  /// (a loaded machine) still make progress.
  [[nodiscard]] bool spin() noexcept {
    cpu_relax();
    if ((++spins_ & (kCheckEvery - 1)) != 0) return true;
    return check();
  }

 private:
  bool check() noexcept {
    const auto now = std::chrono::steady_clock::now();
    if (deadline_ == std::chrono::steady_clock::time_point{}) {
      deadline_ = now + timeout_;
    } else if (now >= deadline_) {
      return false;
    }
    sched_yield();
    return true;
  }

  std::chrono::nanoseconds timeout_;
  std::chrono::steady_clock::time_point deadline_{};
  std::uint32_t spins_ = 0;
};

}  // namespace ipckit::bench
