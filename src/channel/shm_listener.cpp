// shm:// transport, the listening end: see shm_channel.hpp for the design.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../shm_util.hpp"
#include "../sys.hpp"
#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/posix_name.hpp"
#include "ipckit/ring.hpp"
#include "shm_channel.hpp"
#include "shm_rendezvous.hpp"
#include "shm_segment.hpp"
#include "transport.hpp"
#include "undo.hpp"
#include "wait.hpp"

namespace ipckit::detail {

std::string object_name(const ChannelUrl& url) {
  std::string name = std::string(sc::kObjectPrefix) + url.name;
  validate_posix_name(name, "shm_open");
  return name;
}

namespace {

using namespace std::chrono_literals;

// The listener looks at the slot table (new senders, senders gone) at least every so many
// messages, so a busy ring does not keep a new sender waiting.
constexpr unsigned kScanEvery = 64;
// A listener publishes how far it has read in a busy-polling sender's ring once per this part
// of the ring (and whenever it finds the ring empty), not after every message.
constexpr std::uint64_t kReleaseBatchParts = 8;
// A spinning listener looks at its rings on every turn, at the slot table (senders joining
// or closing) every so many turns: a few hundred nanoseconds.
constexpr unsigned kSlotLookEvery = 16;
// How long a listener armed on its readiness descriptor with no sender at all goes without a
// look at the slot table (the bell is best effort: see Bell).
constexpr std::chrono::nanoseconds kIdleBellTimer = std::chrono::seconds(1);
// How many times one receive call re-arms the readiness descriptor and finds something ready
// that is not a message before it returns anyway (see ShmListener::receive).
constexpr unsigned kMaxRearms = 64;

// --- The listening end --------------------------------------------------------------------

class ShmListener final : public Channel::Transport {
 public:
  ShmListener(std::string url, std::size_t max_message, Segment segment,
              const ChannelOptions& options, std::string bell_name,
              std::unique_ptr<Rendezvous> rendezvous)
      : Transport(std::move(url), max_message, true),
        seg_(std::move(segment)),
        bell_name_(std::move(bell_name)),
        rendezvous_(std::move(rendezvous)),
        spin_(options.spin),
        on_dropped_(options.on_sender_dropped),
        local_(seg_.geometry().slot_count) {}
  ShmListener(const ShmListener&) = delete;
  ShmListener& operator=(const ShmListener&) = delete;

