#include "ipckit/fd.hpp"

#include <cerrno>
#include <csignal>
#include <algorithm>
#include <atomic>
#include <climits>
#include <fcntl.h>
#include <sys/uio.h>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <unistd.h>

#include "fd_util.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

// Blocks SIGPIPE in this thread for the duration of one write, so a write to a pipe whose
// readers are gone fails with EPIPE instead of killing the process, whatever its SIGPIPE
// disposition. The SIGPIPE that such a write generates is directed at this thread; it is
// taken off the pending set before the old mask comes back, so it is never delivered.
class SigpipeGuard {
 public:
  SigpipeGuard() noexcept {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask_);
    was_blocked_ = sigismember(&old_mask_, SIGPIPE) == 1;
    if (was_blocked_) {
      // A SIGPIPE the caller left pending must survive us: only consume when there was none.
      sigset_t pending;
      sigpending(&pending);
      was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    }
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  ~SigpipeGuard() {
    if (!was_blocked_) pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  // After EPIPE: removes the SIGPIPE our write raised (keeps errno).
  void consume_raised() const noexcept {
    if (was_pending_) return;
    int saved = errno;
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    timespec zero{};
    while (sigtimedwait(&pipe_only, nullptr, &zero) == -1 && errno == EINTR) {
    }
    errno = saved;
  }

 private:
  sigset_t old_mask_{};
  bool was_blocked_ = false;
  bool was_pending_ = false;
};

// Set once SIGPIPE is ignored process-wide through ignore_sigpipe(): writes skip the guard.
std::atomic<bool> sigpipe_ignored{false};

// Runs one write under the SIGPIPE guard unless the process ignores SIGPIPE (ignore_sigpipe).
template <class Write>
ssize_t write_without_sigpipe(Write&& write) {
  // relaxed: the flag only ever goes from false to true, after sigaction has taken effect.
  if (sigpipe_ignored.load(std::memory_order_relaxed)) return write();
  SigpipeGuard guard;
  ssize_t n = write();
  if (n == -1 && errno == EPIPE) guard.consume_raised();
  return n;
}

IoStatus expired_status(Deadline deadline) noexcept {
  return deadline.is_now() ? IoStatus::would_block : IoStatus::timed_out;
}

bool wait_for(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (rc > 0) {
      if ((p.revents & POLLNVAL) != 0) sys::fail("poll", detail::describe_fd(fd), EBADF);
      return true;
    }
    if (rc == 0) {
      if (deadline.expired()) return false;
      continue;  // poll rounds to milliseconds; the deadline decides
    }
    if (errno != EINTR) sys::fail("poll", detail::describe_fd(fd), errno);
  }
}

bool has_nonblock_flag(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags != -1 && (flags & O_NONBLOCK) != 0;
}

// One read that does not sleep, even on a blocking descriptor: preadv2 with RWF_NOWAIT,
// which pipes and sockets support. FIFOs do not (EOPNOTSUPP): a non-blocking one is read
// directly; a blocking one is read after poll(2) says there is data, which is exact unless
// another reader takes the data in between.
ssize_t read_nowait(int fd, std::span<std::byte> buf, Deadline deadline) {
  iovec v{buf.data(), buf.size()};
  ssize_t n = ::preadv2(fd, &v, 1, -1, RWF_NOWAIT);
  if (n != -1 || (errno != EOPNOTSUPP && errno != EINVAL)) return n;
  if (!has_nonblock_flag(fd) && !wait_for(fd, POLLIN, deadline)) {
    errno = EAGAIN;
    return -1;
  }
  return ::read(fd, buf.data(), buf.size());
}

// The write counterpart. On a blocking descriptor without RWF_NOWAIT it writes at most
// PIPE_BUF bytes after poll(2) says there is room, which a pipe or FIFO takes without sleeping.
ssize_t write_nowait(int fd, std::span<const std::byte> buf, Deadline deadline) {
  iovec v{const_cast<std::byte*>(buf.data()), buf.size()};  // NOLINT: iovec is not const-correct
  ssize_t n = ::pwritev2(fd, &v, 1, -1, RWF_NOWAIT);
  if (n != -1 || (errno != EOPNOTSUPP && errno != EINVAL)) return n;
  if (has_nonblock_flag(fd)) return ::write(fd, buf.data(), buf.size());
  if (!wait_for(fd, POLLOUT, deadline)) {
    errno = EAGAIN;
    return -1;
  }
  return ::write(fd, buf.data(), std::min<std::size_t>(buf.size(), PIPE_BUF));
}

}  // namespace

namespace detail {

std::string describe_fd(int fd) {
  // Callers build this name between a failing syscall and reading its errno: keep errno.
  const int saved = errno;
  std::string link = "/proc/self/fd/" + std::to_string(fd);
  char target[512];
  ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  std::string name = "fd " + std::to_string(fd);
  if (n > 0) name += " " + std::string(target, static_cast<std::size_t>(n));
  errno = saved;
  return name;
}

}  // namespace detail

void ensure_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // open(2) takes the lowest free descriptor, which is `fd` unless another thread took it
    // meanwhile; then that thread's descriptor stays where it is and ours goes.
    const int opened = sys::retry_eintr([] { return ::open("/dev/null", O_RDWR); });
    if (opened == -1) {
      const int err = errno;
      sys::fail("open", "/dev/null", err,
                "descriptor " + std::to_string(fd) +
                    " (stdin, stdout or stderr) is closed and /dev/null could not be opened in "
                    "its place");
    }
    if (opened != fd && opened > 2) ::close(opened);
  }
}

