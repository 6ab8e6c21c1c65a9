#pragma once

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <span>
#include <string_view>

#include "../backoff.hpp"
#include "../sys.hpp"
#include "ipckit/channel.hpp"
#include "ipckit/deadline.hpp"

// Private: the waiting pieces every transport shares (stream, datagram, shm).

namespace ipckit::detail {

/// What a call that ran out of time reports: would_block for Deadline::now(), else timed_out.
[[nodiscard]] inline IoResult expired(Deadline deadline) noexcept {
  return {0, deadline.is_now() ? IoStatus::would_block : IoStatus::timed_out};
}

/// Retrying a connect while no listener is there yet: 1 ms, doubling to 50 ms.
inline constexpr Backoff kConnectBackoff{std::chrono::milliseconds(1), std::chrono::milliseconds(50)};

/// The timeout for poll_for until `deadline` (negative for Deadline::never()).
[[nodiscard]] inline std::chrono::nanoseconds until(Deadline deadline) noexcept {
  return deadline.is_never() ? std::chrono::nanoseconds(-1) : deadline.remaining();
}

/// poll(2) on `fds` for at most `timeout` (negative: until an event), retrying EINTR with the
/// time left. Returns the number of descriptors with events (0: the time passed). Throws
/// Error naming `object`.
inline int poll_for(std::span<pollfd> fds, std::chrono::nanoseconds timeout, std::string_view object) {
  if (timeout.count() == 0) {  // a look, not a wait: no clock to read
    for (;;) {
      const int rc = ::poll(fds.data(), fds.size(), 0);
      if (rc >= 0) return rc;
      if (errno != EINTR) sys::fail("poll", object, errno);
    }
  }
  const bool forever = timeout.count() < 0;
  const auto end = forever ? Deadline::never() : Deadline::after(timeout);
  for (;;) {
    const timespec ts = forever ? timespec{} : to_timespec(end.remaining());
    const int rc = ::ppoll(fds.data(), fds.size(), forever ? nullptr : &ts, nullptr);
    if (rc >= 0) return rc;
    if (errno != EINTR) sys::fail("poll", object, errno);
  }
}

}  // namespace ipckit::detail
