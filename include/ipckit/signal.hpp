#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"

// Signals (seed claims S1–S12): the signal table (numbers, names as `kill -l` prints them,
// default actions of man 7 signal), signal sets, masks that block and restore, pending
// signals, SA_SIGINFO handlers, synchronous handling through signalfd, and the ways to send
// a signal or have the kernel send one later (kill, raise, sigqueue, abort, alarm, setitimer,
// timerfd). SIGKILL and SIGSTOP can be neither caught, blocked nor ignored (S4): asking for
// it is an Error here, not a request the kernel silently drops.
//
//   ipckit::ScopedSignalMask mask({SIGUSR1});          // blocked: kept pending, not lost (S6)
//   auto sfd = ipckit::SignalFd::create({SIGUSR1});
//   ipckit::queue_signal(::getpid(), SIGUSR1, 42);      // sigqueue with a value (S9)
//   auto got = sfd.read(ipckit::Deadline::never());     // got->value == 42, got->sender_pid
//   ipckit::parse_signal("RTMIN+3");                    // 37 on Linux with glibc

namespace ipckit {

/// What the kernel does with a signal nobody catches (man 7 signal), S3.
enum class SignalAction : unsigned char {
  terminate,  ///< "Term": end the process
  ignore,     ///< "Ign": nothing
  core,       ///< "Core": end the process and dump core
  stop,       ///< "Stop": stop the process
  cont,       ///< "Cont": continue it if stopped
};

/// "Term", "Ign", "Core", "Stop", "Cont".
[[nodiscard]] const char* to_string(SignalAction action) noexcept;

/// One row of the signal table.
struct SignalInfo {
  int number = 0;            ///< 2
  std::string name;          ///< "SIGINT"; real-time ones as `kill -l`: "SIGRTMIN+3", "SIGRTMAX-2"
  SignalAction action = SignalAction::terminate;
  std::string description;   ///< "Interrupt from keyboard"
};

/// Every signal of this system in number order: the standard ones (1..31) and SIGRTMIN..
/// SIGRTMAX (glibc keeps 32 and 33 for itself, so they are left out, as `kill -l` does).
[[nodiscard]] const std::vector<SignalInfo>& signal_table();

/// The table row of one signal. Throws Error (EINVAL) when `signo` is not a signal here.
[[nodiscard]] const SignalInfo& signal_info(int signo);

/// "SIGINT", "SIGRTMIN+3". Throws Error for a number that is not a signal.
[[nodiscard]] std::string signal_name(int signo);

/// A signal from its name or number: "INT", "SIGINT", "sigint", "2", "RTMIN+3",
/// "SIGRTMAX-2", "RTMIN". Throws Error naming the text, with a hint to `ipckit signals -l`.
[[nodiscard]] int parse_signal(std::string_view text);

/// A set of signals: a value type over sigset_t (S8).
class SignalSet {
 public:
  /// The empty set (sigemptyset).
  SignalSet() noexcept;
  /// The given signals. Throws Error for a number that is not a signal.
  SignalSet(std::initializer_list<int> signals);
  [[nodiscard]] static SignalSet empty() noexcept { return SignalSet{}; }
  /// Every signal (sigfillset), SIGKILL and SIGSTOP included.
  [[nodiscard]] static SignalSet full() noexcept;
  /// Every signal a mask can hold back: full() without SIGKILL and SIGSTOP.
  [[nodiscard]] static SignalSet blockable() noexcept;
  [[nodiscard]] static SignalSet from_native(const sigset_t& set) noexcept;

  /// sigaddset / sigdelset. Throw Error for a number that is not a signal.
  SignalSet& add(int signo);
  SignalSet& remove(int signo);
  /// sigismember; false for a number that is not a signal.
  [[nodiscard]] bool contains(int signo) const noexcept;
  [[nodiscard]] bool is_empty() const noexcept;
  /// The members in number order.
  [[nodiscard]] std::vector<int> signals() const;
  /// "{SIGINT, SIGRTMIN+1}"; "{}" when empty.
  [[nodiscard]] std::string to_string() const;

