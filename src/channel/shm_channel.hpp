#pragma once

// shm:// transport: ipckit's channel over shared memory, private to its two ends
// (shm_listener.cpp, shm_sender.cpp). The segment's layout is shm_layout.hpp, its making,
// joining, liveness locks and removal shm_segment.hpp, the waking shm_wake.hpp, the memfd
// variant's rendezvous shm_rendezvous.hpp; the ring each sender writes is
// include/ipckit/ring.hpp.
//
// Several senders: one ring per sender. A sender claims a free slot of the segment when it
// connects and is the only writer of that slot's ring, so the hot path of a send is the ring's
// single-producer path: no compare-and-swap, no lock, no cache line that two senders write.
// A shared ring with a reservation protocol would make every send contend on one write
// index, and a sender that died between reserving and committing would leave a hole that
// every later message waits behind; with one ring per sender a dead sender only ever affects
// its own ring, whose committed messages the listener still delivers and whose uncommitted
// reservation it never sees (a record is committed by the release store of its tag: never a
// partial message). The listener drains the rings round robin, one message per ring per
// turn, so no sender starves another. The cost: memory (slot_count rings) and a bounded
// number of senders at once (8 by default).
//
// The end belongs to the process that made it: a forked copy that is destroyed only closes
// its descriptors (it does not close the channel, free the slot or stop the memfd rendezvous).
//
// Untrusted peer: every value read from the segment is checked. The rings check their own
// records (ring.hpp); the geometry is computed from slot_count and ring_capacity and only
// compared with the header; a slot state that is not one of SlotState is ignored; a message
// longer than the listener's max_message (which an honest sender never commits) drops that
// sender. A sender whose ring reports corrupt is dropped by the listener
// (on_sender_dropped, the others go on); a sender that finds its ring corrupted by the
// listener treats the listener as gone: peer_closed, as for a listener that died.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "ipckit/fd.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/ring.hpp"
#include "shm_layout.hpp"
#include "shm_wake.hpp"
#include "url.hpp"

namespace ipckit::detail {

namespace sc = shm_channel;

inline constexpr std::uint64_t kDefaultCapacity = std::uint64_t{1} << 20;
inline constexpr std::uint32_t kDefaultSlots = 8;

inline std::uint32_t load_state(sc::SlotEntry& slot) noexcept {
  // acquire: a sender's ring initialisation (active) or last commit (closed) happens before.
  return atomic(slot.state).load(std::memory_order_acquire);
}

// "/ipckit-ch-NAME", the named segment of shm://NAME. Throws Error for a name POSIX refuses.
[[nodiscard]] std::string object_name(const ChannelUrl& url);

// The object's descriptor (which carries this end's liveness lock) and its mapping, with
// the geometry this end computed (never re-read from the segment).
class Segment {
 public:
  Segment(std::string name, Fd fd, Mapping mapping, sc::Geometry geometry) noexcept
      : name_(std::move(name)),
        fd_(std::move(fd)),
        mapping_(std::move(mapping)),
        geometry_(geometry) {}

  [[nodiscard]] sc::ChannelHeader& header() noexcept {
    return *reinterpret_cast<sc::ChannelHeader*>(base());
  }
  [[nodiscard]] sc::SlotEntry& slot(std::uint32_t i) noexcept {
    return reinterpret_cast<sc::SlotEntry*>(base() + sizeof(sc::ChannelHeader))[i];
  }
  [[nodiscard]] std::span<std::byte> ring(std::uint32_t i) noexcept {
    return {base() + geometry_.rings_offset + geometry_.ring_stride * i, geometry_.ring_stride};
  }
  [[nodiscard]] const sc::Geometry& geometry() const noexcept { return geometry_; }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  std::byte* base() noexcept { return mapping_.bytes().data(); }
  std::string name_;
  Fd fd_;
  Mapping mapping_;
  sc::Geometry geometry_;
};

}  // namespace ipckit::detail
