// shm:// transport: ipckit's channel over shared memory. The layout is in
// shm_layout.hpp; the ring each sender writes is include/ipckit/ring.hpp.
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
// Liveness without PIDs: open-file-description locks (fcntl F_OFD_SETLK). The listener
// holds a write lock on byte 0 of the object, the sender of slot i on byte 1 + i; the kernel
// drops them when the descriptor's last reference goes, SIGKILL included, and F_OFD_GETLK
// tells whether anybody holds one. PIDs in the segment are only for `ipckit ls`. A process
// that forks while it holds a channel end shares the lock with its child (the descriptor is
// close-on-exec, so an exec drops it): the end is alive while either lives. The end belongs
// to the process that made it: a forked copy that is destroyed only closes its descriptors
// (it does not close the channel, free the slot or stop the memfd rendezvous).
//
// Waiting. The hot path makes no syscall: a send that finds room copies and commits, then
// reads receiver_waiting (a clean shared line) after a seq_cst fence; only when the listener
// announced that it sleeps does the sender add to receiver_wake and FUTEX_WAKE it. An end that
// busy-polls (spin = nanoseconds::max()) never sleeps and says so in the segment
// (receiver_spins, a slot's sender_spins): its peer then skips the fence and the check, which
// otherwise make every message wait for its stores to reach the other core. The
// listener, when every ring is empty, spins for options.spin, then stores receiver_waiting =
// 1, fences, looks at every ring once more, and sleeps in FUTEX_WAIT on receiver_wake (the
// value it read before the second look, so a wake in between is never lost). The same
// protocol runs the other way on each ring's writer_waiting/writer_wake when a sender finds
// its ring full. The futexes are shared (not FUTEX_PRIVATE): the words live in a MAP_SHARED
// mapping of one object that several processes map.
//
// Each sleep lasts at most kLivenessPeriod, after which the sleeper checks its peers' locks:
// a blocked listener learns that a sender died (and, once its ring is drained, gives end of
// stream) within that period, a blocked sender that the listener died (peer_closed).
//
// Untrusted peer: every value read from the segment is checked. The rings check their own
// records (ring.hpp); the geometry is computed from slot_count and ring_capacity and only
// compared with the header; a slot state that is not one of SlotState is ignored; a message
// longer than the listener's max_message (which an honest sender never commits) drops that
// sender. A sender whose ring reports corrupt is dropped by the listener
// (on_sender_dropped, the others go on); a sender that finds its ring corrupted by the
// listener treats the listener as gone: peer_closed, as for a listener that died.
// Not covered here: a peer of the same uid can still ftruncate the object under a mapping
// (SIGBUS); only a sealed memfd prevents that.

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../sys.hpp"
#include "beacon.hpp"
#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/ring.hpp"
#include "ipckit/shm.hpp"
#include "ipckit/socket.hpp"
#include "shm_layout.hpp"
#include "transport.hpp"
#include "undo.hpp"

namespace ipckit::detail {
namespace {

using namespace std::chrono_literals;
namespace sc = shm_channel;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kDefaultCapacity = std::uint64_t{1} << 20;
constexpr std::uint32_t kDefaultSlots = 8;
// How long a sleeping end goes without checking that its peers still live.
constexpr std::chrono::nanoseconds kLivenessPeriod = 50ms;
// The listener looks at the slot table (new senders, senders gone) at least every so many
// messages, so a busy ring does not keep a new sender waiting.
constexpr unsigned kScanEvery = 64;
// A sender with room in its ring looks at the listener's lock at most every so many sends.
constexpr unsigned kLockCheckEvery = 1024;
// A spinning end reads the clock (for its spin time, deadline and liveness period) once every
// so many looks at the ring: a few microseconds of pauses, so a message that comes is seen a
// pause later, not a clock read later.
constexpr unsigned kClockEvery = 64;
// A listener publishes how far it has read in a busy-polling sender's ring once per this part
// of the ring (and whenever it finds the ring empty), not after every message.
constexpr std::uint64_t kReleaseBatchParts = 8;
// A spinning listener looks at its rings on every turn, at the slot table (senders joining
// or closing) every so many turns: a few hundred nanoseconds.
constexpr unsigned kSlotLookEvery = 16;
// How long a listener armed on its readiness descriptor with no sender at all goes without a
// look at the slot table (the bell is best effort: see Bell).
constexpr std::chrono::nanoseconds kIdleBellTimer = std::chrono::seconds(1);
// At most this many doorbell datagrams are drained per arming (anyone may ring it).
constexpr unsigned kBellDrainMax = 256;
// How many times one receive call re-arms the readiness descriptor and finds something ready
// that is not a message before it returns anyway (see ShmListener::receive).
constexpr unsigned kMaxRearms = 64;

template <class T>
std::atomic_ref<T> atomic(T& field) noexcept {
  return std::atomic_ref<T>(field);
}

std::uint32_t load_state(sc::SlotEntry& slot) noexcept {
  // acquire: a sender's ring initialisation (active) or last commit (closed) happens before.
  return atomic(slot.state).load(std::memory_order_acquire);
}

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// --- futex ------------------------------------------------------------------------------

// Sleeps while *word == expected, at most `timeout`. Shared futex (no FUTEX_PRIVATE_FLAG):
// the word is in a mapping other processes have. EAGAIN (the word changed), ETIMEDOUT and
// EINTR all just return: the caller looks again.
void futex_wait(std::uint32_t* word, std::uint32_t expected,
                std::chrono::nanoseconds timeout) noexcept {
  if (timeout <= 0ns) return;
  timeout = std::min<std::chrono::nanoseconds>(timeout, std::chrono::hours(1));  // the caller loops
  const timespec ts = to_timespec(timeout);
  (void)::syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake(std::uint32_t* word, int count) noexcept {
  (void)::syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

// --- The doorbell of a readiness descriptor ------------------------------------------------

// "ipckit/shm-bell/<32 hex digits>": the abstract datagram socket a listener that waits in
// poll binds (Channel::readiness_fd) and senders ring. The token is random and lives only in
// the 0600 segment, so another user cannot take the name before the listener binds it; once
// bound, the name shows in /proc/net/unix and any local process can ring it. That only makes
// the descriptor readable for nothing (try_receive gives would_block); a flood of rings costs
// the listener CPU, never a message. A ring that does not arrive (the bell gone, a sender in
// another network namespace) is made up for by the readiness timer.
std::string bell_name(const std::uint8_t (&token)[16]) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "ipckit/shm-bell/";
  for (const std::uint8_t byte : token) {
    name += kHex[byte >> 4];
    name += kHex[byte & 15];
  }
  return name;
}

// A sender's side of the bell: one datagram socket, made the first time it rings.
class Bell {
 public:
  explicit Bell(const std::uint8_t (&token)[16]) : address_(abstract_address(bell_name(token))) {}

  // Best effort: a full queue (EAGAIN) means it rings already; a bell that is not there (the
  // listener closed, or another network namespace) leaves the listener to its liveness timer.
  void ring() noexcept {
    if (!socket_) {
      const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s == -1) return;
      socket_ = Fd{s};
    }
    (void)::sendto(socket_.get(), "!", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&address_.addr), address_.length);
  }

