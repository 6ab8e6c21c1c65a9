// The liveness socket of the datagram channels (see beacon.hpp): an abstract Unix stream
// socket per channel, bound by the listener, connected to by each sender, over which no byte
// ever flows. Its hang-ups tell each side that the other has gone.
#include "beacon.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "../sys.hpp"
#include "ownership.hpp"

namespace ipckit::detail {

AbstractAddress abstract_address(const std::string& name) noexcept {
  AbstractAddress a;
  a.addr.sun_family = AF_UNIX;
  // sun_path[0] stays NUL (abstract); the name follows without a terminator.
  std::memcpy(a.addr.sun_path + 1, name.data(), name.size());
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return a;
}

namespace {

// sun_path holds 108 bytes; an abstract name takes them all but the leading NUL.
constexpr std::size_t kMaxAbstractName = sizeof(sockaddr_un::sun_path) - 1;

Fd make_socket(std::string_view object) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd == -1) {
    const int err = errno;
    sys::fail("socket", object, err, sys::descriptor_limit_hint(err));
  }
  return Fd{fd};
}

constexpr short kHangUp = POLLHUP | POLLRDHUP | POLLERR | POLLNVAL;

// Reads and drops what a peer wrote on a socket that should carry nothing. True when the
// peer has gone (end of stream, reset).
bool drain_says_gone(int fd) noexcept {
  char scratch[256];
  for (int round = 0; round < 16; ++round) {  // bounded: a chatty foreign peer cannot hold us
    const ssize_t n = ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return true;
    if (errno == EINTR) continue;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
  return false;
}

std::string url_of(const ChannelUrl& url) {
  return url.to_string();
}

// How long accepting pauses after accept4 ran out of descriptors or memory.
constexpr std::chrono::milliseconds kAcceptPause{100};
// Connections one accept_pending() takes at most.
constexpr int kAcceptsPerCall = 64;

// The peer's credentials; nothing when the kernel cannot say (never for a Unix socket).
std::optional<ucred> peer_of(int fd) noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) return std::nullopt;
  return cred;
}

}  // namespace

std::string beacon_name(const ChannelUrl& url, std::string_view step) {
  std::string name;
  if (url.scheme == ChannelUrl::Scheme::mq) {
    name = "ipckit/mq/" + url.name.substr(1);  // url.name is "/NAME"
  } else {
    char key[16];
    std::snprintf(key, sizeof key, "0x%08x", static_cast<unsigned int>(url.key));
    name = std::string("ipckit/sysv-msg/") + key;
  }
  if (name.size() > kMaxAbstractName) {
    sys::fail(step, url_of(url), ENAMETOOLONG,
              "an mq:// channel's queue name may have at most " +
                  std::to_string(kMaxAbstractName - std::string_view("ipckit/mq/").size()) +
                  " characters after its slash, so that its liveness socket @" +
                  name.substr(0, 20) + "... fits a Unix socket address; pick a shorter name");
  }
  return name;
}

// --- BeaconListener ---------------------------------------------------------------------

BeaconListener BeaconListener::bind(const ChannelUrl& url,
                                    std::function<void(const std::string&)> report) {
  const std::string name = beacon_name(url, "Channel::listen");
  const std::string shown = "@" + name;
  const std::string u = url_of(url);
  Fd fd = make_socket(shown);
  const AbstractAddress a = abstract_address(name);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.length) == -1) {
    const int err = errno;
    if (err == EADDRINUSE) {
      sys::fail("Channel::listen", u, err,
                "another listener is receiving on " + u +
                    ": it holds the channel's liveness socket " + shown + " (`ss -xlp | grep " +
                    name +
                    "` shows which process); a channel has one receiving end: stop that one, or "
                    "pick another name");
    }
    sys::fail("bind", shown, err, "binding the liveness socket of " + u);
  }
  return BeaconListener{std::move(fd), shown, u, std::move(report)};
}

void BeaconListener::listen() {
  sys::check(::listen(fd_.get(), SOMAXCONN), "listen", name_);
}

bool BeaconListener::accept_pending() {
  if (paused_until_) {
    if (std::chrono::steady_clock::now() < *paused_until_) return false;
    paused_until_.reset();
  }
  bool joined_now = false;
  // At most kAcceptsPerCall at a time: a stream of another user's connections, refused one by
  // one, cannot keep a receive from its deadline (what is left waits for the next call).
  for (int accepted = 0; accepted < kAcceptsPerCall; ++accepted) {
    const int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd != -1) {
      Fd sender{fd};
      if (!from_this_user(sender.get())) continue;  // closed at once: costs nothing, joins nothing
      senders_.push_back(std::move(sender));
      joined_ = true;
      joined_now = true;
      continue;
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) return joined_now;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
      pause_accepting(err);
      return joined_now;
    }
    sys::fail("accept4", name_, err, "accepting a sender of " + url_);
  }
  return joined_now;
}

// Only processes of the listener's user may join: another user could otherwise hold the
// channel open for ever, or fill the listener's descriptor table.
bool BeaconListener::from_this_user(int fd) {
  const std::optional<ucred> peer = peer_of(fd);
  if (peer && peer->uid == ::geteuid()) return true;
  std::uint64_t unsaid = 0;
  if (report_ && refusals_.say_now(unsaid)) {
    report_((peer ? "a process of " + sys::user_text(peer->uid) + " (pid " + std::to_string(peer->pid) +
                        ") connected to " + name_ + ", the liveness socket of " + url_ + "; only processes of " +
                        sys::user_text(::geteuid()) + " may send there: its connection was closed"
                  : "a connection to " + name_ + " whose process cannot be told was closed") +
            unsaid_text(unsaid));
  }
  return false;
}