  ~ShmListener() override {
    // A copy in a forked child: the channel is the parent's (which shares our lock); close
    // the descriptors and leave the segment as it is.
    if (::getpid() != owner_) return;
    sc::ChannelHeader& h = seg_.header();
    // release: senders that see it closed see nothing later of ours; they only stop.
    atomic(h.receiver_closed).store(1, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Wake every sender asleep on a full ring: it looks at receiver_closed and gives
    // peer_closed. Only rings that were handed over (not free, not being initialised).
    for (std::uint32_t i = 0; i < seg_.geometry().slot_count; ++i) {
      const std::uint32_t state = load_state(seg_.slot(i));
      if (state == static_cast<std::uint32_t>(sc::SlotState::active) ||
          state == static_cast<std::uint32_t>(sc::SlotState::closed) ||
          state == static_cast<std::uint32_t>(sc::SlotState::dropped)) {
        auto* rh = reinterpret_cast<ring::Header*>(seg_.ring(i).data());
        atomic(rh->writer_wake).fetch_add(1, std::memory_order_release);
        futex_wake(&rh->writer_wake, INT_MAX);
      }
    }
    // The name is ours (O_EXCL), but only while it still names our object: after an
    // `ipckit rm --shm` another listener may have made a new one under it.
    if (!rendezvous_) (void)unlink_if_names(seg_.name(), seg_.fd());
    // Then the descriptor closes (a member), which drops the liveness lock: a connect in
    // between sees receiver_closed, or no object at all.
  }

  IoResult send(std::span<const std::byte>, Deadline) override {
    sys::fail("Channel::send", url_, EBADF, "this end was made by listen() and receives");
  }

  IoResult receive(std::span<std::byte> buffer, Deadline deadline) override {
    unsigned rearms = 0;  // arm() found something ready that was not a message (see below)
    // A receive that may spin (a microsecond at least) and whose first look finds the rings
    // empty looks again a few dozen times, taking the message as soon as it is there, before
    // anything else: a reply that comes within a microsecond (a ping-pong) costs neither a
    // clock read nor a scan of the slot table nor a second look. Senders joining or closing,
    // liveness and the deadline wait for wait() and the look at the slots below (one at least
    // before a timeout). Not while a dead sender's ring is being drained: the scan that frees
    // it ends the stream. A sender dropped meanwhile makes the next round scan (drop()).
    bool spin_first = !deadline.is_now() && spin_ >= 1us && !draining_dead_;
    bool looked = false;  // at the slot table, in this call
    for (;;) {
      // The hot path: a message in an attached ring. No syscall, no slot table.
      const bool counted_out = since_scan_ >= kScanEvery;
      if (!counted_out) {
        ++since_scan_;
        if (std::size_t n = 0; take(buffer, n)) return {n, IoStatus::ok};
        if (spin_first) {
          for (unsigned spins = 0; spins < kClockEvery; ++spins) {
            cpu_relax();
            if (std::size_t n = 0; take(buffer, n)) return {n, IoStatus::ok};
          }
        }
      }
      if (!std::exchange(spin_first, false) || since_scan_ >= kScanEvery) {  // drop() may have asked
        looked = true;
        if (IoResult r{}; look_at_slots(buffer, deadline, counted_out, r)) return r;
      }
      // A try_receive that finds nothing re-arms the readiness descriptor, and so does a
      // blocking receive that times out (its sleep may have taken the flag the descriptor was
      // armed with); something that came meanwhile is taken now instead. A sender that keeps
      // flipping its slot's state could make that "something" come forever: after a few
      // rounds the call gives up with the descriptor left readable.
      const bool gave_up = deadline.is_now() || !wait(deadline);
      if (gave_up) {
        // The end of the stream, or a message that came as the time ran out, goes before a
        // timeout: one look at the slots if the quick spin skipped it.
        if (!std::exchange(looked, true)) {
          if (IoResult r{}; look_at_slots(buffer, deadline, false, r)) return r;
        }
        if (readiness_ && !arm()) {
          if (++rearms < kMaxRearms) continue;
          readiness_->set_timer(1ns);
        }
        return expired(deadline);
      }
    }
  }

  // receive()'s look at the slot table (shared memory only): every kScanEvery messages, and
  // whenever the rings are empty. The locks (a syscall per sender) once a period, busy or
  // idle, so a sender that died beside a busy one gives its slot back. The clock that says
  // when is read once per kScanEvery messages while busy; a blocking receive that found the
  // rings empty leaves it to wait(), which reads it once before it spins, and a
  // try_receive reads it every kClockEvery empty tries (every time with a readiness
  // descriptor, whose timer brings the caller back for this). True with `result` set when
  // the receive is done: a message, or the end of the stream.
  bool look_at_slots(std::span<std::byte> buffer, Deadline deadline, bool counted_out, IoResult& result) {
    since_scan_ = 0;
    bool liveness = std::exchange(liveness_pending_, false);
    if (!liveness && (counted_out || (deadline.is_now() && (readiness_ || ++empty_tries_ % kClockEvery == 0)))) {
      liveness = liveness_.due();
    }
    bool in_use = scan(liveness);
    // A take that drops a sender (drop() asks for a scan) may have dropped the last one: scan
    // again before deciding, at most once per slot (a dropped slot is never attached again).
    for (std::uint32_t round = 0;; ++round) {
      if (std::size_t n = 0; take(buffer, n)) {
        result = {n, IoStatus::ok};
        return true;
      }
      if (since_scan_ < kScanEvery || round >= seg_.geometry().slot_count) break;
      since_scan_ = 0;
      in_use = scan(false);
    }
    if (joined_ && !in_use) {
      joined_ = false;
      result = {0, IoStatus::end_of_stream};
      return true;
    }
    return false;
  }

  // The next message, left in its sender's ring (read-only here) until release_message():
  // receive() with take() holding instead of copying.
  IoResult receive_in_place(Deadline deadline, std::span<const std::byte>& view) override {
    holding_ = true;
    struct Reset {
      bool& flag;
      ~Reset() { flag = false; }
    } reset{holding_};
    const IoResult r = receive({}, deadline);
    if (r.ok()) view = held_;
    return r;
  }

  void release_message() noexcept override {
    held_ = {};
    // A forked copy's Message going (its stack unwinding) must not move the parent's ring.
    if (::getpid() != owner_) return;
    // The slot cannot have been detached meanwhile: nothing scans while a Message is held.
    if (Local& l = local_[held_slot_]; l.attached) give_back(l);
  }

  [[nodiscard]] std::uint64_t corrupt_senders() const noexcept override {
    return corrupt_senders_.load(std::memory_order_relaxed);
  }

  int readiness_fd() override {
    if (spin_ == std::chrono::nanoseconds::max()) {
      sys::fail("Channel::readiness_fd", url_, EINVAL,
                "this listener busy-polls (ChannelOptions::spin = nanoseconds::max()) and never "
                "sleeps, so no sender rings it; listen with a finite spin to wait in poll/epoll");
    }
    // With our own copy of the doorbell's name: a sender could have rewritten the header's.
    if (!readiness_) readiness_.emplace(bell_name_, url_);
    return readiness_->fd();
  }

 private:
  // After a try_receive found nothing: empties the bell and the timer, announces that the
  // listener waits on its bell, and looks once more (the sleeper's half of wake_if_waiting).
  // False when something came meanwhile (the caller takes it); true when armed.
  bool arm() {
    readiness_->drain();
    sc::ChannelHeader& h = seg_.header();
    atomic(h.receiver_waiting).store(sc::kWaitingOnBell, std::memory_order_relaxed);
    // seq_cst fence: the store above before the look below (see wake_if_waiting).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (ready()) {
      atomic(h.receiver_waiting).store(sc::kAwake, std::memory_order_relaxed);
      return false;
    }
    // With a sender there, the timer brings the caller back once a liveness period, to see
    // whether it died (its lock is not pollable). Without one, once a second: a sender that
    // cannot ring the bell (another network namespace) is still heard.
    if (needs_liveness_ || any_slot_taken()) {
      readiness_->set_timer(std::max<std::chrono::nanoseconds>(liveness_.next() - Clock::now(), 1ns));
    } else {
      readiness_->set_timer(kIdleBellTimer);
    }
    return true;
  }

