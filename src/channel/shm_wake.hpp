#pragma once

// The wake protocol of shared-memory ends: how one end sleeps until another wakes it, and how
// a listener waits in poll/epoll instead. The segment's words it runs on are in shm_layout.hpp
// (receiver_waiting, receiver_wake) and ring.hpp (writer_waiting, writer_wake).
//
// The hot path makes no syscall: a send that finds room copies and commits, then reads
// receiver_waiting (a clean shared line) after a seq_cst fence; only when the listener
// announced that it sleeps does the sender add to receiver_wake and FUTEX_WAKE it. An end that
// busy-polls (spin = nanoseconds::max()) never sleeps and says so in the segment
// (receiver_spins, a slot's sender_spins): its peer then skips the fence and the check, which
// otherwise make every message wait for its stores to reach the other core. The listener, when
// every ring is empty, spins for options.spin, then stores receiver_waiting = 1, fences, looks
// at every ring once more, and sleeps in FUTEX_WAIT on receiver_wake (the value it read before
// the second look, so a wake in between is never lost). The same protocol runs the other way
// on each ring's writer_waiting/writer_wake when a sender finds its ring full. The futexes are
// shared (not FUTEX_PRIVATE): the words live in a MAP_SHARED mapping of one object that
// several processes map.
//
// Each sleep lasts at most kLivenessPeriod, after which the sleeper checks its peers' locks
// (shm_segment.hpp): a blocked listener learns that a sender died (and, once its ring is
// drained, gives end of stream) within that period, a blocked sender that the listener died.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <string>

#include "ipckit/fd.hpp"
#include "ipckit/spin.hpp"
#include "ipckit/socket.hpp"
#include "beacon.hpp"  // AbstractAddress
#include "shm_layout.hpp"

namespace ipckit::detail {

using Clock = std::chrono::steady_clock;

// How long a sleeping end goes without checking that its peers still live.
inline constexpr std::chrono::nanoseconds kLivenessPeriod = std::chrono::milliseconds(50);
// A spinning end reads the clock (for its spin time, deadline and liveness period) once every
// so many looks at the ring: a few microseconds of pauses, so a message that comes is seen a
// pause later, not a clock read later.
inline constexpr unsigned kClockEvery = 64;

template <class T>
inline std::atomic_ref<T> atomic(T& field) noexcept {
  return std::atomic_ref<T>(field);
}

// --- futex ------------------------------------------------------------------------------

// Sleeps while *word == expected, at most `timeout`. Shared futex (no FUTEX_PRIVATE_FLAG):
// the word is in a mapping other processes have. EAGAIN (the word changed), ETIMEDOUT and
// EINTR all just return: the caller looks again.
void futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept;
void futex_wake(std::uint32_t* word, int count) noexcept;

// --- The doorbell of a readiness descriptor ------------------------------------------------

// "ipckit/shm-bell/<32 hex digits>": the abstract datagram socket a listener that waits in
// poll binds (Channel::readiness_fd) and senders ring. The token is random and lives only in
// the 0600 segment, so another user cannot take the name before the listener binds it; once
// bound, the name shows in /proc/net/unix and any local process can ring it. That only makes
// the descriptor readable for nothing (try_receive gives would_block); a flood of rings costs
// the listener CPU, never a message. A ring that does not arrive (the bell gone, a sender in
// another network namespace) is made up for by the readiness timer.
std::string bell_name(const std::uint8_t (&token)[16]);

// A sender's side of the bell: one datagram socket, made the first time it rings.
class Bell {
 public:
  explicit Bell(const std::uint8_t (&token)[16]);

  // Best effort: a full queue (EAGAIN) means it rings already; a bell that is not there (the
  // listener closed, or another network namespace) leaves the listener to its liveness timer.
  void ring() noexcept;


