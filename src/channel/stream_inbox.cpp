// The receiving half of the byte-stream framing: see stream_inbox.hpp.

#include "stream_inbox.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ipckit::detail::stream {

FrameState check_frame(const Inbox& in, std::size_t max_message, std::uint32_t& length) {
  if (in.held() < kHeader) return FrameState::partial;
  length = get_length(in.buf.data() + in.begin);
  if (length > max_message) return FrameState::too_long;
  return in.held() >= kHeader + length ? FrameState::whole : FrameState::partial;
}

std::size_t take_frame(Inbox& in, std::uint32_t length, std::span<std::byte> out, InboxBudget& budget) {
  if (length != 0) std::memcpy(out.data(), in.buf.data() + in.begin + kHeader, length);
  in.begin += kHeader + length;
  if (in.begin == in.end) {
    in.begin = in.end = 0;
    if (in.buf.size() > kInboxKeep || (in.buf.size() > kInboxSize && (budget.starving || in.fd.get() == budget.overdraft)))
      budget.shrink(in);
  }
  return length;
}

ReadOutcome read_into(Inbox& in, int* error, InboxBudget& budget) {
  if (in.buf.empty()) in.buf.resize(kInboxSize);
  std::size_t frame = kHeader;
  if (in.held() >= kHeader) frame += get_length(in.buf.data() + in.begin);
  if (in.begin != 0 && in.buf.size() - in.begin < frame) {
    std::memmove(in.buf.data(), in.buf.data() + in.begin, in.held());
    in.end -= in.begin;
    in.begin = 0;
  }
  if (in.end == in.buf.size()) {
    const std::size_t size = std::min(std::max(frame, in.buf.size()), 2 * in.buf.size());
    if (size > in.buf.size()) {
      if (!budget.may_grow(in, size - in.buf.size())) {
        in.starved = true;
        budget.starving = true;
        return ReadOutcome::starved;
      }
      budget.resize(in, size);
    }
  }
  const std::size_t space = in.buf.size() - in.end;
  if (space == 0) return ReadOutcome::data;  // a whole frame fills the inbox: hand it out first
  for (;;) {
    ssize_t n = ::read(in.fd.get(), in.buf.data() + in.end, space);
    if (n > 0) {
      in.end += static_cast<std::size_t>(n);
      if (static_cast<std::size_t>(n) < space) in.ready = false;  // most likely empty now
      return ReadOutcome::data;
    }
    if (n == 0) return ReadOutcome::closed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      in.ready = false;
      return ReadOutcome::drained;
    }
    *error = errno;
    return ReadOutcome::closed;
  }
}

std::string too_long_reason(const Inbox& in, std::uint32_t length, std::size_t max_message, std::string_view url) {
  return in.who + " on " + std::string(url) + " sent a message length of " + std::to_string(length) +
         " bytes, above the channel's maximum of " + std::to_string(max_message) +
         " (max_message): its connection was closed, nothing was allocated for it";
}

std::string partial_reason(const Inbox& in, std::string_view url, int error) {
  std::uint32_t length = in.held() >= kHeader ? get_length(in.buf.data() + in.begin) : 0;
  std::string what = in.held() >= kHeader
                         ? std::to_string(in.held() - kHeader) + " of " + std::to_string(length) + " bytes"
                         : std::to_string(in.held()) + " of the 4 bytes of its length";
  std::string why = error != 0 ? std::string(" (") + std::strerror(error) + ")" : "";  // NOLINT(concurrency-mt-unsafe)
  return in.who + " on " + std::string(url) + " went away part-way through a message" + why + " (" + what +
         " had come): the partial message was dropped";
}

}  // namespace ipckit::detail::stream
