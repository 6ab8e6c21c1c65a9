// The wake protocol's syscalls and the readiness descriptor: see shm_wake.hpp.

#include "shm_wake.hpp"

#include <linux/futex.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "../sys.hpp"

namespace ipckit::detail {

using namespace std::chrono_literals;

void futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout) noexcept {
  if (timeout <= 0ns) return;
  timeout = std::min<std::chrono::nanoseconds>(timeout, std::chrono::hours(1));  // the caller loops
  const timespec ts = to_timespec(timeout);
  (void)::syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake(std::uint32_t* word, int count) noexcept {
  (void)::syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

std::string bell_name(const std::uint8_t (&token)[16]) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "ipckit/shm-bell/";
  for (const std::uint8_t byte : token) {
    name += kHex[byte >> 4];
    name += kHex[byte & 15];
  }
  return name;
}

Bell::Bell(const std::uint8_t (&token)[16]) : address_(abstract_address(bell_name(token))) {}

void Bell::ring() noexcept {
  if (!socket_) {
    const int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s == -1) return;
    socket_ = Fd{s};
  }
  (void)::sendto(socket_.get(), "!", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&address_.addr), address_.length);
}

ReadinessBell::ReadinessBell(const std::string& name, const std::string& url) : url_(url) {
  ensure_standard_descriptors();  // none of these three may be 0-2
  epoll_ = Fd{sys::check(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1", url_, "making the readiness descriptor")};
  bell_ = Fd{sys::check(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket", url_,
                        "making the readiness doorbell")};
  const AbstractAddress a = abstract_address(name);
  if (::bind(bell_.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.length) == -1) {
    const int err = errno;
    sys::fail("bind", "@" + name, err,
              err == EADDRINUSE ? "the doorbell of " + url_ + " is taken: someone who read its segment bound it first"
                                : "binding the readiness doorbell of " + url_);
  }
  timer_ = Fd{sys::check(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "timerfd_create", url_,
                         "making the readiness timer")};
  for (const int fd : {bell_.get(), timer_.get()}) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    sys::check(::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e), "epoll_ctl", url_, "making the readiness descriptor");
  }
  // Readable at first: what came before the caller first polls is taken by its first
  // try_receive, which then arms the descriptor.
  set_timer(1ns);
}

void ReadinessBell::set_timer(std::chrono::nanoseconds after) {
  itimerspec t{};
  t.it_value = to_timespec(after);
  sys::check(::timerfd_settime(timer_.get(), 0, &t, nullptr), "timerfd_settime", url_, "arming the readiness timer");
}

void ReadinessBell::drain() noexcept {
  std::array<char, 64> rung{};
  for (unsigned i = 0; i < kBellDrainMax; ++i) {
    if (::recv(bell_.get(), rung.data(), rung.size(), MSG_DONTWAIT) == -1 && errno != EINTR) break;
  }
  std::uint64_t expirations = 0;
  (void)::read(timer_.get(), &expirations, sizeof expirations);
}

}  // namespace ipckit::detail