void BeaconListener::pause_accepting(int err) {
  paused_until_ = std::chrono::steady_clock::now() + kAcceptPause;
  std::uint64_t unsaid = 0;
  if (!report_ || !pauses_.say_now(unsaid)) return;  // at most once a second while it lasts
  std::string why = sys::descriptor_limit_hint(err);
  if (why.empty()) why = std::string("out of memory (") + std::strerror(err) + ")";  // NOLINT(concurrency-mt-unsafe)
  report_("cannot accept another sender of " + url_ + " now: " + why +
          "; the listener serves the senders it has and tries again every " +
          std::to_string(kAcceptPause.count()) + " ms" +
          (unsaid == 0 ? std::string{} : " (" + std::to_string(unsaid) + " more tries failed since)"));
}

bool BeaconListener::someone_waiting() {
  if (!paused_until_) return false;
  pollfd p{fd_.get(), POLLIN, 0};
  return poll_for(std::span{&p, 1}, std::chrono::nanoseconds(0), name_) > 0 && (p.revents & POLLIN) != 0;
}

Deadline BeaconListener::wake_by(Deadline deadline) const {
  if (!paused_until_ || deadline.when() <= *paused_until_) return deadline;
  return Deadline::at(*paused_until_);
}

void BeaconListener::reap() {
  if (senders_.empty()) return;
  poll_set_.resize(senders_.size());
  for (std::size_t i = 0; i < senders_.size(); ++i)
    poll_set_[i] = pollfd{senders_[i].get(), POLLIN | POLLRDHUP, 0};
  if (poll_for(poll_set_, std::chrono::nanoseconds(0), name_) == 0) return;
  // Backwards, so moving the last sender into a closed one's place keeps every index valid.
  for (std::size_t i = senders_.size(); i-- > 0;) {
    const short revents = poll_set_[i].revents;
    if (revents == 0) continue;
    const bool gone =
        (revents & kHangUp) != 0 || ((revents & POLLIN) != 0 && drain_says_gone(senders_[i].get()));
    if (!gone) continue;
    if (i + 1 != senders_.size()) senders_[i] = std::move(senders_.back());
    senders_.pop_back();
    paused_until_.reset();  // a descriptor came free: accept again at once
  }
}

void BeaconListener::refresh() {
  (void)accept_pending();
  reap();
}

std::span<pollfd> BeaconListener::poll_set(pollfd extra) {
  poll_set_.resize(2 + senders_.size());
  extra.revents = 0;
  poll_set_[0] = extra;
  // While accepting is paused the backlog is not watched: it would keep poll from sleeping.
  poll_set_[1] = pollfd{fd_.get(), static_cast<short>(paused_until_ ? 0 : POLLIN), 0};
  for (std::size_t i = 0; i < senders_.size(); ++i)
    poll_set_[2 + i] = pollfd{senders_[i].get(), POLLIN | POLLRDHUP, 0};
  return poll_set_;
}

// --- BeaconLink -------------------------------------------------------------------------

std::optional<BeaconLink> BeaconLink::try_connect(const ChannelUrl& url) {
  const std::string name = beacon_name(url, "Channel::connect");
  Fd fd = make_socket("@" + name);
  const AbstractAddress a = abstract_address(name);
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.length) == 0) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN) break;
    // Nobody bound (ENOENT is what a path would say), bound but not listening yet, or a
    // backlog full of senders the listener has not accepted yet.
    if (err == ECONNREFUSED || err == ENOENT || err == EAGAIN) return std::nullopt;
    sys::fail("connect", "@" + name, err, "connecting to the liveness socket of " + url_of(url));
  }
  // An abstract name has no owner: whoever bound it first is the listener. Only one of this
  // user may have our messages.
  const std::optional<ucred> listener = peer_of(fd.get());
  if (!listener || listener->uid != ::geteuid()) {
    sys::fail("Channel::connect", url_of(url), EACCES,
              "the liveness socket @" + name + " of " + url_of(url) + " is held by " +
                  (listener ? sys::user_text(listener->uid) + " (pid " + std::to_string(listener->pid) + ")"
                            : std::string("a process that cannot be told")) +
                  ", not by this process's user (" + sys::user_text(::geteuid()) +
                  "): a channel joins only a listener of the same user; refusing to send there");
  }
  return BeaconLink{std::move(fd)};
}

bool BeaconLink::gone_by(short revents) {
  if (gone_) return true;
  if ((revents & kHangUp) != 0 || ((revents & POLLIN) != 0 && drain_says_gone(fd_.get())))
    gone_ = true;
  return gone_;
}

bool BeaconLink::listener_gone() {
  if (gone_) return true;
  pollfd p{fd_.get(), kEvents, 0};
  if (poll_for(std::span{&p, 1}, std::chrono::nanoseconds(0), "the liveness socket") == 0)
    return false;
  return gone_by(p.revents);
}

}  // namespace ipckit::detail
