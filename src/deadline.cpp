#include "ipckit/deadline.hpp"

#include <climits>

namespace ipckit {

Deadline Deadline::after(std::chrono::nanoseconds timeout) noexcept {
  if (timeout <= std::chrono::nanoseconds::zero()) return now();
  auto start = Clock::now();
  if (timeout >= Clock::time_point::max() - start) return never();
  return Deadline{start + std::chrono::duration_cast<Clock::duration>(timeout)};
}

bool Deadline::expired() const noexcept {
  if (is_never()) return false;
  if (when_ == Clock::time_point::min()) return true;
  return Clock::now() >= when_;
}

std::chrono::nanoseconds Deadline::remaining() const noexcept {
  if (is_never()) return std::chrono::nanoseconds::max();
  if (when_ == Clock::time_point::min()) return std::chrono::nanoseconds::zero();
  auto left = when_ - Clock::now();
  if (left <= Clock::duration::zero()) return std::chrono::nanoseconds::zero();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(left);
}

int Deadline::poll_timeout_ms() const noexcept {
  if (is_never()) return -1;
  auto left = remaining();
  if (left == std::chrono::nanoseconds::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace ipckit
