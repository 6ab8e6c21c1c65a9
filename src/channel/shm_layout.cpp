// The channel header's checks: see shm_layout.hpp.

#include "shm_layout.hpp"

#include <cstring>

namespace ipckit::detail::shm_channel {

HeaderCheck check_header(const ChannelHeader& h, std::uint64_t object_size) {
  HeaderCheck c;
  const auto fail = [&](HeaderCheck::Verdict verdict, std::string why) {
    c.verdict = verdict;
    c.why = std::move(why);
    return c;
  };
  // The listener writes the header, then ready = 1: with ready still 0 the other fields may
  // not be written yet, but what is written is its own.
  if (h.ready == 0 && (h.magic == 0 || h.magic == kMagic) && (h.version == 0 || h.version == kVersion)) {
    c.verdict = HeaderCheck::Verdict::unfinished;
    return c;
  }
  if (h.magic != kMagic) return fail(HeaderCheck::Verdict::foreign, "is not an ipckit channel (wrong magic)");
  if (h.version != kVersion) {
    return fail(HeaderCheck::Verdict::other_version, "has layout version " + std::to_string(h.version) +
                                                         "; this ipckit speaks version " + std::to_string(kVersion));
  }
  using V = HeaderCheck::Verdict;
  if (h.ready != 1) return fail(V::corrupt, "has a ready word no listener writes (" + std::to_string(h.ready) + ")");
  if (h.header_size != sizeof(ChannelHeader) || h.slot_size != sizeof(SlotEntry)) {
    return fail(V::corrupt, "has a header of another size (another build of ipckit?)");
  }
  const auto g = geometry(h.slot_count, h.ring_capacity);
  if (!g || g->rings_offset != h.rings_offset || g->ring_stride != h.ring_stride || g->total_size != h.total_size) {
    return fail(V::corrupt, "has an impossible layout (slot count " + std::to_string(h.slot_count) + ", capacity " +
                                std::to_string(h.ring_capacity) + ")");
  }
  if (object_size != g->total_size) {
    return fail(V::corrupt, "is " + std::to_string(object_size) + " bytes but its header says " +
                                std::to_string(g->total_size));
  }
  if (h.max_message == 0 || h.max_message > ring::max_message_for(g->ring_capacity)) {
    return fail(V::corrupt, "says its largest message is " + std::to_string(h.max_message) +
                                " bytes, more than its rings hold");
  }
  c.verdict = V::ok;
  c.geometry = *g;
  return c;
}

ChannelHeader make_header(const Geometry& g, std::uint64_t max_message, std::int32_t receiver_pid,
                          bool receiver_spins, const std::uint8_t (&bell_token)[16]) noexcept {
  ChannelHeader h{};
  h.magic = kMagic;
  h.version = kVersion;
  h.header_size = sizeof(ChannelHeader);
  h.slot_count = g.slot_count;
  h.slot_size = sizeof(SlotEntry);
  h.ring_capacity = g.ring_capacity;
  h.rings_offset = g.rings_offset;
  h.ring_stride = g.ring_stride;
  h.total_size = g.total_size;
  h.max_message = max_message;
  h.receiver_pid = receiver_pid;
  h.receiver_spins = receiver_spins ? 1 : 0;
  std::memcpy(h.bell_token, bell_token, sizeof h.bell_token);
  return h;
}

}  // namespace ipckit::detail::shm_channel
