#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "ipckit/ring.hpp"

// The layout of a shm:// channel's segment, the POSIX shm object "/ipckit-ch-NAME": what the
// channel transport (shm_listener.cpp, shm_sender.cpp) and `ipckit ls` (which reads it to list channels) agree on. Plain
// fixed-width fields, little-endian, the same for 32- and 64-bit processes; no pointers.
//
//   offset          size                 what
//   0               sizeof(ChannelHeader) the channel header (below)
//   256             16 * slot_count      the slot table: one SlotEntry per sender at once
//   rings_offset    ring_stride * slots  one ring (ring.hpp) per slot: its 320-byte header, then
//                                        its data area, which starts on a 4096-byte boundary
//   (rings_offset = 4096 * k - 320, the first such offset past the slot table;
//    ring_stride = capacity + 4096)
//
// Channel header:
//   offset  size  field             written by   meaning
//   0       8     magic             listener     "IPCKCHAN" (0x4e4148434b435049)
//   8       4     version           listener     2
//   12      4     header_size       listener     256
//   16      4     slot_count        listener     senders at once (1..kMaxSlots)
//   20      4     slot_size         listener     16: sizeof(SlotEntry)
//   24      8     ring_capacity     listener     data bytes of each ring (ring::valid_capacity)
//   32      8     rings_offset      listener     where ring 0 starts
//   40      8     ring_stride       listener     bytes from one ring to the next
//   48      8     total_size        listener     the segment's size (fstat must agree)
//   56      8     max_message       listener     the largest message the listener takes
//   64      4     receiver_pid      listener     for `ipckit ls` only, never for liveness
//   68      4     ready             listener     0 while initialising, then 1 (release store)
//   72      4     receiver_spins    listener     1: the listener busy-polls and never sleeps, so
//                                                senders skip the wake-up check (0: it may sleep)
//   80      16    bell_token        listener     random; names the readiness descriptor's doorbell,
//                                                the abstract datagram socket
//                                                "@ipckit/shm-bell/<32 hex digits of the 16 bytes>"
//   128     4     receiver_closed   listener     1 once the listener has closed (clean close)
//   192     4     receiver_waiting  listener     0 awake; 1 asleep in FUTEX_WAIT on receiver_wake;
//                                                2 waiting in poll on its readiness descriptor
//   196     4     receiver_wake     senders      futex word. After a message, a sender that
//                                                finds receiver_waiting not 0 swaps it to 0 and
//                                                then adds 1 here and FUTEX_WAKEs (1), or sends
//                                                one datagram to the doorbell (2). On a claim, a
//                                                join or a close it does both, whatever the flag
//                                                says, and leaves the flag
//
// Slot entry (16 bytes): state (4: SlotState), sender_pid (4, for ls only), sender_spins (4:
// 1 when the sender busy-polls on a full ring and never sleeps, so the listener skips the
// wake-up check after each message it takes; written before the slot becomes active), 4 reserved.
// A peer that says it spins but sleeps only harms itself: nobody wakes it, and its sleeps are
// bounded by the liveness period.
//
// Liveness is not in the segment: open-file-description locks (fcntl F_OFD_SETLK) on the
// object's bytes. The listener holds a write lock on byte kReceiverLockByte, the sender in
// slot i on byte sender_lock_byte(i); the kernel drops them when the process dies.