  [[nodiscard]] const sigset_t& native() const noexcept { return set_; }
  friend bool operator==(const SignalSet& a, const SignalSet& b) noexcept;

 private:
  sigset_t set_;
};

/// The calling thread's signal mask (pthread_sigmask).
[[nodiscard]] SignalSet signal_mask();
/// Signals raised for this thread or process and held back by a mask (sigpending), S5/S6.
[[nodiscard]] SignalSet pending_signals();

/// Blocks signals in the calling thread for a scope and restores the previous mask on
/// destruction (pthread_sigmask), S6/S8. A blocked signal stays pending until unblocked.
/// Throws Error when blocking (How::block, How::set) a set that holds SIGKILL or SIGSTOP
/// (S4; SignalSet::blockable() leaves them out); unblocking them is allowed and does nothing
/// for them. Not movable: a mask belongs to one thread and one scope.
class ScopedSignalMask {
 public:
  enum class How : unsigned char {
    block,    ///< SIG_BLOCK: add these to the mask
    unblock,  ///< SIG_UNBLOCK: take these out of it
    set,      ///< SIG_SETMASK: the mask becomes exactly these
  };
  explicit ScopedSignalMask(const SignalSet& signals, How how = How::block);
  ScopedSignalMask(const ScopedSignalMask&) = delete;
  ScopedSignalMask& operator=(const ScopedSignalMask&) = delete;
  /// Restores the mask the thread had before; signals it unblocks are delivered then.
  ~ScopedSignalMask();
  [[nodiscard]] const SignalSet& previous() const noexcept { return previous_; }

 private:
  SignalSet previous_;
};

/// A handler with the sender's details (SA_SIGINFO). Runs in signal context: call only
/// async-signal-safe functions from it.
using SignalHandler = void (*)(int signo, siginfo_t* info, void* context);

struct HandlerOptions {
  /// Signals blocked while the handler runs (the handled one is blocked anyway).
  SignalSet mask{};
  /// SA_RESTART: interrupted slow syscalls restart instead of failing with EINTR.
  bool restart = true;
  /// SA_RESETHAND: back to the default action after one delivery.
  bool once = false;
};

/// Installs a handler for a scope with sigaction and puts back the previous disposition on
/// destruction. Throws Error for SIGKILL or SIGSTOP (S4: "cannot be caught"), and for a
/// number that is not a signal. Not movable.
class ScopedSignalHandler {
 public:
  ScopedSignalHandler(int signo, SignalHandler handler, const HandlerOptions& options = {});
  ScopedSignalHandler(const ScopedSignalHandler&) = delete;
  ScopedSignalHandler& operator=(const ScopedSignalHandler&) = delete;
  ~ScopedSignalHandler();
  [[nodiscard]] int signo() const noexcept { return signo_; }