  struct Local {
    bool attached = false;      // reader_ reads the slot's ring
    bool dead = false;          // its sender's lock is gone: drain, then free
    bool sender_spins = false;  // it said it never sleeps (sc::SlotEntry::sender_spins)
    bool bad_state_reported = false;  // a state no honest end writes was reported once
    // A liveness look found the slot free with its sender lock held (a joiner between its lock
    // and its claim, or a sender whose slot another process marked free).
    bool locked_while_free = false;
    // The reader's position when a liveness scan found nothing there although the writer said
    // it had committed past it (kNotStuck: not seen so). Seen twice, a liveness period apart:
    // the record there was overwritten.
    std::uint64_t stuck_at = kNotStuck;
    ring::Reader reader{};
  };
  static constexpr std::uint64_t kNotStuck = ~std::uint64_t{0};

  // One message from the rings, round robin from the one after the last served. A ring that
  // breaks the rules drops its sender, and the round starts again over the rings left.
  bool take(std::span<std::byte> buffer, std::size_t& size) {
    std::uint32_t k = 0;
    while (k < attached_count_) {
      const std::uint32_t at = (next_ + k) % attached_count_;
      const std::uint32_t i = attached_[at];
      Local& l = local_[i];
      const ring::Peeked p = l.reader.peek();
      if (p.status == ring::Status::empty) {
        ++k;
        continue;
      }
      if (p.status == ring::Status::corrupt || p.message.size() > max_message_) {
        drop(i, p.status == ring::Status::corrupt
                    ? std::string("its ring holds a corrupt record")
                    : "it committed a message of " + std::to_string(p.message.size()) +
                          " bytes, above this listener's max_message (" + std::to_string(max_message_) + ")");
        k = 0;  // attached_ changed
        continue;
      }
      size = p.message.size();
      next_ = at + 1;
      if (holding_) {  // receive_in_place: the message stays in the ring until release_message()
        held_slot_ = i;
        held_ = p.message;
        return true;
      }
      if (!p.message.empty()) std::memcpy(buffer.data(), p.message.data(), p.message.size());
      give_back(l);
      return true;
    }
    return false;
  }

  // Releases the message just taken from `l`'s ring and wakes its sender if it sleeps on a
  // full ring. One that busy-polls never sleeps: no wake-up check (its fence) per message.
  void give_back(Local& l) noexcept {
    l.reader.release();
    if (!l.sender_spins) {
      ring::Header* rh = l.reader.header();
      wake_if_waiting(rh->writer_waiting, rh->writer_wake);
    }
  }

