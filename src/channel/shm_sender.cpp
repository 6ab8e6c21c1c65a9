// shm:// transport, a sending end: see shm_channel.hpp for the design.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "../sys.hpp"
#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/ring.hpp"
#include "shm_channel.hpp"
#include "shm_rendezvous.hpp"
#include "shm_segment.hpp"
#include "transport.hpp"
#include "wait.hpp"

namespace ipckit::detail {
namespace {

using namespace std::chrono_literals;

// A sender with room in its ring looks at the listener's lock at most every so many sends.
constexpr unsigned kLockCheckEvery = 1024;

// --- A sending end ------------------------------------------------------------------------

class ShmSender final : public Channel::Transport {
 public:
  ShmSender(std::string url, std::size_t max_message, Segment segment, std::uint32_t slot,
            ring::Writer writer, std::chrono::nanoseconds spin, bool receiver_spins, Bell bell)
      : Transport(std::move(url), max_message, false),
        seg_(std::move(segment)),
        slot_(slot),
        writer_(writer),
        spin_(spin),
        receiver_spins_(receiver_spins),
        bell_(std::move(bell)) {}
  ShmSender(const ShmSender&) = delete;
  ShmSender& operator=(const ShmSender&) = delete;

  ~ShmSender() override {
    // A copy in a forked child: the slot is the parent's (which shares our lock).
    if (::getpid() != owner_) return;
    sc::SlotEntry& slot = seg_.slot(slot_);
    auto expected = static_cast<std::uint32_t>(sc::SlotState::active);
    // release: every commit before it is visible to a listener that sees closed (acquire).
    // A CAS, not a store: the listener may have dropped this slot, which stays dropped.
    (void)atomic(slot.state)
        .compare_exchange_strong(expected, static_cast<std::uint32_t>(sc::SlotState::closed),
                                 std::memory_order_release, std::memory_order_relaxed);
    sc::ChannelHeader& h = seg_.header();
    notify(h.receiver_wake, bell_);
    // Then the descriptor closes (a member), which drops the slot's lock.
  }

  IoResult send(std::span<const std::byte> message, Deadline deadline) override {
    return put([&] { return try_put(message); }, deadline);
  }

  // A loan is room reserved in the ring (waited for as a send waits), filled in place;
  // commit_loan publishes it, and one never committed is simply overwritten by the next.
  IoResult loan(std::size_t size, Deadline deadline, std::span<std::byte>& room) override {
    return put(
        [&] {
          const ring::Status s = writer_.reserve(size, room);
          return s == ring::Status::ok || s == ring::Status::full ? s : ring::Status::corrupt;
        },
        deadline);
  }

  IoResult commit_loan(std::span<std::byte>, std::size_t size, Deadline) override {
    writer_.commit(size);
    wake_listener();
    return {};
  }

  IoResult receive(std::span<std::byte>, Deadline) override {
    sys::fail("Channel::receive", url_, EBADF, "this end was made by connect() and sends");
  }

 private:
  // A send or a loan: `attempt` (ok, full, or corrupt: the listener broke our ring) on the
  // ring, waiting for room as the deadline allows.
  template <class Attempt>
  IoResult put(Attempt&& attempt, Deadline deadline) {
    if (peer_gone_) return {0, IoStatus::peer_closed};
    // acquire: pairs with the listener's release store as it closes.
    if (atomic(seg_.header().receiver_closed).load(std::memory_order_acquire) != 0) return gone();
    // A listener killed while our ring has room would go unnoticed until the ring fills:
    // every kLockCheckEvery sends, once a liveness period at most, look at its lock. Less
    // than one syscall per thousand messages, none on the other sends.
    if (++sends_since_check_ >= kLockCheckEvery) {
      sends_since_check_ = 0;
      if (liveness_.due() && listener_gone(true)) return gone();
    }
    // The hot path: room in our ring.
    switch (attempt()) {
      case ring::Status::ok:
        return {0, IoStatus::ok};
      case ring::Status::full:
        return wait_for_room(attempt, deadline);
      default:
        return gone();
    }
  }

