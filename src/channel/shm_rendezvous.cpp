// The memfd channel's rendezvous: see shm_rendezvous.hpp.

#include "shm_rendezvous.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <cerrno>
#include <span>

#include "../sys.hpp"
#include "ipckit/error.hpp"
#include "shm_layout.hpp"
#include "shm_wake.hpp"

namespace ipckit::detail {

namespace sc = shm_channel;

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

Rendezvous::Rendezvous(UnixListener listener, Fd handout, std::string url)
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

Rendezvous::~Rendezvous() {
  if (::getpid() != owner_) {
    // A forked copy: the thread runs in the parent only, and the eventfd is the parent's too.
    thread_.detach();
    return;
  }
  const std::uint64_t one = 1;
  (void)::write(stop_.get(), &one, sizeof one);
  thread_.join();
}

void Rendezvous::serve() noexcept {
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

void Rendezvous::hand_out(const Socket& caller) {
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

}  // namespace ipckit::detail
