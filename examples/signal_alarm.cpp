// Timers that send SIGALRM (seed S2, S11, S12): alarm(2), one per process, whose
// replacement returns the seconds the old one had left; and setitimer(2) ITIMER_REAL, once
// or every interval.
//
//   signal_alarm       about two seconds; prints what happens at each step
//
// SIGALRM is taken two ways: with a handler and sigsuspend (the classic way), then from a
// signalfd (no handler at all: the signal is read like data).

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>

#include "ipckit/error.hpp"
#include "ipckit/signal.hpp"

namespace {

using namespace std::chrono_literals;

std::atomic<int> alarms{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_sigalrm(int /*signo*/, siginfo_t* /*info*/, void* /*context*/) {
  alarms.fetch_add(1);
}

}  // namespace

int main() {
  try {
    ipckit::ScopedSignalHandler handler(SIGALRM, on_sigalrm);
    // Blocked outside the wait, so it cannot arrive between the check and the sleep.
    ipckit::ScopedSignalMask mask({SIGALRM});
    sigset_t while_waiting = ipckit::signal_mask().remove(SIGALRM).native();

    // alarm: a process has one. Setting a new one returns what the old one had left.
    std::cout << "alarm(10) returns " << ipckit::set_alarm(10) << " (no alarm was set)\n";
    const unsigned left = ipckit::set_alarm(1);
    std::cout << "alarm(1) replaces it and returns " << left << " (seconds the old one had left)\n";
    while (alarms.load() == 0)
      ::sigsuspend(&while_waiting);  // unblocks SIGALRM and sleeps, atomically
    std::cout << "SIGALRM: the handler ran " << alarms.load() << " time\n";

    // setitimer ITIMER_REAL: first after `initial`, then every `interval`. Here the signal is
    // read from a signalfd (it is still blocked, as signalfd needs).
    auto sfd = ipckit::SignalFd::create({SIGALRM});
    (void)ipckit::set_interval_timer({.initial = 50ms});
    auto got = sfd.read();
    std::cout << "setitimer once: " << ipckit::signal_name(got->signo) << " from "
              << (got->sender_pid == 0 ? "the kernel" : "a process") << '\n';
    std::cout << "left on the timer: " << ipckit::interval_timer().initial.count() << " us\n";

    (void)ipckit::set_interval_timer({.initial = 50ms, .interval = 50ms});
    for (int i = 1; i <= 3; ++i) {
      got = sfd.read();
      std::cout << "setitimer every 50 ms: " << ipckit::signal_name(got->signo) << " #" << i
                << '\n';
    }
    (void)ipckit::set_interval_timer({});  // a zero initial time stops it
    std::cout << "timer stopped\n";
    return 0;
  } catch (const ipckit::Error& e) {
    std::cerr << "signal_alarm: " << e.what() << '\n';
    return 1;
  }
}