 private:
  int signo_;
  struct sigaction previous_;
};

/// Sets a signal's disposition for good: ignore it (SIG_IGN) or restore the default action
/// (SIG_DFL). Throws Error for SIGKILL or SIGSTOP (S4) and for non-signals.
void ignore_signal(int signo);
void default_signal_action(int signo);

/// kill(2): sends `signo` to a process (pid > 0), a process group (pid < 0) or, with signo
/// 0, only checks that it exists and may be signalled. Throws Error: ESRCH (no such
/// process, named), EPERM (who owns it).
void send_signal(pid_t pid, int signo);
/// raise(3): sends a signal to the calling thread; a handler runs before this returns.
void raise_signal(int signo);
/// sigqueue(3): sends a signal with one integer (S9); the receiver reads it from
/// siginfo_t::si_value or ReceivedSignal::value. Real-time signals queue (S10); standard
/// ones do not. Throws Error: EAGAIN (the receiver's RLIMIT_SIGPENDING is reached), ESRCH,
/// EINVAL for pid <= 0 (sigqueue reaches one process, never a group).
void queue_signal(pid_t pid, int signo, int value);
/// abort(3): SIGABRT, which ends the process with a core dump even if SIGABRT is caught or
/// blocked (the handler may run first).
[[noreturn]] void abort_process() noexcept;

/// alarm(2): SIGALRM after `seconds` (0 cancels). A process has one alarm: setting a new one
/// replaces the old and returns the seconds the old one had left (S11). Async-signal-safe.
unsigned set_alarm(unsigned seconds) noexcept;

/// setitimer(2) ITIMER_REAL (S12): SIGALRM after `initial`, then every `interval` (zero: once).
/// A zero `initial` stops the timer. Shares the process's one real-time timer with alarm().
/// Returns what the timer had left before. Throws Error (EINVAL: negative values).
struct TimerSetting {
  std::chrono::microseconds initial{0};   ///< it_value: time to the next expiry (0: disarmed)
  std::chrono::microseconds interval{0};  ///< it_interval: period after that (0: once)
};
TimerSetting set_interval_timer(TimerSetting setting);
/// getitimer(2) ITIMER_REAL: what is left.
[[nodiscard]] TimerSetting interval_timer();

/// A timer descriptor (timerfd_create, CLOCK_MONOTONIC): expiries are counted and read like
/// data, so a timer sits in poll/epoll with no signal at all. Move-only.
class TimerFd {
 public:
  /// A disarmed timer. Throws Error (EMFILE...).
  [[nodiscard]] static TimerFd create();
  /// Arms it: first expiry after `initial` (> 0), then every `interval` (0: once).
  /// Throws Error for a non-positive `initial`.
  void arm(std::chrono::nanoseconds initial, std::chrono::nanoseconds interval = {}) const;
  void disarm() const;
  /// Waits for at least one expiry; returns how many happened since the last wait (>= 1),
  /// or 0 when the deadline passed first.
  [[nodiscard]] std::uint64_t wait(Deadline deadline = Deadline::never()) const;
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }

 private:
  explicit TimerFd(Fd fd) noexcept : fd_(std::move(fd)) {}
  Fd fd_;
};

/// A signal taken from a SignalFd, with what the kernel knows of its origin.
struct ReceivedSignal {
  int signo = 0;
  int code = 0;            ///< si_code: SI_USER (kill), SI_QUEUE (sigqueue), SI_KERNEL, ...
  pid_t sender_pid = 0;    ///< for kill/sigqueue/SIGCHLD; 0 when the kernel sent it
  uid_t sender_uid = 0;
  int value = 0;           ///< sigqueue's value (S9); 0 otherwise
  std::uint64_t address = 0;  ///< the faulting address, for SIGSEGV/SIGBUS/SIGILL/SIGFPE
  [[nodiscard]] bool queued() const noexcept;  ///< sent with sigqueue (SI_QUEUE)
};

/// signalfd(2): signals read synchronously from a descriptor, pollable, with the sender's pid,
/// uid and value. The signals must be blocked in every thread (block them before starting
/// threads), or the kernel delivers them the usual way instead; create() checks the calling
/// thread and says so. Move-only.
class SignalFd {
 public:
  /// Throws Error: a signal of the set not blocked in the calling thread (names it and says
  /// to block it first), SIGKILL or SIGSTOP in the set (S4), an empty set.
  [[nodiscard]] static SignalFd create(const SignalSet& signals);
  /// The next pending signal, waiting until the deadline; nothing when it passed first.
  /// Throws Error on a read failure.
  [[nodiscard]] std::optional<ReceivedSignal> read(Deadline deadline = Deadline::never()) const;
  [[nodiscard]] const SignalSet& signals() const noexcept { return signals_; }
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }

 private:
  SignalFd(Fd fd, SignalSet signals) noexcept : fd_(std::move(fd)), signals_(signals) {}
  Fd fd_;
  SignalSet signals_;
};

}  // namespace ipckit