void ignore_sigpipe() {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sys::check(::sigaction(SIGPIPE, &ignore, nullptr), "sigaction", "SIGPIPE");
  sigpipe_ignored.store(true, std::memory_order_relaxed);
}

const char* to_string(IoStatus status) noexcept {
  switch (status) {
    case IoStatus::ok: return "ok";
    case IoStatus::end_of_stream: return "end of stream";
    case IoStatus::would_block: return "would block";
    case IoStatus::timed_out: return "timed out";
    case IoStatus::peer_closed: return "peer closed";
  }
  return "unknown";
}

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) {
    int saved = errno;
    ::close(fd_);  // never retried: on Linux the descriptor is gone even when close fails
    errno = saved;
  }
  fd_ = fd;
}

Fd Fd::duplicate() const {
  return Fd{sys::check(::fcntl(fd_, F_DUPFD_CLOEXEC, 0), "fcntl(F_DUPFD_CLOEXEC)",
                       detail::describe_fd(fd_))};
}

void Fd::set_nonblocking(bool on) const {
  int flags = sys::check(::fcntl(fd_, F_GETFL), "fcntl(F_GETFL)", detail::describe_fd(fd_));
  int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags)
    sys::check(::fcntl(fd_, F_SETFL, wanted), "fcntl(F_SETFL)", detail::describe_fd(fd_));
}

bool Fd::nonblocking() const {
  int flags = sys::check(::fcntl(fd_, F_GETFL), "fcntl(F_GETFL)", detail::describe_fd(fd_));
  return (flags & O_NONBLOCK) != 0;
}

void Fd::set_cloexec(bool on) const {
  sys::check(::fcntl(fd_, F_SETFD, on ? FD_CLOEXEC : 0), "fcntl(F_SETFD)",
             detail::describe_fd(fd_));
}

bool Fd::cloexec() const {
  int flags = sys::check(::fcntl(fd_, F_GETFD), "fcntl(F_GETFD)", detail::describe_fd(fd_));
  return (flags & FD_CLOEXEC) != 0;
}

bool Fd::wait_readable(Deadline deadline) const { return wait_for(fd_, POLLIN, deadline); }
bool Fd::wait_writable(Deadline deadline) const { return wait_for(fd_, POLLOUT, deadline); }

IoResult Fd::read_some(std::span<std::byte> buf, Deadline deadline) const {
  if (buf.empty()) return {};
  for (;;) {
    // With a deadline, never sleep inside read(2): RWF_NOWAIT makes even a blocking
    // descriptor answer EAGAIN, and poll(2) does the waiting.
    ssize_t n = deadline.is_never() ? ::read(fd_, buf.data(), buf.size())
                                    : read_nowait(fd_, buf, deadline);
    if (n > 0) return {static_cast<std::size_t>(n), IoStatus::ok};
    if (n == 0) return {0, IoStatus::end_of_stream};
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return {0, IoStatus::end_of_stream};  // the peer went abruptly
    if (errno == EAGAIN) {
      if (!deadline.is_never() && deadline.expired()) return {0, expired_status(deadline)};
      if (!wait_readable(deadline)) return {0, expired_status(deadline)};
      continue;
    }
    sys::fail("read", detail::describe_fd(fd_), errno);
  }
}

IoResult Fd::read_exact(std::span<std::byte> buf, Deadline deadline) const {
  std::size_t done = 0;
  while (done < buf.size()) {
    IoResult r = read_some(buf.subspan(done), deadline);
    if (r.status == IoStatus::end_of_stream && done > 0) {
      sys::fail("read", detail::describe_fd(fd_), 0,
                "short read: the stream ended after " + std::to_string(done) + " of " +
                    std::to_string(buf.size()) + " bytes (the writer closed mid-message)");
    }
    if (r.status != IoStatus::ok) return {done, r.status};
    done += r.bytes;
  }
  return {done, IoStatus::ok};
}

IoResult Fd::write_some(std::span<const std::byte> buf, Deadline deadline) const {
  if (buf.empty()) return {};
  for (;;) {
    ssize_t n = write_without_sigpipe([&] {
      return deadline.is_never() ? ::write(fd_, buf.data(), buf.size())
                                 : write_nowait(fd_, buf, deadline);
    });
    if (n >= 0) return {static_cast<std::size_t>(n), IoStatus::ok};
    if (errno == EINTR) continue;
    if (errno == EPIPE || errno == ECONNRESET) return {0, IoStatus::peer_closed};
    if (errno == EAGAIN) {
      if (!deadline.is_never() && deadline.expired()) return {0, expired_status(deadline)};
      if (!wait_writable(deadline)) return {0, expired_status(deadline)};
      continue;
    }
    sys::fail("write", detail::describe_fd(fd_), errno);
  }
}

IoResult Fd::write_all(std::span<const std::byte> buf, Deadline deadline) const {
  std::size_t done = 0;
  while (done < buf.size()) {
    IoResult r = write_some(buf.subspan(done), deadline);
    if (r.status != IoStatus::ok) return {done, r.status};
    done += r.bytes;
  }
  return {done, IoStatus::ok};
}

}  // namespace ipckit