 private:
  AbstractAddress address_;
  Fd socket_;
};

// Wakes whoever sleeps on (waiting, wake) if it announced so: the other half of the sleeper's
// "waiting = 1; fence; look again; FUTEX_WAIT(wake, seen)" (or, with a bell, of a listener's
// "waiting = 2; fence; look again; return would_block"). Called after a commit or release.
void wake_if_waiting(std::uint32_t& waiting, std::uint32_t& wake, Bell* bell = nullptr) noexcept {
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
  const std::uint32_t was = atomic(waiting).exchange(sc::kAwake, std::memory_order_relaxed);
  if (was == sc::kAwake) return;
  if (was == sc::kWaitingOnBell && bell != nullptr) {
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
void notify(std::uint32_t& wake, Bell& bell) noexcept {
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
  atomic(waiting).store(sc::kAsleepOnFutex, std::memory_order_relaxed);
  // seq_cst fence: the store above before the second look (see wake_if_waiting).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (!ready()) futex_wait(&wake, seen, timeout);
  // relaxed: only spares the peer a wake-up; a late clear costs one useless FUTEX_WAKE.
  atomic(waiting).store(sc::kAwake, std::memory_order_relaxed);
}

// --- Locks (liveness) ---------------------------------------------------------------------

flock lock_of(short type, std::uint64_t byte) noexcept {
  flock l{};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = static_cast<off_t>(byte);
  l.l_len = 1;
  l.l_pid = 0;  // required for OFD locks
  return l;
}

// Takes the write lock on `byte` without waiting: false when somebody else holds it.
bool try_lock_byte(int fd, std::uint64_t byte, std::string_view object) {
  flock l = lock_of(F_WRLCK, byte);
  if (sys::retry_eintr([&] { return ::fcntl(fd, F_OFD_SETLK, &l); }) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  sys::fail("fcntl(F_OFD_SETLK)", object, errno,
            "taking the channel's liveness lock on byte " + std::to_string(byte));
}

void unlock_byte(int fd, std::uint64_t byte) noexcept {
  flock l = lock_of(F_UNLCK, byte);
  (void)::fcntl(fd, F_OFD_SETLK, &l);
}

// True when another open file description holds a lock on `byte` (its process lives). When
// the kernel cannot say, assume it lives: a wrong "dead" would drop a live peer.
bool byte_locked(int fd, std::uint64_t byte) noexcept {
  flock l = lock_of(F_WRLCK, byte);
  if (::fcntl(fd, F_OFD_GETLK, &l) == -1) return true;
  return l.l_type != F_UNLCK;
}

// Whether anyone holds a lock anywhere on the object (the listener or any sender).
bool any_byte_locked(int fd) noexcept {
  flock l{};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  l.l_start = 0;
  l.l_len = 0;  // the whole file
  if (::fcntl(fd, F_OFD_GETLK, &l) == -1) return true;
  return l.l_type != F_UNLCK;
}

// --- Names and errors ---------------------------------------------------------------------

std::string object_name(const ChannelUrl& url) {
  std::string name = std::string(sc::kObjectPrefix) + url.name;
  validate_posix_name(name, "shm_open");
  return name;
}

// The memfd variant, shm://@NAME: its segment is a memfd (shown in /proc/PID/fd as
// "memfd:ipckit-ch-NAME"), handed out over the abstract seqpacket socket "@ipckit/shm/NAME".
bool is_memfd(const ChannelUrl& url) noexcept { return !url.name.empty() && url.name.front() == '@'; }

std::string memfd_name(const ChannelUrl& url) { return sc::kMemfdPrefix + url.name.substr(1); }

UnixAddress rendezvous_address(const ChannelUrl& url) {
  const std::string name = url.name.substr(1);
  if (name.empty()) {
    sys::fail("Channel", url.to_string(), EINVAL, "the name after @ is missing, e.g. shm://@app");
  }
  constexpr std::string_view kPrefix = "ipckit/shm/";
  constexpr std::size_t kMaxName = sizeof(sockaddr_un::sun_path) - 1 - kPrefix.size();
  if (name.size() > kMaxName) {
    sys::fail("Channel", url.to_string(), ENAMETOOLONG,
              "a memfd channel's name is at most " + std::to_string(kMaxName) +
                  " bytes (its socket's name, \"@ipckit/shm/NAME\", must fit in a sockaddr_un)");
  }
  return UnixAddress::abstract(std::string(kPrefix) + name);
}

UnixListener bind_rendezvous(const ChannelUrl& url) {
  const UnixAddress address = rendezvous_address(url);
  try {
    return UnixListener::bind({.address = address, .type = SocketType::seqpacket});
  } catch (const Error& e) {
    if (e.errnum() != EADDRINUSE) throw;
  }
  // Taken: by a listener of ours, or by someone else (abstract names have no permissions).
  std::string holder;
  try {
    const Socket s = Socket::connect_unix(address, SocketType::seqpacket, Deadline::now());
    const PeerCredentials who = s.peer_credentials();
    if (who.uid != ::geteuid()) {
      holder = address.to_string() + " is held by " + sys::user_text(who.uid) + " (pid " +
               std::to_string(who.pid) + "), not by a listener of this user: pick another name";
    }
  } catch (const Error&) {  // NOLINT(bugprone-empty-catch): it went, or does not accept: say the usual
  }
  sys::fail("Channel::listen", url.to_string(), EADDRINUSE,
            holder.empty() ? "another listener is receiving on " + url.to_string() + "; a channel has one listener"
                           : holder);
}

// The memfd variant's rendezvous: a thread blocked in poll on the listening socket that hands
// the memfd to every caller running as our user (the abstract socket has no permissions:
// SO_PEERCRED is the check) and a sentence saying why to the others. A thread, so that a
// connect is served whatever the listener is doing (a listener need not be in receive()).
class Rendezvous {
 public:
  // `handout`: the memfd to give senders, a descriptor of its own (not the one that holds the
  // listener's lock, which a sender that kept it would keep alive).
  Rendezvous(UnixListener listener, Fd handout, std::string url)
      : listener_(std::move(listener)),
        stop_(sys::check(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd", url,
                         "making the memfd channel's rendezvous")),
        handout_(std::move(handout)),
        url_(std::move(url)) {
    // The thread takes no signal: a process-directed one goes to the application's threads
    // (one blocked in sigwait or read from a signalfd, say), never to this one.
    sigset_t all{};
    sigset_t before{};
    sigfillset(&all);
    (void)::pthread_sigmask(SIG_SETMASK, &all, &before);
    try {
      thread_ = std::thread([this] { serve(); });
    } catch (...) {
      (void)::pthread_sigmask(SIG_SETMASK, &before, nullptr);
      throw;
    }
    (void)::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  }
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;
  ~Rendezvous() {
    if (::getpid() != owner_) {
      // A forked copy: the thread runs in the parent only, and the eventfd is the parent's too.
      thread_.detach();
      return;
    }
    const std::uint64_t one = 1;
    (void)::write(stop_.get(), &one, sizeof one);
    thread_.join();
  }

 private:
  void serve() noexcept {
    for (;;) {
      std::array<pollfd, 2> p{{{listener_.fd().get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}}};
      if (::poll(p.data(), p.size(), -1) == -1) {
        if (errno == EINTR) continue;
        return;  // cannot happen with valid descriptors
      }
      if (p[1].revents != 0) return;
      try {
        while (std::optional<Socket> caller = listener_.accept(Deadline::now())) hand_out(*caller);
      } catch (const Error&) {
        // Out of descriptors, or a caller gone: it retries, and poll says when to look again.
        // Do not spin on a persistent error: wait for the stop or the next caller a little.
        pollfd stop{stop_.get(), POLLIN, 0};
        (void)::poll(&stop, 1, 100);
      }
    }
  }

  void hand_out(const Socket& caller) {
    const PeerCredentials who = caller.peer_credentials();
    if (who.uid != ::geteuid()) {
      const std::string why = url_ + " takes senders running as " + sys::user_text(::geteuid()) +
                              " only; this process (pid " + std::to_string(who.pid) + ") runs as " +
                              sys::user_text(who.uid);
      (void)caller.send_fds({}, std::as_bytes(std::span{why.data(), why.size()}), Deadline::now());
      return;
    }
    const int fd = handout_.get();
    (void)caller.send_fds(std::span{&fd, 1}, std::as_bytes(std::span{"m", 1}), Deadline::now());
  }

  UnixListener listener_;
  Fd stop_;
  Fd handout_;
  std::string url_;
  pid_t owner_ = ::getpid();
  std::thread thread_;
};

std::string dev_shm_space() {
  struct statvfs vfs {};
  if (::statvfs("/dev/shm", &vfs) == -1) return "/dev/shm's free space cannot be read";
  return "/dev/shm has " +
         std::to_string(static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize) +
         " bytes free of " +
         std::to_string(static_cast<unsigned long long>(vfs.f_blocks) * vfs.f_frsize);
}



Clock::time_point spin_end(std::chrono::nanoseconds spin, Clock::time_point now = Clock::now()) noexcept {
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

// --- The mapped segment -----------------------------------------------------------------

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
    struct stat ours {};
    struct stat named {};
    const std::string path = "/dev/shm" + seg_.name();
    if (!rendezvous_ && ::fstat(seg_.fd(), &ours) == 0 && ::stat(path.c_str(), &named) == 0 &&
        ours.st_dev == named.st_dev && ours.st_ino == named.st_ino) {
      (void)::shm_unlink(seg_.name().c_str());
    }
    // Then the descriptor closes (a member), which drops the liveness lock: a connect in
    // between sees receiver_closed, or no object at all.
  }

  ChannelResult send(std::span<const std::byte>, Deadline) override {
    sys::fail("Channel::send", url_, EBADF, "this end was made by listen() and receives");
  }

  ChannelResult receive(std::span<std::byte> buffer, Deadline deadline) override {
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
        if (std::size_t n = 0; take(buffer, n)) return {ChannelStatus::ok, n};
        if (spin_first) {
          for (unsigned spins = 0; spins < kClockEvery; ++spins) {
            cpu_relax();
            if (std::size_t n = 0; take(buffer, n)) return {ChannelStatus::ok, n};
          }
        }
      }
      if (!std::exchange(spin_first, false) || since_scan_ >= kScanEvery) {  // drop() may have asked
        looked = true;
        if (ChannelResult r{}; look_at_slots(buffer, deadline, counted_out, r)) return r;
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
          if (ChannelResult r{}; look_at_slots(buffer, deadline, false, r)) return r;
        }
        if (readiness_ && !arm()) {
          if (++rearms < kMaxRearms) continue;
          set_timer(readiness_->timer.get(), 1ns);
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
  bool look_at_slots(std::span<std::byte> buffer, Deadline deadline, bool counted_out, ChannelResult& result) {
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
        result = {ChannelStatus::ok, n};
        return true;
      }
      if (since_scan_ < kScanEvery || round >= seg_.geometry().slot_count) break;
      since_scan_ = 0;
      in_use = scan(false);
    }
    if (joined_ && !in_use) {
      joined_ = false;
      result = {ChannelStatus::end_of_stream, 0};
      return true;
    }
    return false;
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
    if (!readiness_) readiness_ = make_readiness();
    return readiness_->epoll.get();
  }

 private:
  // The readiness descriptor (Channel::readiness_fd): an epoll instance holding the doorbell
  // senders ring and a timer for the liveness period.
  struct Readiness {
    Fd epoll;
    Fd bell;
    Fd timer;
  };

  Readiness make_readiness() {
    ensure_standard_descriptors();  // none of these three may be 0-2
    Readiness r;
    r.epoll = Fd{sys::check(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1", url_,
                            "making the readiness descriptor")};
    r.bell = Fd{sys::check(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket",
                           url_, "making the readiness doorbell")};
    // Our own copy of the name: a sender could have rewritten the header.
    const std::string& name = bell_name_;
    const AbstractAddress a = abstract_address(name);
    if (::bind(r.bell.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.length) == -1) {
      const int err = errno;
      sys::fail("bind", "@" + name, err,
                err == EADDRINUSE
                    ? "the doorbell of " + url_ + " is taken: someone who read its segment bound it first"
                    : "binding the readiness doorbell of " + url_);
    }
    r.timer = Fd{sys::check(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
                            "timerfd_create", url_, "making the readiness timer")};
    for (const int fd : {r.bell.get(), r.timer.get()}) {
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.fd = fd;
      sys::check(::epoll_ctl(r.epoll.get(), EPOLL_CTL_ADD, fd, &e), "epoll_ctl", url_,
                 "making the readiness descriptor");
    }
    // Readable at first: what came before the caller first polls is taken by its first
    // try_receive, which then arms the descriptor.
    set_timer(r.timer.get(), 1ns);
    return r;
  }

  // Sets the readiness timer to fire once after `after` (0: never).
  void set_timer(int timer, std::chrono::nanoseconds after) {
    itimerspec t{};
    t.it_value = to_timespec(after);
    sys::check(::timerfd_settime(timer, 0, &t, nullptr), "timerfd_settime", url_,
               "arming the readiness timer");
  }

  // After a try_receive found nothing: empties the bell and the timer, announces that the
  // listener waits on its bell, and looks once more (the sleeper's half of wake_if_waiting).
  // False when something came meanwhile (the caller takes it); true when armed.
  bool arm() {
    std::array<char, 64> drain{};
    for (unsigned i = 0; i < kBellDrainMax; ++i) {
      if (::recv(readiness_->bell.get(), drain.data(), drain.size(), MSG_DONTWAIT) == -1 && errno != EINTR) break;
    }
    std::uint64_t expirations = 0;
    (void)::read(readiness_->timer.get(), &expirations, sizeof expirations);
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
      set_timer(readiness_->timer.get(),
                std::max<std::chrono::nanoseconds>(liveness_.next() - Clock::now(), 1ns));
    } else {
      set_timer(readiness_->timer.get(), kIdleBellTimer);
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

  // One message from the rings, round robin from the one after the last served.
  bool take(std::span<std::byte> buffer, std::size_t& size) {
    for (std::uint32_t k = 0; k < attached_count_; ++k) {
      const std::uint32_t at = (next_ + k) % attached_count_;
      const std::uint32_t i = attached_[at];
      Local& l = local_[i];
      const ring::Peeked p = l.reader.peek();
      if (p.status == ring::Status::empty) continue;
      if (p.status == ring::Status::corrupt) {
        drop(i, "its ring holds a corrupt record");
        return take(buffer, size);  // attached_ changed: start again
      }
      if (p.message.size() > max_message_) {
        drop(i, "it committed a message of " + std::to_string(p.message.size()) +
                    " bytes, above this listener's max_message (" + std::to_string(max_message_) +
                    ")");
        return take(buffer, size);
      }
      if (!p.message.empty()) std::memcpy(buffer.data(), p.message.data(), p.message.size());
      size = p.message.size();
      l.reader.release();
      // A sender that busy-polls never sleeps on a full ring: no wake-up check (its fence)
      // per message.
      if (!l.sender_spins) {
        ring::Header* rh = l.reader.header();
        wake_if_waiting(rh->writer_waiting, rh->writer_wake);
      }
      next_ = at + 1;
      return true;
    }
    return false;
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
  LivenessTimer liveness_;
  std::optional<Readiness> readiness_;
};

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

  ChannelResult send(std::span<const std::byte> message, Deadline deadline) override {
    if (peer_gone_) return {ChannelStatus::peer_closed, 0};
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
    switch (try_put(message)) {
      case ring::Status::ok:
        return {ChannelStatus::ok, 0};
      case ring::Status::full:
        return wait_for_room(message, deadline);
      default:
        return gone();
    }
  }

  ChannelResult receive(std::span<std::byte>, Deadline) override {
    sys::fail("Channel::receive", url_, EBADF, "this end was made by connect() and sends");
  }

 private:
  // ok (committed, the listener woken if it sleeps), full, or corrupt (the listener broke
  // our ring: it is treated as gone).
  ring::Status try_put(std::span<const std::byte> message) noexcept {
    const ring::Status s = writer_.try_write(message);
    if (s != ring::Status::ok) return s == ring::Status::full ? s : ring::Status::corrupt;
    // A listener that busy-polls never sleeps: no wake-up check (its fence) per message.
    if (!receiver_spins_) {
      sc::ChannelHeader& h = seg_.header();
      wake_if_waiting(h.receiver_waiting, h.receiver_wake, &bell_);
    }
    return ring::Status::ok;
  }

  ChannelResult gone() noexcept {
    peer_gone_ = true;
    return {ChannelStatus::peer_closed, 0};
  }

  // The listener closed, died, or dropped us.
  bool listener_gone(bool check_lock) noexcept {
    if (atomic(seg_.header().receiver_closed).load(std::memory_order_acquire) != 0) return true;
    if (load_state(seg_.slot(slot_)) != static_cast<std::uint32_t>(sc::SlotState::active))
      return true;
    return check_lock && !byte_locked(seg_.fd(), sc::kReceiverLockByte);
  }

  ChannelResult wait_for_room(std::span<const std::byte> message, Deadline deadline) {
    const auto until_spun = spin_end(deadline.is_now() ? 0ns : spin_);
    for (unsigned spins = 0;; ++spins) {  // spinning
      if (spins % kClockEvery == 0) {
        if (listener_gone(liveness_.due())) return gone();
        if (deadline.expired()) return expired(deadline);
        if (Clock::now() >= until_spun) break;
      }
      cpu_relax();
      const ring::Status s = try_put(message);
      if (s == ring::Status::ok) return {ChannelStatus::ok, 0};
      if (s != ring::Status::full) return gone();
    }
    auto* rh = writer_.header();
    for (;;) {  // sleeping
      ring::Status s = ring::Status::full;
      const auto now = Clock::now();
      const auto wake_at = std::min(deadline.when(), now + kLivenessPeriod);
      sleep_on(rh->writer_waiting, rh->writer_wake, wake_at - now, [&] {
        s = try_put(message);
        return s != ring::Status::full || listener_gone(false);
      });
      if (s == ring::Status::ok) return {ChannelStatus::ok, 0};
      if (s != ring::Status::full) return gone();
      s = try_put(message);
      if (s == ring::Status::ok) return {ChannelStatus::ok, 0};
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

}  // namespace

TransportPtr listen_shm(const ChannelUrl& url, const ChannelOptions& options) {
  const std::string u = url.to_string();
  const std::uint64_t capacity = url.capacity != 0 ? url.capacity : kDefaultCapacity;
  if (!ring::valid_capacity(capacity)) {
    sys::fail("Channel::listen", u, EINVAL,
              "capacity must be a power of two from " + std::to_string(ring::kMinCapacity) +
                  " to " + std::to_string(ring::kMaxCapacity) + " bytes, e.g. " + correct_url(url));
  }
  const std::uint32_t slots = url.senders != 0 ? url.senders : kDefaultSlots;
  if (slots > sc::kMaxSlots) {
    sys::fail("Channel::listen", u, EINVAL,
              "senders must be from 1 to " + std::to_string(sc::kMaxSlots) + ", e.g. " +
                  correct_url(url) + "&senders=8");
  }
  const auto geometry = sc::geometry(slots, capacity);
  if (!geometry)
    sys::fail("Channel::listen", u, EINVAL, "no layout for this capacity: " + correct_url(url));
  const bool memfd = is_memfd(url);
  // The memfd variant: the rendezvous socket first (it is what keeps a second listener out),
  // then a memfd nothing names.
  std::optional<UnixListener> rendezvous;
  if (memfd) rendezvous.emplace(bind_rendezvous(url));
  const std::string name = memfd ? memfd_name(url) : object_name(url);

  const int raw = memfd ? ::memfd_create(name.c_str() + std::string_view("memfd:").size(),
                                         MFD_CLOEXEC | MFD_ALLOW_SEALING)
                        : ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (raw == -1) {
    const int err = errno;
    if (err == EEXIST) name_taken(url, name);
    sys::fail(
        memfd ? "memfd_create" : "shm_open", name, err,
        (err == EMFILE || err == ENFILE ? sys::descriptor_limit_hint(err) + "; " : std::string{}) +
            "creating the segment of channel " + u);
  }
  Fd fd{raw};
  UndoUnlessDone unlink([&] {
    if (!memfd) (void)::shm_unlink(name.c_str());
  });
  // The listener's lock first, before the object has a size: a second listen() that finds
  // the name taken sees it held (a window of one syscall remains, where it says "stale").
  if (!try_lock_byte(fd.get(), sc::kReceiverLockByte, name)) {
    sys::fail("fcntl(F_OFD_SETLK)", name, EAGAIN,
              "someone locked the new segment of " + u + " before its listener");
  }
  // The umask may have taken bits away; the mode is exactly owner read-write either way.
  sys::check(::fchmod(fd.get(), 0600), "fchmod", name);
  sys::check(::ftruncate(fd.get(), static_cast<off_t>(geometry->total_size)), "ftruncate", name,
             "sizing the segment of channel " + u);
  if (const int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(geometry->total_size));
      rc != 0) {
    sys::fail(
        "posix_fallocate", name, rc,
        (rc == ENOSPC ? "not enough room for the " + std::to_string(geometry->total_size) +
                            " bytes of channel " + u + " (" + std::to_string(slots) + " rings of " +
                            std::to_string(capacity) + " bytes): " + dev_shm_space() +
                            "; free space there or ask for a smaller capacity"
                      : "reserving the segment of channel " + u));
  }
  if (memfd) {
    // Its size for good: no sender can shrink it under the others' mappings (SIGBUS).
    sys::check(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), "fcntl(F_ADD_SEALS)",
               name, "sealing the size of the segment of channel " + u);
  }
  Mapping mapping = Mapping::map_fd(fd, {.length = geometry->total_size});
  // The listener only reads the senders' data: those pages are read-only here, so no bug of
  // ours can write into a sender's messages. (Where the page size does not divide the layout's
  // alignment, the mapping stays read-write.)
  if (sc::kDataAlign % page_size() == 0 && capacity % page_size() == 0) {
    for (std::uint32_t i = 0; i < slots; ++i) {
      std::byte* data = mapping.bytes().data() + geometry->rings_offset +
                        geometry->ring_stride * i + sizeof(ring::Header);
      sys::check(::mprotect(data, capacity, PROT_READ), "mprotect", name,
                 "making the rings' data read-only");
    }
  }
  const std::size_t max =
      std::min<std::size_t>(options.max_message, ring::max_message_for(capacity));
  auto* h = reinterpret_cast<sc::ChannelHeader*>(mapping.bytes().data());
  // ftruncate zero-filled everything: every slot is free, every flag clear.
  h->magic = sc::kMagic;
  h->version = sc::kVersion;
  h->header_size = sizeof(sc::ChannelHeader);
  h->slot_count = geometry->slot_count;
  h->slot_size = sizeof(sc::SlotEntry);
  h->ring_capacity = geometry->ring_capacity;
  h->rings_offset = geometry->rings_offset;
  h->ring_stride = geometry->ring_stride;
  h->total_size = geometry->total_size;
  h->max_message = max;
  h->receiver_pid = ::getpid();
  h->receiver_spins = options.spin == std::chrono::nanoseconds::max() ? 1 : 0;
  const std::uint64_t token[2] = {sys::random_u64(), sys::random_u64()};
  std::memcpy(h->bell_token, token, sizeof token);
  std::string bell = bell_name(h->bell_token);
  // Senders may come now: the segment is complete.
  std::unique_ptr<Rendezvous> serving;
  if (rendezvous) {
    Fd handout = sys::reopen(fd.get(), O_RDWR, name, "reopening the memfd of " + u + " to hand it to senders");
    serving = std::make_unique<Rendezvous>(std::move(*rendezvous), std::move(handout), u);
  }
  // release: every field above is visible to a sender that sees ready == 1 (acquire).
  atomic(h->ready).store(1, std::memory_order_release);
  auto transport = std::make_unique<ShmListener>(
      u, max, Segment{name, std::move(fd), std::move(mapping), *geometry}, options, std::move(bell),
      std::move(serving));
  unlink.done();
  return transport;
}

namespace {

// One try at joining: the sender, or nothing (with `problem` saying why) when it may work
// later (no object yet, listener initialising or closing, no free slot). Errors that will not
// go away throw.
// The named segment /ipckit-ch-NAME, or nothing (with `problem`) while there is none.
std::optional<Fd> open_named(const ChannelUrl& url, const std::string& name, std::string& problem) {
  const int raw = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (raw != -1) return Fd{raw};
  const int err = errno;
  if (err == ENOENT) {
    problem = "there is no segment " + name;
    return std::nullopt;
  }
  sys::fail("shm_open", name, err,
            err == EACCES ? sys::owner_and_mode("/dev/shm" + name, "the segment") + "; this is channel " +
                                url.to_string()
                          : "opening the segment of channel " + url.to_string());
}

// The memfd variant: the listener's memfd, asked for at its rendezvous socket, or nothing
// (with `problem`) while no listener serves it. The descriptor returned is a new open file
// description of the memfd (reopened through /proc/self/fd), so this sender's liveness lock
// is its own and not the listener's.
std::optional<Fd> open_memfd(const ChannelUrl& url, Deadline deadline, std::string& problem) {
  const std::string u = url.to_string();
  const UnixAddress address = rendezvous_address(url);
  std::optional<Socket> s;
  try {
    s = Socket::connect_unix(address, SocketType::seqpacket, Deadline::now());
  } catch (const Error& e) {
    if (e.errnum() != ENOENT && e.errnum() != ECONNREFUSED && e.errnum() != EAGAIN &&
        e.errnum() != ETIMEDOUT) {
      throw;
    }
    problem = e.errnum() == EAGAIN || e.errnum() == ETIMEDOUT
                  ? "the listener's socket " + address.to_string() + " had a full backlog"
                  : "nobody listens on " + address.to_string();
    return std::nullopt;
  }
  // The abstract name has no permissions: whoever bound it must be our user, or our messages
  // would go to a stranger.
  const PeerCredentials listener = s->peer_credentials();
  if (listener.uid != ::geteuid()) {
    sys::fail("Channel::connect", u, EACCES,
              address.to_string() + " is held by " + sys::user_text(listener.uid) + " (pid " +
                  std::to_string(listener.pid) + "), not by this process's user (" +
                  sys::user_text(::geteuid()) + "): refusing to send there");
  }
  std::array<std::byte, 512> said{};
  Received got = s->receive_fds(said, deadline.is_now() ? Deadline::after(kLivenessPeriod) : deadline);
  if (got.status != IoStatus::ok) {
    problem = got.status == IoStatus::end_of_stream
                  ? "its listener was closing"
                  : "the listener at " + address.to_string() + " did not answer";
    return std::nullopt;
  }
  if (got.fds.size() != 1) {
    sys::fail("Channel::connect", u, EACCES,
              "the listener refused: " +
                  std::string(reinterpret_cast<const char*>(said.data()), got.bytes));
  }
  const int seals = ::fcntl(got.fds[0].get(), F_GET_SEALS);
  if (seals == -1 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW)) {
    sys::fail("Channel::connect", u, EPROTO,
              "the segment handed out at " + address.to_string() +
                  " is not a memfd whose size is sealed (a peer could shrink it under the mapping)");
  }
  return sys::reopen(got.fds[0].get(), O_RDWR, memfd_name(url),
                     "reopening the memfd of " + u + " for this sender's own lock");
}

// With the segment open: checks it, claims a free slot and initialises its ring. The sender,
// or nothing (with `problem` saying why) when it may work later (listener initialising or
// closing, no free slot). Errors that will not go away throw; `remove_it` says how to get rid
// of a bad segment.
std::unique_ptr<ShmSender> join(const ChannelUrl& url, const std::string& name, Fd fd, bool named,
                                const ChannelOptions& options, std::string& problem,
                                std::uint32_t& slots_full) {
  const std::string u = url.to_string();
  slots_full = 0;
  const std::string remove_it =
      named ? "remove it with `ipckit rm --shm " + name + "`" : "restart its listener";
  struct stat st {};
  sys::check(::fstat(fd.get(), &st), "fstat", name);
  if (!S_ISREG(st.st_mode))
    sys::fail("Channel::connect", name, EINVAL, "the segment of " + u + " is not a regular object");
  if (st.st_uid != ::geteuid()) {
    sys::fail("Channel::connect", name, EACCES,
              "the segment of " + u + " belongs to " + sys::user_text(st.st_uid) +
                  ", not to this process's user (" + sys::user_text(::geteuid()) +
                  "): a shm:// channel joins only processes of the user who listens; " + remove_it +
                  " if it is not yours to use");
  }
  // A memfd has no name to be opened by: its mode does not matter.
  if (named && (st.st_mode & 077) != 0) {
    sys::fail("Channel::connect", name, EACCES,
              "the segment of " + u + " has mode " + sys::mode_text(st.st_mode & 07777) +
                  "; a channel's segment must be 0600 (other users could read or write it): "
                  "refusing it; " + remove_it + " and listen again");
  }
  if (static_cast<std::uint64_t>(st.st_size) < sizeof(sc::ChannelHeader)) {
    problem = "the segment " + name + " was still being made";
    return nullptr;
  }
  sc::ChannelHeader seen{};
  {
    Mapping head =
        Mapping::map_fd(fd, {.access = Access::read_only, .length = sizeof(sc::ChannelHeader)});
    auto* h = reinterpret_cast<sc::ChannelHeader*>(
        const_cast<std::byte*>(std::as_const(head).bytes().data()));
    // acquire: pairs with listen()'s release; the fields below were written before.
    const std::uint32_t ready = atomic(h->ready).load(std::memory_order_acquire);
    if (ready == 0) {
      problem = "the segment " + name + " was still being made";
      return nullptr;
    }
    if (ready != 1) {
      sys::fail("Channel::connect", name, EPROTO,
                "the segment of " + u + " has a ready word no listener writes (" + std::to_string(ready) +
                    "); " + remove_it + " and listen again");
    }
    std::memcpy(&seen, h, sizeof seen);
  }
  const auto refuse = [&](const std::string& why) {
    sys::fail("Channel::connect", name, EPROTO,
              "the segment of " + u + " " + why + "; " + remove_it + " and listen again");
  };
  if (seen.magic != sc::kMagic) refuse("is not an ipckit channel (wrong magic)");
  if (seen.version != sc::kVersion) {
    refuse("has layout version " + std::to_string(seen.version) + "; this ipckit speaks version " +
           std::to_string(sc::kVersion));
  }
  if (seen.header_size != sizeof(sc::ChannelHeader) || seen.slot_size != sizeof(sc::SlotEntry)) {
    refuse("has a header of another size (another build of ipckit?)");
  }
  const auto geometry = sc::geometry(seen.slot_count, seen.ring_capacity);
  if (!geometry || geometry->rings_offset != seen.rings_offset ||
      geometry->ring_stride != seen.ring_stride || geometry->total_size != seen.total_size) {
    refuse("has an impossible layout (slot count " + std::to_string(seen.slot_count) +
           ", capacity " + std::to_string(seen.ring_capacity) + ")");
  }
  if (static_cast<std::uint64_t>(st.st_size) != geometry->total_size) {
    refuse("is " + std::to_string(st.st_size) + " bytes but its header says " +
           std::to_string(geometry->total_size));
  }
  if (seen.max_message == 0 || seen.max_message > ring::max_message_for(geometry->ring_capacity)) {
    refuse("says its largest message is " + std::to_string(seen.max_message) +
           " bytes, more than its rings hold");
  }
  if (seen.receiver_closed != 0) {
    problem = "its listener was closing";
    return nullptr;
  }
  if (!byte_locked(fd.get(), sc::kReceiverLockByte)) {
    problem = named ? "the segment " + name +
                          " is stale (its listener has gone without removing it: `ipckit rm --stale` or "
                          "`ipckit rm --shm " +
                          name + "` removes it)"
                    : "its listener has gone";
    return nullptr;
  }

  Mapping mapping = Mapping::map_fd(fd, {.length = geometry->total_size});
  Segment seg{name, std::move(fd), std::move(mapping), *geometry};
  // Claim a slot: its lock first (a previous sender of the slot may still hold it for the
  // instant between marking it closed and closing its descriptor; and two claimers never both
  // get it), then free → claiming.
  for (std::uint32_t i = 0; i < geometry->slot_count; ++i) {
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
    if (!ring::initialise(ring_bytes, geometry->ring_capacity, sys::random_u64()) ||
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
  slots_full = geometry->slot_count;
  problem = "all " + std::to_string(geometry->slot_count) + " sender slots were taken";
  // The listener gives back the slots of dead senders when it looks at the locks: wake it.
  sc::ChannelHeader& h = seg.header();
  Bell bell{seen.bell_token};
  notify(h.receiver_wake, bell);
  return nullptr;
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
    std::optional<Fd> fd = memfd ? open_memfd(url, deadline, problem) : open_named(url, name, problem);
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
