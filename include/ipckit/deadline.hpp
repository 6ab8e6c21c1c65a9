#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

// ipckit::Deadline: a point in time (on the monotonic clock) by which a wait must end.
// Every blocking ipckit call has a form that takes one; Deadline::never() blocks for good and
// Deadline::now() only tries.
//
//   using namespace std::chrono_literals;
//   auto d = ipckit::Deadline::after(250ms);
//   while (!d.expired()) { ... poll(fds, n, d.poll_timeout_ms()) ... }

namespace ipckit {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  /// A deadline that never passes: wait for good.
  [[nodiscard]] static constexpr Deadline never() noexcept { return Deadline{Clock::time_point::max()}; }
  /// A deadline that has already passed: try once, do not wait.
  [[nodiscard]] static constexpr Deadline now() noexcept { return Deadline{Clock::time_point::min()}; }
  /// A deadline `timeout` from now (negative timeouts act like now()).
  [[nodiscard]] static Deadline after(std::chrono::nanoseconds timeout) noexcept;
  /// A deadline at a given monotonic time point.
  [[nodiscard]] static constexpr Deadline at(Clock::time_point when) noexcept { return Deadline{when}; }

  [[nodiscard]] constexpr bool is_never() const noexcept { return when_ == Clock::time_point::max(); }
  /// True for Deadline::now(): "only try" (would_block), as opposed to a deadline that has
  /// passed while waiting (timed_out).
  [[nodiscard]] constexpr bool is_now() const noexcept { return when_ == Clock::time_point::min(); }
  [[nodiscard]] bool expired() const noexcept;
  /// Time left: zero once expired, nanoseconds::max() for never().
  [[nodiscard]] std::chrono::nanoseconds remaining() const noexcept;
  /// The timeout argument for poll(2): -1 for never(), else the milliseconds left rounded up,
  /// so a poll never returns before the deadline has passed.
  [[nodiscard]] int poll_timeout_ms() const noexcept;
  [[nodiscard]] constexpr Clock::time_point when() const noexcept { return when_; }

 private:
  constexpr explicit Deadline(Clock::time_point when) noexcept : when_(when) {}
  Clock::time_point when_;
};

/// `d` as a relative timespec (the timeout of futex, ppoll, timerfd_settime, sigtimedwait,
/// semtimedop); a negative duration becomes zero.
[[nodiscard]] constexpr timespec to_timespec(std::chrono::nanoseconds d) noexcept {
  const std::int64_t ns = d.count() < 0 ? 0 : d.count();
  return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

/// The deadline as an absolute CLOCK_MONOTONIC time (sem_clockwait, pthread_*_clockwait):
/// std::chrono::steady_clock, and so Deadline, counts that clock on Linux. now() gives zero,
/// never() the furthest time a timespec holds.
[[nodiscard]] constexpr timespec monotonic_timespec(Deadline deadline) noexcept {
  return to_timespec(deadline.when().time_since_epoch());
}

}  // namespace ipckit
