// A signal loop without handlers (seed S7, S9): SIGUSR1 and SIGTERM are blocked and read
// from a signalfd, with who sent them; SIGUSR1 is work, SIGTERM ends the loop. The first
// SIGUSR1 comes from this process (kill), the next from a child (sigqueue, with a value),
// then the child sends SIGTERM.
//
//   signalfd_loop      prints one line per signal and ends on SIGTERM
//
// A real server would put sfd.fd() in its poll/epoll set beside its sockets.

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <string>

#include "ipckit/error.hpp"
#include "ipckit/signal.hpp"

namespace {

std::string who(pid_t sender, pid_t child) {
  if (sender == ::getpid()) return "this process";
  if (sender == child) return "the child";
  return "another process";
}

}  // namespace

int main() {
  try {
    // Block before anything else (and before any thread starts): a blocked signal waits in
    // the kernel for the descriptor instead of running a handler or the default action.
    ipckit::ScopedSignalMask mask({SIGUSR1, SIGTERM});
    auto sfd = ipckit::SignalFd::create({SIGUSR1, SIGTERM});
    std::cout << "pid " << ::getpid() << " waits for SIGUSR1 and SIGTERM on a signalfd\n";

    ipckit::send_signal(::getpid(), SIGUSR1);

    pid_t child = 0;
    for (;;) {
      auto got = sfd.read();  // no deadline: wait for the next one
      std::cout << ipckit::signal_name(got->signo) << " from pid " << got->sender_pid << " ("
                << who(got->sender_pid, child) << ", " << (got->queued() ? "sigqueue" : "kill");
      if (got->queued()) std::cout << ", value " << got->value;
      std::cout << ")\n";
      if (got->signo == SIGTERM) break;

      if (child == 0) {
        // Started only after the first SIGUSR1 was read: a second one sent while the first is
        // still pending would merge into it (standard signals do not queue).
        std::cout.flush();
        child = ::fork();
        if (child == -1) throw ipckit::Error{"fork", "child", errno};
        if (child == 0) {
          ipckit::queue_signal(::getppid(), SIGUSR1, 42);
          ipckit::send_signal(::getppid(), SIGTERM);
          ::_exit(0);
        }
      }
    }
    std::cout << "SIGTERM: stopping\n";
    int status = 0;
    if (child > 0 && ::waitpid(child, &status, 0) == child)
      std::cout << "child exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << '\n';
    return 0;
  } catch (const ipckit::Error& e) {
    std::cerr << "signalfd_loop: " << e.what() << '\n';
    return 1;
  }
}