  // ok (committed, the listener woken if it sleeps), full, or corrupt (the listener broke
  // our ring: it is treated as gone).
  ring::Status try_put(std::span<const std::byte> message) noexcept {
    const ring::Status s = writer_.try_write(message);
    if (s != ring::Status::ok) return s == ring::Status::full ? s : ring::Status::corrupt;
    wake_listener();
    return ring::Status::ok;
  }

  // After a commit: wakes the listener if it said it sleeps. One that busy-polls never
  // sleeps: no wake-up check (its fence) per message.
  void wake_listener() noexcept {
    if (!receiver_spins_) {
      sc::ChannelHeader& h = seg_.header();
      wake_if_waiting(h.receiver_waiting, h.receiver_wake, &bell_);
    }
  }

  IoResult gone() noexcept {
    peer_gone_ = true;
    return {0, IoStatus::peer_closed};
  }

  // The listener closed, died, or dropped us.
  bool listener_gone(bool check_lock) noexcept {
    if (atomic(seg_.header().receiver_closed).load(std::memory_order_acquire) != 0) return true;
    if (load_state(seg_.slot(slot_)) != static_cast<std::uint32_t>(sc::SlotState::active))
      return true;
    return check_lock && !byte_locked(seg_.fd(), sc::kReceiverLockByte);
  }

  template <class Attempt>
  IoResult wait_for_room(Attempt& attempt, Deadline deadline) {
    const auto until_spun = spin_end(deadline.is_now() ? 0ns : spin_);
    for (unsigned spins = 0;; ++spins) {  // spinning
      if (spins % kClockEvery == 0) {
        if (listener_gone(liveness_.due())) return gone();
        if (deadline.expired()) return expired(deadline);
        if (Clock::now() >= until_spun) break;
      }
      cpu_relax();
      const ring::Status s = attempt();
      if (s == ring::Status::ok) return {0, IoStatus::ok};
      if (s != ring::Status::full) return gone();
    }
    auto* rh = writer_.header();
    for (;;) {  // sleeping
      ring::Status s = ring::Status::full;
      const auto now = Clock::now();
      const auto wake_at = std::min(deadline.when(), now + kLivenessPeriod);
      sleep_on(rh->writer_waiting, rh->writer_wake, wake_at - now, [&] {
        s = attempt();
        return s != ring::Status::full || listener_gone(false);
      });
      if (s == ring::Status::ok) return {0, IoStatus::ok};
      if (s != ring::Status::full) return gone();
      s = attempt();
      if (s == ring::Status::ok) return {0, IoStatus::ok};
      if (s != ring::Status::full) return gone();
      if (listener_gone(liveness_.due())) return gone();
      if (deadline.expired()) return expired(deadline);
    }
  }

