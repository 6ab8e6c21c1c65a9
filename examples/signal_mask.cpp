// Blocking a signal holds it back, it is not lost (seed S5, S6, S8, S10): block SIGINT,
// raise it three times, see it pending (once: a standard signal does not queue), then
// unblock it and see the handler run, once.
//
//   signal_mask        prints what happens at each step; every line is the same on every run

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>

#include "ipckit/error.hpp"
#include "ipckit/signal.hpp"

namespace {

// A handler may only call async-signal-safe functions; storing to a lock-free atomic is one.
std::atomic<int> deliveries{0};
static_assert(std::atomic<int>::is_always_lock_free);

void on_sigint(int /*signo*/, siginfo_t* /*info*/, void* /*context*/) {
  deliveries.fetch_add(1);
}

const char* yes_no(bool b) {
  return b ? "yes" : "no";
}

}  // namespace

int main() {
  try {
    // The handler first, so that nothing of SIGINT is lost once the mask goes away.
    ipckit::ScopedSignalHandler handler(SIGINT, on_sigint);
    {
      // sigprocmask(SIG_BLOCK, {SIGINT}): until the end of this scope SIGINT waits.
      ipckit::ScopedSignalMask mask({SIGINT});
      std::cout << "blocked: " << ipckit::signal_mask().to_string() << '\n';

      for (int i = 0; i < 3; ++i) ipckit::raise_signal(SIGINT);  // generated...
      std::cout << "raised SIGINT 3 times while blocked\n";
      // ...and pending: sigpending(2) shows it, the handler has not run.
      std::cout << "pending: " << ipckit::pending_signals().to_string() << '\n';
      std::cout << "handler has run: " << yes_no(deliveries.load() > 0) << '\n';
      std::cout << "unblocking SIGINT\n";
    }  // the old mask is back; the pending SIGINT is delivered before that call returns

    std::cout << "handler has run: " << yes_no(deliveries.load() > 0) << " (" << deliveries.load()
              << " time: standard signals do not queue)\n";
    std::cout << "pending: " << ipckit::pending_signals().to_string() << '\n';
    return 0;
  } catch (const ipckit::Error& e) {
    std::cerr << "signal_mask: " << e.what() << '\n';
    return 1;
  }
}