  // Looks at every slot: attaches new senders, frees slots whose sender has gone and whose
  // ring is drained, and (when `check_liveness`) finds senders that died. Returns whether any
  // sender is still there or joining (so this is not the end of the stream).
  bool scan(bool check_liveness) {
    bool in_use = false;
    needs_liveness_ = false;
    draining_dead_ = false;
    for (std::uint32_t i = 0; i < seg_.geometry().slot_count; ++i) {
      sc::SlotEntry& slot = seg_.slot(i);
      Local& l = local_[i];
      const std::uint32_t state = load_state(slot);
      switch (static_cast<sc::SlotState>(state)) {
        case sc::SlotState::free:
          // Only the listener frees a slot: one freed under an attached ring was written by
          // another process.
          if (l.attached) {
            drop(i, "its slot was marked free by another process while it was attached");
          } else if (check_liveness) {
            hidden_sender(i);
          }
          break;
        case sc::SlotState::claiming:
          // A sender is joining: not the end. One that died before its ring was ready
          // (its lock is gone) leaves the slot claimed for good: give it back.
          if (check_liveness && !byte_locked(seg_.fd(), sc::sender_lock_byte(i))) {
            std::uint32_t expected = state;
            // acq_rel: nothing to publish, but pairs with a claimer's CAS.
            (void)atomic(slot.state)
                .compare_exchange_strong(expected, static_cast<std::uint32_t>(sc::SlotState::free),
                                         std::memory_order_acq_rel);
          } else {
            in_use = true;
            needs_liveness_ = true;
          }
          break;
        case sc::SlotState::active:
          if (!l.attached && !attach(i)) break;
          if (check_liveness && ring_tampered(i)) break;
          if (check_liveness && !l.dead && !byte_locked(seg_.fd(), sc::sender_lock_byte(i)))
            l.dead = true;
          if (!l.dead) {
            in_use = true;
          } else if (!drained_or_free(i)) {
            in_use = true;
            draining_dead_ = true;
          }
          if (!l.dead) needs_liveness_ = true;
          break;
        case sc::SlotState::closed:
          // It may have come and gone since the last scan: attach to drain what it sent.
          if (!l.attached && !attach(i)) break;
          if (check_liveness && ring_tampered(i)) break;
          if (!drained_or_free(i)) in_use = true;
          break;
        case sc::SlotState::dropped:
        default:
          // Refused by us (we detached it then), or a state no honest end writes: not a sender
          // any more. The slot is reused once its owner's lock is gone.
          if (l.attached || (state != static_cast<std::uint32_t>(sc::SlotState::dropped) &&
                             !l.bad_state_reported)) {
            report_tampering(i, "its slot's state was set to " + std::to_string(state) +
                                    " by another process (the slot table is corrupt)");
          }
          if (l.attached) detach(i);  // clears Local: the flag is set after it
          if (state != static_cast<std::uint32_t>(sc::SlotState::dropped)) l.bad_state_reported = true;
          if (check_liveness && !byte_locked(seg_.fd(), sc::sender_lock_byte(i))) {
            free_slot(i);
          } else {
            needs_liveness_ = true;
          }
          break;
      }
    }
    return in_use;
  }

  // A joiner holds its slot's lock only for a moment before it claims the slot. A free slot
  // whose lock is held at two liveness looks in a row hides a sender whose slot another
  // process marked free before the listener saw it: dropped, so that it hears peer_closed
  // and the stream can end.
  void hidden_sender(std::uint32_t i) {
    Local& l = local_[i];
    // A joiner writes its pid only after it claimed the slot, and the listener clears it when it
    // frees one (whose lock a forked child of the sender may go on holding): a pid here with
    // the lock held means a sender claimed the slot and someone marked it free under it.
    // relaxed: a hint, looked at twice a liveness period apart.
    if (atomic(seg_.slot(i).sender_pid).load(std::memory_order_relaxed) == 0 ||
        !byte_locked(seg_.fd(), sc::sender_lock_byte(i))) {
      l.locked_while_free = false;
      return;
    }
    if (!std::exchange(l.locked_while_free, true)) {
      needs_liveness_ = true;  // look again at the next liveness period
      return;
    }
    l.locked_while_free = false;
    std::uint32_t expected = static_cast<std::uint32_t>(sc::SlotState::free);
    // acq_rel: pairs with a joiner's CAS free -> claiming; if it claims meanwhile, it is honest.
    if (!atomic(seg_.slot(i).state)
             .compare_exchange_strong(expected, static_cast<std::uint32_t>(sc::SlotState::dropped),
                                      std::memory_order_acq_rel))
      return;
    joined_ = true;  // a sender came (unseen) and is gone now
    report_tampering(i, "its slot was marked free by another process while its sender held it");
  }