  pid_t owner_ = ::getpid();  // the process that connected (see the destructor)
  Segment seg_;
  std::uint32_t slot_;
  ring::Writer writer_;
  std::chrono::nanoseconds spin_;
  bool receiver_spins_;  // the listener said it never sleeps (sc::ChannelHeader::receiver_spins)
  Bell bell_;            // rings a listener that waits in poll (receiver_waiting == 2)
  bool peer_gone_ = false;
  unsigned sends_since_check_ = 0;
  LivenessTimer liveness_;
};

}  // namespace

// --- Set-up -------------------------------------------------------------------------------

namespace {

// A copy of the header of the segment open on `fd` (fstat gave `size`), checked, when a sender
// may join now; nothing (with `problem`) when it may later: being made, its listener closing
// or gone. Throws Error (EPROTO) for a segment no listener of this version made.
std::optional<sc::ChannelHeader> joinable_header(const Fd& fd, std::uint64_t size, const std::string& name,
                                                 bool named, const std::string& u, const std::string& remove_it,
                                                 std::string& problem) {
  if (size < sizeof(sc::ChannelHeader)) {
    problem = "the segment " + name + " was still being made";
    return std::nullopt;
  }
  sc::ChannelHeader seen{};
  {
    Mapping head = Mapping::map_fd(fd, {.access = Access::read_only, .length = sizeof(sc::ChannelHeader)});
    auto* h = reinterpret_cast<sc::ChannelHeader*>(const_cast<std::byte*>(std::as_const(head).bytes().data()));
    // acquire: pairs with listen()'s release; the fields were written before.
    if (atomic(h->ready).load(std::memory_order_acquire) != 0) std::memcpy(&seen, h, sizeof seen);
  }
  const sc::HeaderCheck check = sc::check_header(seen, size);
  if (check.verdict == sc::HeaderCheck::Verdict::unfinished) {
    problem = "the segment " + name + " was still being made";
    return std::nullopt;
  }
  if (check.verdict != sc::HeaderCheck::Verdict::ok) {
    sys::fail("Channel::connect", name, EPROTO,
              "the segment of " + u + " " + check.why + "; " + remove_it + " and listen again");
  }
  if (seen.receiver_closed != 0) {
    problem = "its listener was closing";
    return std::nullopt;
  }
  if (!byte_locked(fd.get(), sc::kReceiverLockByte)) {
    problem = named ? "the segment " + name +
                          " is stale (its listener has gone without removing it: `ipckit rm --stale` or "
                          "`ipckit rm --shm " + name + "` removes it)"
                    : "its listener has gone";
    return std::nullopt;
  }
  return seen;
}

// Claims a free slot of the segment and initialises its ring: the sender, or nothing (with
// `problem`, and `slots_full` the slot count) when every slot is taken.
std::unique_ptr<ShmSender> claim_slot(Segment seg, const sc::ChannelHeader& seen, const std::string& u,
                                      const ChannelOptions& options, std::string& problem,
                                      std::uint32_t& slots_full) {
  const sc::Geometry g = seg.geometry();
  const std::string name = seg.name();
  // Claim a slot: its lock first (a previous sender of the slot may still hold it for the
  // instant between marking it closed and closing its descriptor; and two claimers never both
  // get it), then free → claiming.
  for (std::uint32_t i = 0; i < g.slot_count; ++i) {
    sc::SlotEntry& slot = seg.slot(i);
    if (load_state(slot) != static_cast<std::uint32_t>(sc::SlotState::free)) continue;
    if (!try_lock_byte(seg.fd(), sc::sender_lock_byte(i), name)) continue;
    auto expected = static_cast<std::uint32_t>(sc::SlotState::free);
    // acquire: the listener's reads of the previous ring (its release store of free) happen
    // before we initialise it again.
    if (!atomic(slot.state)
             .compare_exchange_strong(expected, static_cast<std::uint32_t>(sc::SlotState::claiming),
                                      std::memory_order_acquire)) {
      unlock_byte(seg.fd(), sc::sender_lock_byte(i));
      continue;
    }
    sc::ChannelHeader& h = seg.header();
    Bell bell{seen.bell_token};
    // A claimed slot bounds the listener's sleep: should we die before the ring is ready, it
    // wakes to look at our lock and gives the slot back.
    notify(h.receiver_wake, bell);
    atomic(slot.sender_pid).store(::getpid(), std::memory_order_relaxed);
    atomic(slot.sender_spins).store(options.spin == std::chrono::nanoseconds::max() ? 1 : 0,
                                    std::memory_order_relaxed);
    // A fresh key: bytes of the previous sender's records never match this ring's tags.
    const std::span<std::byte> ring_bytes = seg.ring(i);
    ring::Writer writer;
    if (!ring::initialise(ring_bytes, g.ring_capacity, sys::random_u64()) ||
        writer.attach(ring_bytes) != ring::Status::ok) {
      atomic(slot.state)
          .store(static_cast<std::uint32_t>(sc::SlotState::free), std::memory_order_release);
      sys::fail("Channel::connect", name, EPROTO,
                "could not lay out a ring in slot " + std::to_string(i) + " of " + u);
    }
    // release: the initialised ring is visible to the listener that sees active (acquire).
    atomic(slot.state)
        .store(static_cast<std::uint32_t>(sc::SlotState::active), std::memory_order_release);
    notify(h.receiver_wake, bell);
    const std::size_t max =
        std::min<std::size_t>({options.max_message, static_cast<std::size_t>(seen.max_message),
                               static_cast<std::size_t>(writer.max_message())});
    return std::make_unique<ShmSender>(u, max, std::move(seg), i, writer, options.spin,
                                       seen.receiver_spins == 1, std::move(bell));
  }
  slots_full = g.slot_count;
  problem = "all " + std::to_string(g.slot_count) + " sender slots were taken";
  // The listener gives back the slots of dead senders when it looks at the locks: wake it.
  sc::ChannelHeader& h = seg.header();
  Bell bell{seen.bell_token};
  notify(h.receiver_wake, bell);
  return nullptr;
}

// One try at joining the segment open on `fd`: checks it, then claims a slot. The sender, or
// nothing (with `problem` saying why) when it may work later (listener initialising or
// closing, no free slot). Errors that will not go away throw.
std::unique_ptr<ShmSender> join(const ChannelUrl& url, const std::string& name, Fd fd, bool named,
                                const ChannelOptions& options, std::string& problem, std::uint32_t& slots_full) {
  const std::string u = url.to_string();
  slots_full = 0;
  const std::string remove_it = named ? "remove it with `ipckit rm --shm " + name + "`" : "restart its listener";
  const struct stat st = check_segment_object(fd.get(), name, u, named, remove_it);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const std::optional<sc::ChannelHeader> seen = joinable_header(fd, size, name, named, u, remove_it, problem);
  if (!seen) return nullptr;
  const sc::Geometry g = *sc::geometry(seen->slot_count, seen->ring_capacity);  // checked
  Mapping mapping = Mapping::map_fd(fd, {.length = g.total_size});
  return claim_slot(Segment{name, std::move(fd), std::move(mapping), g}, *seen, u, options, problem, slots_full);
}

}  // namespace

TransportPtr connect_shm(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline) {
  const std::string u = url.to_string();
  const bool memfd = is_memfd(url);
  const std::string name = memfd ? memfd_name(url) : object_name(url);
  if (memfd) (void)rendezvous_address(url);  // a bad name is an error at once
  Backoff backoff = kConnectBackoff;
  for (;;) {
    std::string problem;
    std::uint32_t slots_full = 0;  // the channel's slot count, when every slot was taken
    std::optional<Fd> fd = memfd ? open_memfd(url, deadline, problem) : open_named_segment(name, "channel " + u, problem);
    if (fd) {
      if (auto sender = join(url, name, std::move(*fd), !memfd, options, problem, slots_full)) return sender;
    }
    if (deadline.expired()) {
      if (slots_full != 0) {
        sys::fail("Channel::connect", u, EUSERS,
                  "the channel takes at most " + std::to_string(slots_full) +
                      " senders at once and every slot stayed taken until the deadline; a slot "
                      "frees when its "
                      "sender closes (or dies) and the listener has received what it sent (a "
                      "listener made with "
                      "?senders=N takes N, up to " +
                      std::to_string(sc::kMaxSlots) + ")");
      }
      sys::fail("Channel::connect", u, ETIMEDOUT,
                "could not join until the deadline: " + problem +
                    "; is the receiving end running? (Channel::listen(\"" + u + "\"), or `ipckit recv " +
                    u + "`)");
    }
    (void)poll_for({}, backoff.step(deadline), name);
  }
}

}  // namespace ipckit::detail
