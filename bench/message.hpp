#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

// The header every bench message starts with: a sequence number, flags (the "last message"
// flag) and the phase it belongs to. The engine writes it, the receiving side checks it, so a
// lost, duplicated or reordered message turns into an error row instead of numbers:
//
//   std::vector<std::byte> msg(4096);
//   ipckit::bench::write_header(msg, {.seq = 7, .flags = ipckit::bench::kLastMessage,
//                                     .phase = ipckit::bench::Phase::throughput});
//   auto h = ipckit::bench::read_header(msg);      // h.seq == 7, h.last() == true
//
// Layout (host byte order; both processes run on the same machine): bytes 0-7 the sequence
// number, 8-11 the flags, 12-15 the phase. The rest of a message is payload nobody reads.

namespace ipckit::bench {

/// Bytes of header at the start of every message; the smallest message a row may use.
inline constexpr std::size_t kHeaderSize = 16;

/// Which part of a row a message belongs to. Numbered from 1 so that no real header is all
/// zero bits (an adapter that spins on a zeroed word can tell "nothing yet" from a message).
enum class Phase : std::uint32_t {
  probe = 1,       ///< the c2c floor probe taken just before the row
  latency = 2,     ///< ping-pong round trips
  throughput = 3,  ///< one-way stream
};

/// flags: this is the last message of its phase.
inline constexpr std::uint32_t kLastMessage = 1;

struct Header {
  std::uint64_t seq = 0;
  std::uint32_t flags = 0;
  Phase phase = Phase::latency;

  [[nodiscard]] bool last() const noexcept { return (flags & kLastMessage) != 0; }
};

/// "probe", "latency", "throughput".
[[nodiscard]] constexpr const char* to_string(Phase phase) noexcept {
  switch (phase) {
    case Phase::probe:
      return "probe";
    case Phase::latency:
      return "latency";
    case Phase::throughput:
      return "throughput";
  }
  return "unknown";
}

/// Writes `h` into the first kHeaderSize bytes of `message` (which must be that long).
inline void write_header(std::span<std::byte> message, const Header& h) noexcept {
  const auto phase = static_cast<std::uint32_t>(h.phase);
  std::memcpy(message.data(), &h.seq, 8);
  std::memcpy(message.data() + 8, &h.flags, 4);
  std::memcpy(message.data() + 12, &phase, 4);
}

/// Reads the header from the first kHeaderSize bytes of `message`.
[[nodiscard]] inline Header read_header(std::span<const std::byte> message) noexcept {
  Header h;
  std::uint32_t phase = 0;
  std::memcpy(&h.seq, message.data(), 8);
  std::memcpy(&h.flags, message.data() + 8, 4);
  std::memcpy(&phase, message.data() + 12, 4);
  h.phase = static_cast<Phase>(phase);
  return h;
}

}  // namespace ipckit::bench