  // A slot that another process wrote on, already detached: reported and counted
  // (Channel::corrupt_senders), as drop() does.
  void report_tampering(std::uint32_t i, const std::string& why) {
    corrupt_senders_.fetch_add(1, std::memory_order_relaxed);
    joined_ = true;  // whoever held the slot is no sender any more: the stream may end
    if (on_dropped_) {
      on_dropped_("the sender in slot " + std::to_string(i) + " of " + url_ + " was dropped: " + why);
    }
  }

  // At a liveness scan: a ring whose header or records another process overwrote stalls its
  // sender without a corrupt record for take() to find. Drops it (true) when its read_pos is
  // not what the listener published, or when nothing is at the reader's position although
  // the writer said, a liveness period ago too, that it had committed past it.
  bool ring_tampered(std::uint32_t i) {
    Local& l = local_[i];
    if (!l.reader.read_pos_intact()) {
      drop(i, "its ring's read position was overwritten by another process");
      return true;
    }
    const std::uint64_t at = l.reader.position();
    if (l.reader.peek().status != ring::Status::empty || l.reader.writer_says() <= l.reader.position()) {
      l.stuck_at = kNotStuck;
      return false;
    }
    if (l.stuck_at != at) {
      l.stuck_at = at;  // maybe a writer between its tag and write_pos: look again later
      return false;
    }
    drop(i, "nothing is at its ring's read position " + std::to_string(at) + " though its writer says it committed up to " +
                    std::to_string(l.reader.writer_says()) + ": the ring was overwritten");
    return true;
  }

  // For a sender that has gone: frees the slot once its ring is empty (true), or leaves it
  // while messages remain (false).
  bool drained_or_free(std::uint32_t i) {
    const ring::Peeked p = local_[i].reader.peek();
    if (p.status == ring::Status::ok) return false;
    if (p.status == ring::Status::corrupt) {
      corrupt_senders_.fetch_add(1, std::memory_order_relaxed);
      if (on_dropped_) {
        on_dropped_("the sender in slot " + std::to_string(i) + " of " + url_ +
                    " left a corrupt record in its ring; the rest of its messages is lost");
      }
    }
    free_slot(i);
    return true;
  }

  bool attach(std::uint32_t i) {
    Local& l = local_[i];
    const ring::Check c = ring::check(seg_.ring(i));
    if (c.status != ring::Status::ok || l.reader.attach(seg_.ring(i)) != ring::Status::ok ||
        l.reader.max_message() != ring::max_message_for(seg_.geometry().ring_capacity)) {
      drop(i,
           std::string("its ring is corrupt: ") +
               (c.status != ring::Status::ok ? c.why : "inconsistent positions"),
           /*attached=*/false);
      return false;
    }
    l.attached = true;
    l.dead = false;
    // relaxed: written before the state we read with acquire (active or closed).
    l.sender_spins = atomic(seg_.slot(i).sender_spins).load(std::memory_order_relaxed) == 1;
    // A sender that busy-polls reads read_pos again and again while its ring is full: publish
    // it once per eighth of the ring, not per message, or the reader (the slower side, then)
    // would fetch its own line back at every message. One that sleeps is woken per release.
    if (l.sender_spins) l.reader.set_release_batch(seg_.geometry().ring_capacity / kReleaseBatchParts);
    attached_[attached_count_++] = i;
    joined_ = true;
    return true;
  }

  void detach(std::uint32_t i) {
    Local& l = local_[i];
    l = Local{};
    attached_count_ = 0;
    for (std::uint32_t j = 0; j < seg_.geometry().slot_count; ++j) {
      if (local_[j].attached) attached_[attached_count_++] = j;
    }
    next_ = 0;
  }

  void free_slot(std::uint32_t i) {
    detach(i);
    sc::SlotEntry& slot = seg_.slot(i);
    atomic(slot.sender_pid).store(0, std::memory_order_relaxed);
    // release: our last reads of its ring happen before a new sender initialises it.
    atomic(slot.state)
        .store(static_cast<std::uint32_t>(sc::SlotState::free), std::memory_order_release);
  }