namespace ipckit::detail::shm_channel {

inline constexpr std::uint64_t kMagic = 0x4e4148434b435049ULL;  // "IPCKCHAN" read as LE
inline constexpr std::uint32_t kVersion = 2;
inline constexpr std::uint32_t kMaxSlots = 64;

/// receiver_waiting's values.
inline constexpr std::uint32_t kAwake = 0;
inline constexpr std::uint32_t kAsleepOnFutex = 1;
inline constexpr std::uint32_t kWaitingOnBell = 2;
inline constexpr const char* kObjectPrefix = "/ipckit-ch-";
/// A memfd channel's (shm://@NAME) memfd is named "ipckit-ch-NAME": /proc/PID/fd shows it as
/// "/memfd:ipckit-ch-NAME (deleted)".
inline constexpr const char* kMemfdPrefix = "memfd:ipckit-ch-";

/// A slot's life: free → claiming (a sender won the CAS and is initialising its ring) →
/// active (release store: the ring is ready) → closed (the sender left cleanly) or dropped
/// (the listener refused its ring) → free again (only the listener, once it has drained it
/// and the sender's lock is gone).
enum class SlotState : std::uint32_t {
  free = 0,
  claiming = 1,
  active = 2,
  closed = 3,
  dropped = 4
};

struct ChannelHeader {
  alignas(ring::kCacheLine) std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t header_size;
  std::uint32_t slot_count;
  std::uint32_t slot_size;
  std::uint64_t ring_capacity;
  std::uint64_t rings_offset;
  std::uint64_t ring_stride;
  std::uint64_t total_size;
  std::uint64_t max_message;
  std::int32_t receiver_pid;
  std::uint32_t ready;
  std::uint32_t receiver_spins;
  std::uint32_t reserved0;
  std::uint8_t bell_token[16];
  // Written once by the listener as it closes; read by senders on every send (a shared,
  // clean line: no coherence traffic on the hot path).
  alignas(ring::kCacheLine) std::uint32_t receiver_closed;
  // The futex pair: the listener writes receiver_waiting only around a sleep, senders write
  // receiver_wake only when it sleeps; on their own line, away from the fields above.
  alignas(ring::kCacheLine) std::uint32_t receiver_waiting;
  std::uint32_t receiver_wake;
};

struct SlotEntry {
  std::uint32_t state;
  std::int32_t sender_pid;
  std::uint32_t sender_spins;
  std::uint32_t reserved;
};

static_assert(offsetof(ChannelHeader, magic) == 0);
static_assert(offsetof(ChannelHeader, version) == 8);
static_assert(offsetof(ChannelHeader, header_size) == 12);
static_assert(offsetof(ChannelHeader, slot_count) == 16);
static_assert(offsetof(ChannelHeader, slot_size) == 20);
static_assert(offsetof(ChannelHeader, ring_capacity) == 24);
static_assert(offsetof(ChannelHeader, rings_offset) == 32);
static_assert(offsetof(ChannelHeader, ring_stride) == 40);
static_assert(offsetof(ChannelHeader, total_size) == 48);
static_assert(offsetof(ChannelHeader, max_message) == 56);
static_assert(offsetof(ChannelHeader, receiver_pid) == 64);
static_assert(offsetof(ChannelHeader, ready) == 68);
static_assert(offsetof(ChannelHeader, receiver_spins) == 72);
static_assert(offsetof(ChannelHeader, bell_token) == 80);
static_assert(offsetof(ChannelHeader, receiver_closed) == 128);
static_assert(offsetof(ChannelHeader, receiver_waiting) == 192);
static_assert(offsetof(ChannelHeader, receiver_wake) == 196);
static_assert(sizeof(ChannelHeader) == 256);
static_assert(sizeof(SlotEntry) == 16);
static_assert(offsetof(SlotEntry, state) == 0);
static_assert(offsetof(SlotEntry, sender_pid) == 4);
static_assert(offsetof(SlotEntry, sender_spins) == 8);

inline constexpr std::uint64_t kReceiverLockByte = 0;
[[nodiscard]] constexpr std::uint64_t sender_lock_byte(std::uint32_t slot) noexcept {
  return 1 + slot;
}

/// Ring data areas start on multiples of this (the usual page size; fixed, so that builds on
/// machines with other page sizes agree on the layout).
inline constexpr std::uint64_t kDataAlign = 4096;

/// Where everything lies for `slots` rings of `capacity` bytes: computed, never read from the
/// segment (a peer's header values are only compared with it).
struct Geometry {
  std::uint32_t slot_count = 0;
  std::uint64_t ring_capacity = 0;
  std::uint64_t rings_offset = 0;
  std::uint64_t ring_stride = 0;
  std::uint64_t total_size = 0;
};

[[nodiscard]] constexpr std::uint64_t align_up(std::uint64_t value, std::uint64_t to) noexcept {
  return (value + to - 1) / to * to;
}

/// The geometry, or nothing when `slots` or `capacity` is out of range.
[[nodiscard]] constexpr std::optional<Geometry> geometry(std::uint32_t slots,
                                                         std::uint64_t capacity) noexcept {
  if (slots == 0 || slots > kMaxSlots || !ring::valid_capacity(capacity)) return std::nullopt;
  Geometry g;
  g.slot_count = slots;
  g.ring_capacity = capacity;
  // Each ring's data area starts on a kDataAlign boundary (its 320-byte header just before
  // it), so the listener can map the data it only reads read-only.
  g.rings_offset = align_up(sizeof(ChannelHeader) + std::uint64_t{sizeof(SlotEntry)} * slots +
                                sizeof(ring::Header),
                            kDataAlign) -
                   sizeof(ring::Header);
  g.ring_stride = align_up(ring::segment_size(capacity), kDataAlign);
  g.total_size = g.rings_offset + g.ring_stride * slots;
  return g;
}

/// What a channel header says, checked against the object's size (fstat's): the one check
/// of a segment that both a joining sender and `ipckit ls` make.
struct HeaderCheck {
  enum class Verdict {
    ok,             ///< a complete header of this version, consistent with the object
    unfinished,     ///< ready still 0 and nothing foreign: a listener is writing it
    foreign,        ///< not a channel (wrong magic)
    other_version,  ///< a channel of another layout version
    corrupt,        ///< a channel header no listener of this version writes
  };
  Verdict verdict = Verdict::corrupt;
  /// For foreign, other_version and corrupt: what is wrong, to follow "the segment ..."
  /// ("has layout version 3; this ipckit speaks version 2").
  std::string why;
  Geometry geometry{};  ///< computed from slot_count and ring_capacity, when ok
};

/// Checks a copy of the header (never the shared one: a peer may change it meanwhile).
[[nodiscard]] HeaderCheck check_header(const ChannelHeader& h, std::uint64_t object_size);

/// The header a listener writes, with `ready` still 0 (it stores 1 last, with release).
[[nodiscard]] ChannelHeader make_header(const Geometry& g, std::uint64_t max_message, std::int32_t receiver_pid,
                                        bool receiver_spins, const std::uint8_t (&bell_token)[16]) noexcept;

}  // namespace ipckit::detail::shm_channel