 private:
  AbstractAddress address_;
  Fd socket_;
};

// Wakes whoever sleeps on (waiting, wake) if it announced so: the other half of the sleeper's
// "waiting = 1; fence; look again; FUTEX_WAIT(wake, seen)" (or, with a bell, of a listener's
// "waiting = 2; fence; look again; return would_block"). Called after a commit or release.
inline void wake_if_waiting(std::uint32_t& waiting, std::uint32_t& wake, Bell* bell = nullptr) noexcept {
  // seq_cst fence: orders our commit (or release) before the load of `waiting`, as the
  // sleeper's fence orders its store of `waiting` before its second look: one of us sees the
  // other's store, so a sleeper never misses the message that would wake it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // relaxed: the fence above does the ordering. A plain load first: the busy path only reads.
  if (atomic(waiting).load(std::memory_order_relaxed) == 0) return;
  // The first waker clears the flag, so the sends that follow while the sleeper is being
  // scheduled do not each make a FUTEX_WAKE. Safe: before it sleeps again the sleeper sets
  // the flag anew, fences and looks at every ring, so a commit that saw the flag cleared is
  // either seen by that look or sees the new flag.
  const std::uint32_t was = atomic(waiting).exchange(shm_channel::kAwake, std::memory_order_relaxed);
  if (was == shm_channel::kAwake) return;
  if (was == shm_channel::kWaitingOnBell && bell != nullptr) {
    bell->ring();
    return;
  }
  // release: the futex word changes after our commit; the sleeper's FUTEX_WAIT compares it.
  atomic(wake).fetch_add(1, std::memory_order_release);
  futex_wake(&wake, INT_MAX);
}

// Wakes the listener for a join or a close, whatever its flag says: both ways (futex and
// bell), without taking the flag. A peer killed between taking the flag and its wake-up (or
// one that clears it on purpose) must not leave an idle listener asleep for good, and joins
// and closes are rare enough to pay the two syscalls. wake_if_waiting's "first waker clears
// the flag" is only for messages, whose sender holds a slot (which bounds the listener's
// sleep).
inline void notify(std::uint32_t& wake, Bell& bell) noexcept {
  // release: our slot's new state before the futex word changes; the sleeper's FUTEX_WAIT
  // compares it (and a sleeper that has not compared yet sees the new state when it looks).
  atomic(wake).fetch_add(1, std::memory_order_release);
  futex_wake(&wake, INT_MAX);
  bell.ring();
}

// A sleep on (waiting, wake): announce, look again with `ready`, sleep until woken or timeout.
template <class Ready>
void sleep_on(std::uint32_t& waiting, std::uint32_t& wake, std::chrono::nanoseconds timeout,
              Ready&& ready) {
  // acquire: a wake that happened before this load is seen in `seen`; a later one changes
  // the word, and FUTEX_WAIT then returns at once.
  const std::uint32_t seen = atomic(wake).load(std::memory_order_acquire);
  atomic(waiting).store(shm_channel::kAsleepOnFutex, std::memory_order_relaxed);
  // seq_cst fence: the store above before the second look (see wake_if_waiting).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!ready()) futex_wait(&wake, seen, timeout);
  // relaxed: only spares the peer a wake-up; a late clear costs one useless FUTEX_WAKE.
  atomic(waiting).store(shm_channel::kAwake, std::memory_order_relaxed);
}

// --- The readiness descriptor --------------------------------------------------------------

// At most this many doorbell datagrams are drained per arming (anyone may ring it).
inline constexpr unsigned kBellDrainMax = 256;

// A listener's readiness descriptor (Channel::readiness_fd): an epoll instance holding the
// doorbell that senders ring (a datagram socket bound to bell_name) and a timer, which brings
// the caller back for what cannot ring: a peer's death, a ring that did not arrive.
// Level-triggered: readable while a ring or an expiry is there to drain.
class ReadinessBell {
 public:
  // Binds the doorbell `name` (the listener's own copy: a peer could rewrite the segment's).
  // Readable at first. Throws Error naming `url`.
  ReadinessBell(const std::string& name, const std::string& url);
  [[nodiscard]] int fd() const noexcept { return epoll_.get(); }
  // Makes the descriptor readable once, `after` from now (0: never).
  void set_timer(std::chrono::nanoseconds after);
  // Empties the doorbell (at most kBellDrainMax rings) and the timer.
  void drain() noexcept;

 private:
  std::string url_;
  Fd epoll_;
  Fd bell_;
  Fd timer_;
};

// When a spin of `spin` that starts `now` ends (the clock's end for a spin without one).
inline Clock::time_point spin_end(std::chrono::nanoseconds spin, Clock::time_point now = Clock::now()) noexcept {
  if (spin >= Clock::time_point::max() - now) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(spin);
}

// When an end next looks at its peers' locks (a syscall each): once per kLivenessPeriod.
class LivenessTimer {
 public:
  // True when a look is due at `now`; the next one is then a period away.
  [[nodiscard]] bool due(Clock::time_point now = Clock::now()) noexcept {
    if (now < next_) return false;
    next_ = now + kLivenessPeriod;
    return true;
  }
  [[nodiscard]] Clock::time_point next() const noexcept { return next_; }

 private:
  Clock::time_point next_{};
};

}  // namespace ipckit::detail