  // Refuses a sender for good: its slot becomes dropped (its sends then give peer_closed
  // once its ring is full), and is freed once its lock is gone.
  void drop(std::uint32_t i, const std::string& why, bool attached = true) {
    if (attached) detach(i);
    joined_ = true;  // it came (even if refused before it was attached) and is gone now
    since_scan_ = kScanEvery;  // the next round scans: this may have been the last sender
    sc::SlotEntry& slot = seg_.slot(i);
    const std::int32_t pid = atomic(slot.sender_pid).load(std::memory_order_relaxed);
    std::uint32_t state = load_state(slot);
    if (state == static_cast<std::uint32_t>(sc::SlotState::closed)) {
      free_slot(i);  // it had left already: nothing more will come
    } else {
      // acq_rel: pairs with the sender's CAS active → closed; whichever wins, the slot is done.
      if (!atomic(slot.state)
               .compare_exchange_strong(state, static_cast<std::uint32_t>(sc::SlotState::dropped),
                                        std::memory_order_acq_rel) &&
          state == static_cast<std::uint32_t>(sc::SlotState::closed)) {
        free_slot(i);
      }
    }
    corrupt_senders_.fetch_add(1, std::memory_order_relaxed);  // every drop here broke the rules
    if (on_dropped_) {
      on_dropped_("the sender in slot " + std::to_string(i) + " of " + url_ + " (pid " +
                  std::to_string(pid) + ", as it says) was dropped: " + why);
    }
  }

  // True when receive() has something to do: a message in an attached ring, a sender to
  // attach, one that closed. Reads shared memory only.
  bool ready() noexcept { return message_ready() || slot_ready(); }

  // A message (or a corrupt record) in an attached ring: what a spin looks for on every turn.
  bool message_ready() noexcept {
    for (std::uint32_t k = 0; k < attached_count_; ++k) {
      if (local_[attached_[k]].reader.peek().status != ring::Status::empty) return true;
    }
    return false;
  }

  // A sender to attach, or one that closed: what a spin looks for every kSlotLookEvery turns.
  bool slot_ready() noexcept {
    for (std::uint32_t i = 0; i < seg_.geometry().slot_count; ++i) {
      const std::uint32_t state = load_state(seg_.slot(i));
      if (state == static_cast<std::uint32_t>(sc::SlotState::closed)) return true;
      if (state == static_cast<std::uint32_t>(sc::SlotState::active) && !local_[i].attached)
        return true;
    }
    return false;
  }

  bool any_slot_taken() noexcept {
    for (std::uint32_t i = 0; i < seg_.geometry().slot_count; ++i) {
      if (load_state(seg_.slot(i)) != static_cast<std::uint32_t>(sc::SlotState::free)) return true;
    }
    return false;
  }

  // Spins for spin_, then sleeps on receiver_wake until a sender wakes us, the deadline, or
  // the next liveness check.
  // With no sender there (every slot free) there is no lock to look at: it sleeps until the
  // deadline, and a sender that joins wakes it. An idle listener then uses no CPU at all.
  // False once the deadline has passed; true when receive() should look again (something is
  // ready, the sleep ended, or a liveness look is due: liveness_pending_).
  bool wait(Deadline deadline) {
    auto now = Clock::now();
    if (now >= deadline.when()) return false;
    if (liveness_.due(now)) {
      liveness_pending_ = true;
      return true;
    }
    // Any slot not free (shared memory: no syscall) bounds the sleep too: a sender killed
    // while joining or after taking the wake-up flag must not leave us asleep for good.
    bool bounded = needs_liveness_ || any_slot_taken();
    auto wake_at = std::min(deadline.when(), bounded ? liveness_.next() : Clock::time_point::max());
    const auto until_spun = spin_end(spin_, now);
    if (now < until_spun) {
      for (unsigned spins = 1;; ++spins) {
        if (message_ready() || (spins % kSlotLookEvery == 0 && slot_ready())) return true;
        cpu_relax();
        if (spins % kClockEvery == 0) {
          // A slot taken meanwhile (a sender claiming one, maybe dying at it) bounds the spin
          // as it would bound a sleep: a busy-polling listener gives such slots back too.
          if (!bounded && any_slot_taken()) {
            bounded = true;
            wake_at = std::min(deadline.when(), liveness_.next());
          }
          now = Clock::now();
          if (now >= wake_at || now >= until_spun) break;
        }
      }
      if (now >= wake_at) return true;  // the caller sees the deadline or the due look
    }
    sc::ChannelHeader& h = seg_.header();
    sleep_on(h.receiver_waiting, h.receiver_wake, wake_at - now, [&] { return ready(); });
    return true;
  }

