#pragma once

// The receiving half of the byte-stream framing (fifo://, unix://, tcp://; the wire format of
// docs/architecture.md): each message is a 4-byte little-endian length, then that many bytes.
// Every sender has an Inbox, a buffer that one read(2) fills with as many frames as have
// come; frames are handed out from it without further syscalls, and a frame whose length is
// above max_message is refused before anything is allocated for it. The memory inboxes hold
// beyond their first kInboxSize bytes is bounded by an InboxBudget.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/fd.hpp"

namespace ipckit::detail::stream {

inline constexpr std::size_t kHeader = 4;
inline constexpr std::size_t kInboxSize = 64 * 1024;    // one read takes up to this much
inline constexpr std::size_t kInboxKeep = 1024 * 1024;  // a larger inbox shrinks back once empty

inline void put_length(std::byte* out, std::uint32_t n) noexcept {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>((n >> (8 * i)) & 0xFFU);
}

inline std::uint32_t get_length(const std::byte* in) noexcept {
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n |= std::to_integer<std::uint32_t>(in[i]) << (8 * i);
  return n;
}

// One sender's bytes in flight.
struct Inbox {
  Fd fd;
  std::string who;              // "sender pid 12 (uid 0)", "sender 127.0.0.1:5000"
  std::vector<std::byte> buf;   // [begin, end) holds bytes not handed out yet
  std::size_t begin = 0;
  std::size_t end = 0;
  bool ready = true;            // a read may find data without polling first
  bool starved = false;         // its message needs more room than the budget has: not read
  bool closed = false;          // the sender has gone; hand out what is whole, then drop it
  int error = 0;                // why it went, when a read failed (ECONNRESET...)

  [[nodiscard]] std::size_t held() const noexcept { return end - begin; }
};

enum class FrameState : unsigned char { partial, whole, too_long };

// Whether the inbox holds a whole frame (its length in `length`), part of one, or a length
// above max_message.
FrameState check_frame(const Inbox& in, std::size_t max_message, std::uint32_t& length);

// The memory a listener's inboxes hold beyond their first kInboxSize bytes each
// (ChannelOptions::max_buffered). A single inbox may always grow when no other holds any, so a
// message up to max_message always gets through.
struct InboxBudget {
  std::size_t limit = 0;
  std::size_t extra = 0;  // the sum of (buffer size - kInboxSize) over the inboxes
  bool starving = false;  // an inbox was refused room: idle inboxes give theirs back
  bool shrunk = false;    // memory came back since starved inboxes were last looked at
  // When every inbox holding memory beyond its first kInboxSize is starved mid-message, none
  // could go on: this one (its descriptor) may then grow past the limit until its message is
  // out. -1: none.
  int overdraft = -1;

  [[nodiscard]] static std::size_t extra_of(const Inbox& in) noexcept {
    return in.buf.size() > kInboxSize ? in.buf.size() - kInboxSize : 0;
  }
  [[nodiscard]] bool may_grow(const Inbox& in, std::size_t by) const noexcept {
    // No other inbox holds any, it fits, or it holds the overdraft.
    return extra == extra_of(in) || extra + by <= limit || in.fd.get() == overdraft;
  }
  void resize(Inbox& in, std::size_t size) {
    const std::size_t before = extra_of(in);
    in.buf.reserve(size);  // exactly: a resize alone may double the capacity
    in.buf.resize(size);
    extra = extra - before + extra_of(in);
  }
  void shrink(Inbox& in) {
    std::vector<std::byte> fresh(kInboxSize);  // first: if it throws, nothing was counted
    extra -= extra_of(in);
    fresh.swap(in.buf);
    if (in.fd.get() == overdraft) overdraft = -1;
    shrunk = true;
  }
  void forget(const Inbox& in) noexcept {
    extra -= extra_of(in);
    if (in.fd.get() == overdraft) overdraft = -1;
    shrunk = true;
  }
};

// Copies the whole frame of `length` bytes out and drops it from the inbox, which shrinks back
// when empty and large (or when the budget is short).
std::size_t take_frame(Inbox& in, std::uint32_t length, std::span<std::byte> out, InboxBudget& budget);

enum class ReadOutcome : unsigned char { data, drained, closed, starved };

// One read(2) into the inbox, making room for the frame it holds (whose length has been
// checked against max_message). The inbox grows at most twofold per full read, so memory
// follows the bytes that really came, not the length a peer announced; and only as far as the
// budget allows (else starved: nothing is read, the bytes wait in the kernel).
ReadOutcome read_into(Inbox& in, int* error, InboxBudget& budget);

// What on_sender_dropped says of a sender whose frame was too long, or that went part-way
// through a message.
std::string too_long_reason(const Inbox& in, std::uint32_t length, std::size_t max_message, std::string_view url);
std::string partial_reason(const Inbox& in, std::string_view url, int error);

}  // namespace ipckit::detail::stream
