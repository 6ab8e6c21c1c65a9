// An shm:// listener that waits in epoll, beside other descriptors; examples/channel_sender
// sends to it.
//
//   channel_poll URL         e.g. channel_poll 'shm://app?capacity=65536&senders=4'
//
// Listens on URL (shm:// only: the transport with a readiness descriptor so far), says on
// stderr where, then waits in one epoll_wait for two descriptors: the channel's
// readiness_fd() and a signalfd for SIGINT and SIGTERM. Each message is printed on stdout,
// one per line. At end of stream (every sender that joined has gone), or on SIGINT or
// SIGTERM, it says so on stderr and exits 0; the segment goes with the Channel.
//
// The readiness descriptor is level-triggered, and it is the try_receive() that returns
// would_block that re-arms it: so each time epoll says it is readable, take messages until
// would_block. A real server adds its sockets to the same epoll set (docs/shm-channel.md).

#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/signal.hpp"

namespace {

void watch(const ipckit::Fd& epoll, int fd) {
  epoll_event e{};
  e.events = EPOLLIN;  // level-triggered: readable again until the cause is dealt with
  e.data.fd = fd;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &e) == -1) {
    throw ipckit::Error{"epoll_ctl", "descriptor " + std::to_string(fd), errno};
  }
}

// Listens on `url` and prints what comes until end of stream or a signal of `signals`.
void serve(const char* url, const ipckit::SignalFd& signals) {
  // The segment this makes is removed again when `channel` goes (return or exception).
  auto channel = ipckit::Channel::listen(url);
  // Owned by the channel: never read or close it, only wait on it.
  const int ready = channel.readiness_fd();

  ipckit::Fd epoll{::epoll_create1(EPOLL_CLOEXEC)};
  if (!epoll) throw ipckit::Error{"epoll_create1", "channel_poll", errno};
  watch(epoll, ready);
  watch(epoll, signals.fd().get());
  // One write, so whoever watches stderr never sees half the line.
  std::cerr << ("channel_poll: listening on " + channel.url() + "\n") << std::flush;

  std::vector<std::byte> buffer(channel.max_message());
  long count = 0;
  for (;;) {
    std::array<epoll_event, 2> events{};
    const int n = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n == -1) {
      if (errno == EINTR) continue;
      throw ipckit::Error{"epoll_wait", "channel_poll", errno};
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == signals.fd().get()) {
        // Deadline::now(): epoll said it is readable; nothing there is no error.
        if (const auto got = signals.read(ipckit::Deadline::now())) {
          std::cerr << ("channel_poll: " + ipckit::signal_name(got->signo) + ", stopping after " +
                        std::to_string(count) + " messages\n")
                    << std::flush;
          return;
        }
        continue;
      }
      // The channel: everything there is, until would_block (which re-arms the descriptor;
      // a readiness that finds nothing gives would_block at once).
      for (;;) {
        const ipckit::IoResult got = channel.try_receive(buffer);
        if (got.status == ipckit::IoStatus::would_block) break;
        if (got.status == ipckit::IoStatus::end_of_stream) {
          std::cerr << ("channel_poll: end of stream after " + std::to_string(count) + " messages\n")
                    << std::flush;
          return;
        }
        const std::string_view text(reinterpret_cast<const char*>(buffer.data()), got.bytes);
        std::cout << text << '\n' << std::flush;
        ++count;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: channel_poll shm://NAME[?capacity=BYTES&senders=N]\n";
    return 2;
  }
  try {
    // Blocked before anything else, threads included (shm://@NAME's listener starts one):
    // a blocked signal waits in the kernel for the signalfd instead of ending the process.
    ipckit::ScopedSignalMask mask({SIGINT, SIGTERM});
    auto signals = ipckit::SignalFd::create({SIGINT, SIGTERM});
    serve(argv[1], signals);
    // A second SIGINT or SIGTERM may be pending by now (a second Ctrl-C; `timeout` sends its
    // signal to the process and then to its group). Ignoring them discards what is pending,
    // so restoring the mask as `mask` goes does not end the process after all.
    ipckit::ignore_signal(SIGINT);
    ipckit::ignore_signal(SIGTERM);
    return 0;
  } catch (const ipckit::Error& e) {
    // e.g. Channel::readiness_fd("unix:///tmp/a.sock"): Operation not supported (EOPNOTSUPP):
    // only shm:// channels have a readiness descriptor so far; ...
    std::cerr << "channel_poll: " << e.what() << '\n';
    return 1;
  }
}