  pid_t owner_ = ::getpid();  // the process that listened (see the destructor)
  Segment seg_;
  std::string bell_name_;
  // The memfd variant's: a thread that hands the memfd to senders. After seg_, so it stops
  // before the memfd closes.
  std::unique_ptr<Rendezvous> rendezvous_;
  std::chrono::nanoseconds spin_;
  std::function<void(const std::string&)> on_dropped_;
  // Senders dropped for breaking the segment (reported). Atomic: corrupt_senders() may be read
  // from another thread than the one receiving (relaxed: a count, nothing else hangs on it).
  std::atomic<std::uint64_t> corrupt_senders_{0};
  std::vector<Local> local_;
  std::array<std::uint32_t, sc::kMaxSlots> attached_{};
  std::uint32_t attached_count_ = 0;
  std::uint32_t next_ = 0;
  unsigned since_scan_ = kScanEvery;  // the first receive scans
  bool joined_ = false;               // a sender joined since the last end of stream
  bool needs_liveness_ = false;       // the last scan saw a slot whose owner's lock matters
  bool draining_dead_ = false;        // the last scan left a dead sender's messages to take
  bool liveness_pending_ = false;     // wait() found a look at the locks due
  unsigned empty_tries_ = 0;          // try_receives that found nothing (see receive)
  bool holding_ = false;              // take() leaves the message in place (receive_in_place)
  std::uint32_t held_slot_ = 0;       // the slot of the message held (Channel's Message)
  std::span<const std::byte> held_;
  LivenessTimer liveness_;
  std::optional<ReadinessBell> readiness_;
};

// --- Set-up -------------------------------------------------------------------------------

std::string correct_url(const ChannelUrl& url) {
  return "shm://" + url.name + "?capacity=1048576";
}

// listen() found the name taken: say by whom.
[[noreturn]] void name_taken(const ChannelUrl& url, const std::string& name) {
  const std::string u = url.to_string();
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd == -1) {
    sys::fail("shm_open", name, EEXIST,
              "the name of channel " + u + " is taken by an object this process cannot open (" +
                  sys::owner_and_mode("/dev/shm" + name, "it") +
                  "); pick another name, or remove it with `ipckit rm --shm " + name + "`");
  }
  const Fd other{fd};
  if (byte_locked(other.get(), sc::kReceiverLockByte)) {
    sys::fail("shm_open", name, EEXIST,
              "another listener is receiving on " + u + "; a channel has one listener");
  }
  if (any_byte_locked(other.get())) {
    sys::fail("shm_open", name, EEXIST,
              "its listener has gone (killed?) but senders are still attached to " + u +
                  "; stop them, or remove the name with `ipckit rm --shm " + name + "` (they keep their mapping)");
  }
  // Not a channel at all (no magic: someone else's object under our prefix): `rm --stale`
  // would leave it alone, so do not suggest it.
  std::uint64_t magic = 0;
  if (sys::retry_eintr([&] { return ::pread(other.get(), &magic, sizeof magic, 0); }) !=
          static_cast<ssize_t>(sizeof magic) ||
      magic != sc::kMagic) {
    sys::fail("shm_open", name, EEXIST,
              "the name of channel " + u + " is taken by an object that is not an ipckit channel ("
                  + sys::owner_and_mode("/dev/shm" + name, "it") +
                  "); pick another name, or, if nobody needs it, remove it with `ipckit rm --shm " +
                  name + "`");
  }
  sys::fail("shm_open", name, EEXIST,
            "a stale channel is there: its listener has gone (killed?) without removing it; remove "
            "it with "
            "`ipckit rm --stale` or `ipckit rm --shm " +
                name + "`, then listen again");
}

// The geometry a listen asks for (capacity and senders from the URL, or the defaults).
// Throws Error (EINVAL) with a URL that would do.
sc::Geometry listen_geometry(const ChannelUrl& url) {
  const std::string u = url.to_string();
  const std::uint64_t capacity = url.capacity != 0 ? url.capacity : kDefaultCapacity;
  if (!ring::valid_capacity(capacity)) {
    sys::fail("Channel::listen", u, EINVAL,
              "capacity must be a power of two from " + std::to_string(ring::kMinCapacity) + " to " +
                  std::to_string(ring::kMaxCapacity) + " bytes, e.g. " + correct_url(url));
  }
  const std::uint32_t slots = url.senders != 0 ? url.senders : kDefaultSlots;
  if (slots > sc::kMaxSlots) {
    sys::fail("Channel::listen", u, EINVAL,
              "senders must be from 1 to " + std::to_string(sc::kMaxSlots) + ", e.g. " + correct_url(url) +
                  "&senders=8");
  }
  const auto geometry = sc::geometry(slots, capacity);
  if (!geometry) sys::fail("Channel::listen", u, EINVAL, "no layout for this capacity: " + correct_url(url));
  return *geometry;
}

// The listener only reads the senders' data: those pages are read-only here, so no bug of
// ours can write into a sender's messages. (Where the page size does not divide the layout's
// alignment, the mapping stays read-write.)
void protect_ring_data(Mapping& mapping, const sc::Geometry& g, const std::string& name) {
  if (sc::kDataAlign % page_size() != 0 || g.ring_capacity % page_size() != 0) return;
  for (std::uint32_t i = 0; i < g.slot_count; ++i) {
    std::byte* data = mapping.bytes().data() + g.rings_offset + g.ring_stride * i + sizeof(ring::Header);
    sys::check(::mprotect(data, g.ring_capacity, PROT_READ), "mprotect", name, "making the rings' data read-only");
  }
}

// Writes the header into the new segment, all but `ready`, which senders may already be
// reading (the listener stores it last).
void write_header(Mapping& mapping, const sc::ChannelHeader& h) {
  std::byte* base = mapping.bytes().data();
  constexpr std::size_t kReady = offsetof(sc::ChannelHeader, ready);
  constexpr std::size_t kAfterReady = kReady + sizeof h.ready;
  std::memcpy(base, &h, kReady);
  std::memcpy(base + kAfterReady, reinterpret_cast<const std::byte*>(&h) + kAfterReady, sizeof h - kAfterReady);
}

}  // namespace

TransportPtr listen_shm(const ChannelUrl& url, const ChannelOptions& options) {
  const std::string u = url.to_string();
  const sc::Geometry geometry = listen_geometry(url);
  const bool memfd = is_memfd(url);
  // The memfd variant: the rendezvous socket first (it is what keeps a second listener out),
  // then a memfd nothing names.
  std::optional<UnixListener> rendezvous;
  if (memfd) rendezvous.emplace(bind_rendezvous(url));
  const std::string name = memfd ? memfd_name(url) : object_name(url);
  Fd fd = create_segment(
      {.name = name,
       .memfd = memfd,
       .size = geometry.total_size,
       .lock_byte = sc::kReceiverLockByte,
       .url = "channel " + u,
       .enospc_hint = "not enough room for the " + std::to_string(geometry.total_size) + " bytes of channel " + u +
                      " (" + std::to_string(geometry.slot_count) + " rings of " +
                      std::to_string(geometry.ring_capacity) + " bytes): " + dev_shm_space() +
                      "; free space there or ask for a smaller capacity"},
      [&] { name_taken(url, name); });
  UndoUnlessDone unlink([&] {
    if (!memfd) (void)::shm_unlink(name.c_str());
  });
  Mapping mapping = Mapping::map_fd(fd, {.length = geometry.total_size});
  protect_ring_data(mapping, geometry, name);
  const std::size_t max = std::min<std::size_t>(options.max_message, ring::max_message_for(geometry.ring_capacity));
  const std::uint64_t token[2] = {sys::random_u64(), sys::random_u64()};
  std::uint8_t bell_token[16];
  std::memcpy(bell_token, token, sizeof bell_token);
  // ftruncate zero-filled everything else: every slot is free, every flag clear.
  write_header(mapping, sc::make_header(geometry, max, ::getpid(), options.spin == std::chrono::nanoseconds::max(),
                                        bell_token));
  // Senders may come now: the segment is complete.
  std::unique_ptr<Rendezvous> serving;
  if (rendezvous) {
    Fd handout = sys::reopen(fd.get(), O_RDWR, name, "reopening the memfd of " + u + " to hand it to senders");
    serving = std::make_unique<Rendezvous>(std::move(*rendezvous), std::move(handout), u);
  }
  auto* h = reinterpret_cast<sc::ChannelHeader*>(mapping.bytes().data());
  // release: every field above is visible to a sender that sees ready == 1 (acquire).
  atomic(h->ready).store(1, std::memory_order_release);
  auto transport = std::make_unique<ShmListener>(u, max, Segment{name, std::move(fd), std::move(mapping), geometry},
                                                 options, bell_name(bell_token), std::move(serving));
  unlink.done();
  return transport;
}

}  // namespace ipckit::detail
