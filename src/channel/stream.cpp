// fifo://, unix:// and tcp:// transports: the wire format of docs/architecture.md on byte streams. Each
// message is a 4-byte little-endian length and then that many bytes.
//
// Sending: one syscall per message (sendmsg with two iovecs on sockets; one write of at most
// PIPE_BUF bytes on a FIFO, which the kernel keeps whole). When a deadline passes after part
// of a frame went, the end keeps the rest (pending_) and sends it first next time.
//
// Receiving: every sender has an Inbox, a buffer that one read(2) fills with as many frames as
// have come; frames are handed out from it without further syscalls. A listener merges its
// inboxes round robin, so one busy sender cannot starve the others, and a frame whose length
// is above max_message ends that sender's connection before anything is allocated for it.

#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../sys.hpp"
#include "ipckit/fifo.hpp"
#include "ipckit/socket.hpp"
#include "ownership.hpp"
#include "stream_inbox.hpp"
#include "transport.hpp"
#include "wait.hpp"

namespace ipckit::detail {
namespace {

using namespace std::chrono_literals;
using namespace stream;

constexpr unsigned kReadsBetweenPolls = 64;         // so a busy sender cannot hide new ones
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);  // after accept failed (EMFILE...)
constexpr int kAcceptsPerCall = 64;  // connections one accept_all() takes at most
constexpr int kRoundsOfATry = 64;    // rounds of reading and polling one try_receive makes at most

// Runs `attempt` until it returns, retrying while nobody listens at the URL yet (ENOENT,
// ECONNREFUSED, ENXIO) with a back-off from 1 to 50 ms, until the deadline.
// `timeout_means_nobody`: a FIFO open times out when no reader came; a socket connect times
// out when a listener is there but its backlog is full, which retrying would only hide.
template <class Attempt>
auto connect_with_retry(const std::string& url, Deadline deadline, bool timeout_means_nobody, Attempt&& attempt) {
  Backoff backoff = kConnectBackoff;
  for (;;) {
    try {
      return attempt();
    } catch (const Error& e) {
      int err = e.errnum();
      bool nobody = err == ENOENT || err == ECONNREFUSED || err == ENXIO || (timeout_means_nobody && err == ETIMEDOUT);
      if (!nobody) throw;
      if (deadline.is_now() || deadline.expired()) {
        sys::fail("connect", url, ETIMEDOUT,
                  "no listener was there before the deadline (last try: " + std::string(e.what()) +
                      "); start the receiving side (Channel::listen, ipckit recv) first");
      }
    }
    std::this_thread::sleep_for(backoff.step(deadline));
  }
}

// --- sending ------------------------------------------------------------------------------

// Writes frames onto one connected byte stream (a non-blocking descriptor).
class StreamSender : public Channel::Transport {
 public:
  StreamSender(std::string url, std::size_t max_message, Fd fd)
      : Transport(std::move(url), max_message, false), fd_(std::move(fd)) {}

  // The final classes call finish() in their destructors: write_now is theirs, and gone by
  // the time this destructor runs.
  ~StreamSender() override = default;

  IoResult send(std::span<const std::byte> message, Deadline deadline) override {
    if (auto r = drain(deadline); !r.ok()) return r;
    if (auto status = before_frame(message.size(), deadline); status != IoStatus::ok) return {0, status};
    std::byte header[kHeader];
    put_length(header, static_cast<std::uint32_t>(message.size()));
    const std::size_t total = kHeader + message.size();
    std::size_t done = 0;
    for (;;) {
      std::span<const std::byte> head = std::span<const std::byte>(header).subspan(std::min(done, kHeader));
      std::span<const std::byte> body = message.subspan(done > kHeader ? done - kHeader : 0);
      IoResult w = write_now(head, body);
      done += w.bytes;
      if (done == total) {
        after_frame();
        return {};
      }
      if (w.status == IoStatus::peer_closed) return {0, IoStatus::peer_closed};
      if (deadline.is_now() || !fd_.wait_writable(deadline)) {
        if (done == 0) return expired(deadline);
        // Part of the frame is in the kernel: keep the rest, it goes first next time.
        pending_.assign(header + std::min(done, kHeader), header + kHeader);
        auto rest = message.subspan(done > kHeader ? done - kHeader : 0);
        pending_.insert(pending_.end(), rest.begin(), rest.end());
        pending_sent_ = 0;
        return {};
      }
    }
  }

  IoResult flush(Deadline deadline) override { return drain(deadline); }
  // Channel lets only a listener receive.
  IoResult receive(std::span<std::byte>, Deadline) override { return {0, IoStatus::end_of_stream}; }

 protected:
  // Writes what fits now from `a` then `b`, in one syscall.
  virtual IoResult write_now(std::span<const std::byte> a, std::span<const std::byte> b) = 0;
  // Called before a frame's first byte; FIFOs take their lock here.
  virtual IoStatus before_frame(std::size_t /*size*/, Deadline /*deadline*/) { return IoStatus::ok; }
  // Called once a whole frame is in the kernel.
  virtual void after_frame() {}

  // Sends a held tail before the end closes, waiting for it at most a second.
  void finish() noexcept {
    if (pending_.empty()) return;
    try {
      (void)drain(Deadline::after(1s));
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor reports nothing
    }
  }

  Fd fd_;

 private:
  // Sends what is left of a frame a deadline cut short.
  IoResult drain(Deadline deadline) {
    if (pending_.empty()) return {};
    for (;;) {
      IoResult w = write_now(std::span<const std::byte>(pending_).subspan(pending_sent_), {});
      pending_sent_ += w.bytes;
      if (pending_sent_ == pending_.size()) {
        pending_.clear();
        pending_.shrink_to_fit();
        break;
      }
      if (w.status == IoStatus::peer_closed) return {0, IoStatus::peer_closed};
      if (deadline.is_now() || !fd_.wait_writable(deadline)) return expired(deadline);
    }
    after_frame();
    return {};
  }

  std::vector<std::byte> pending_;  // the rest of a frame a deadline cut short
  std::size_t pending_sent_ = 0;    // how much of it has gone since
};

class SocketSender final : public StreamSender {
 public:
  using StreamSender::StreamSender;
  SocketSender(const SocketSender&) = delete;
  SocketSender& operator=(const SocketSender&) = delete;
  ~SocketSender() override { finish(); }

 private:
  IoResult write_now(std::span<const std::byte> a, std::span<const std::byte> b) override {
    iovec iov[2];
    int n = 0;
    if (!a.empty()) iov[n++] = {const_cast<std::byte*>(a.data()), a.size()};  // NOLINT: iovec is not const
    if (!b.empty()) iov[n++] = {const_cast<std::byte*>(b.data()), b.size()};  // NOLINT
    if (n == 0) return {0, IoStatus::ok};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(n);
    for (;;) {
      ssize_t rc = ::sendmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (rc >= 0) return {static_cast<std::size_t>(rc), IoStatus::ok};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {0, IoStatus::would_block};
      if (errno == EPIPE || errno == ECONNRESET) return {0, IoStatus::peer_closed};
      sys::fail("sendmsg", url_, errno);
    }
  }
};

// A FIFO end. Frames of at most PIPE_BUF bytes go in one write and stay whole whatever other
// senders do. Every sender holds a shared flock on the FIFO; a larger frame needs it
// exclusively, which only a sender alone on the FIFO gets.
class FifoSender final : public StreamSender {
 public:
  using StreamSender::StreamSender;
  FifoSender(const FifoSender&) = delete;
  FifoSender& operator=(const FifoSender&) = delete;
  ~FifoSender() override { finish(); }

  void take_shared_lock_if_free() { shared_ = ::flock(fd_.get(), LOCK_SH | LOCK_NB) == 0; }

 private:
  IoResult write_now(std::span<const std::byte> a, std::span<const std::byte> b) override {
    if (a.size() + b.size() <= PIPE_BUF) {
      std::byte frame[PIPE_BUF];
      std::memcpy(frame, a.data(), a.size());
      if (!b.empty()) std::memcpy(frame + a.size(), b.data(), b.size());
      return fd_.write_some(std::span<const std::byte>(frame, a.size() + b.size()), Deadline::now());
    }
    return fd_.write_some(a.empty() ? b : a, Deadline::now());
  }

  IoStatus before_frame(std::size_t size, Deadline deadline) override {
    if (kHeader + size <= PIPE_BUF) {
      if (shared_ || exclusive_) return IoStatus::ok;
      // A large frame of another sender is on its way (it holds the lock exclusively).
      Backoff backoff = kPollBackoff;
      while (::flock(fd_.get(), LOCK_SH | LOCK_NB) == -1) {
        if (errno != EWOULDBLOCK && errno != EINTR) sys::fail("flock(LOCK_SH)", url_, errno);
        if (deadline.is_now() || deadline.expired()) return expired(deadline).status;
        std::this_thread::sleep_for(backoff.step(deadline));
      }
      shared_ = true;
      return IoStatus::ok;
    }
    if (exclusive_) return IoStatus::ok;
    if (::flock(fd_.get(), LOCK_EX | LOCK_NB) == -1) {
      int err = errno;
      // A refused conversion has already dropped the shared lock (flock(2) converts by
      // unlocking first): take it back now, or else before the next small frame.
      shared_ = ::flock(fd_.get(), LOCK_SH | LOCK_NB) == 0;
      if (err != EWOULDBLOCK) sys::fail("flock(LOCK_EX)", url_, err);
      sys::fail("Channel::send", url_, EBUSY,
                "a message of " + std::to_string(size) + " bytes does not fit one atomic FIFO write (" +
                    std::to_string(PIPE_BUF - kHeader) +
                    " bytes with the length), and another sender has this FIFO open, so the two "
                    "could interleave; fifo:// sends larger messages only from a sender alone on "
                    "the FIFO. Use unix:// for large messages from several processes");
    }
    exclusive_ = true;
    shared_ = false;
    return IoStatus::ok;
  }

  void after_frame() override {
    if (!exclusive_) return;
    // Back to shared. The conversion may lose the race to another lone sender; then the lock
    // is taken again before our next frame.
    exclusive_ = false;
    shared_ = ::flock(fd_.get(), LOCK_SH | LOCK_NB) == 0;
  }

  bool shared_ = false;
  bool exclusive_ = false;
};

// --- receiving ----------------------------------------------------------------------------

// The receiving end of unix:// and tcp://: accepts every sender and merges their frames.
class SocketReceiver final : public Channel::Transport {
 public:
  SocketReceiver(std::string url, const ChannelOptions& options, std::optional<UnixListener> unix_listener,
                 std::optional<TcpListener> tcp_listener, std::optional<UnixListener> only = std::nullopt,
                 bool any_user = false)
      : Transport(std::move(url), options.max_message, true),
        any_user_(any_user),
        max_senders_(options.max_senders),
        budget_{.limit = options.max_buffered},
        on_dropped_(options.on_sender_dropped),
        unix_(std::move(unix_listener)),
        tcp_(std::move(tcp_listener)),
        only_(std::move(only)) {}

  ~SocketReceiver() override {
    if (unix_) {
      try {
        unix_->remove();
      } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor reports nothing
      }
    }
  }

  IoResult send(std::span<const std::byte>, Deadline) override { return {0, IoStatus::peer_closed}; }

  IoResult receive(std::span<std::byte> buffer, Deadline deadline) override {
    for (int round = 0;; ++round) {
      if (auto n = take_whole_frame(buffer)) return {*n, IoStatus::ok};
      feed_starved();
      if (read_ready_inboxes()) continue;
      if (joined_ && inboxes_.empty() && !accept_all() && !accept_paused_) {
        joined_ = false;
        return {0, IoStatus::end_of_stream};
      }
      if (!wait(deadline)) return expired(deadline);
      // Something happened, but maybe nothing of ours: a stream of connections (another
      // user's, refused one by one) must not hold a call past its deadline, nor a try for long.
      if (deadline.is_now() ? round >= kRoundsOfATry : !deadline.is_never() && deadline.expired()) {
        if (auto n = take_whole_frame(buffer)) return {*n, IoStatus::ok};
        return expired(deadline);
      }
    }
  }

 private:
  const Fd& listen_fd() const { return unix_ ? unix_->fd() : tcp_->fd(); }

  // A whole frame from the inboxes, round robin; drops inboxes that are done or broken.
  std::optional<std::size_t> take_whole_frame(std::span<std::byte> buffer) {
    for (std::size_t tried = 0; tried < inboxes_.size();) {
      if (next_ >= inboxes_.size()) next_ = 0;
      Inbox& in = inboxes_[next_];
      std::uint32_t length = 0;
      FrameState state = check_frame(in, max_message_, length);
      if (state == FrameState::whole) {
        std::size_t n = take_frame(in, length, buffer, budget_);
        ++next_;
        return n;
      }
      if (state == FrameState::too_long) {
        drop(next_, too_long_reason(in, length, max_message_, url_));
        continue;
      }
      if (in.closed) {
        if (in.held() != 0) report(partial_reason(in, url_, in.error));
        budget_.forget(in);
        inboxes_.erase(inboxes_.begin() + static_cast<std::ptrdiff_t>(next_));
        accept_paused_ = false;
        continue;
      }
      ++next_;
      ++tried;
    }
    return std::nullopt;
  }

  // Reads once from each inbox that may have data. True when anything came or changed.
  bool read_ready_inboxes() {
    bool progressed = false;
    for (Inbox& in : inboxes_) {
      if (!in.ready || in.closed || in.starved) continue;
      if (++reads_since_poll_ > kReadsBetweenPolls) return progressed;  // poll first
      switch (read_into(in, &in.error, budget_)) {
        case ReadOutcome::data:
          progressed = true;
          break;
        case ReadOutcome::closed:
          in.closed = true;
          progressed = true;
          break;
        case ReadOutcome::drained:
          break;
        case ReadOutcome::starved:
          if (release_idle_memory() || grant_overdraft(in)) progressed = true;  // read it again
          break;
      }
    }
    return progressed;
  }

  // An inbox that handed out its last message keeps its larger buffer for the next one; while
  // another starves, the empty ones give their memory back.
  // When every inbox that holds memory beyond its first 64 KiB is starved part-way through a
  // message, no message could ever complete: `in` may then overdraw the budget until its
  // message is out (one message beyond the limit at a time). True when granted.
  bool grant_overdraft(Inbox& in) {
    if (budget_.overdraft != -1) return false;
    for (const Inbox& other : inboxes_) {
      if (InboxBudget::extra_of(other) != 0 && !other.starved) return false;  // it can go on
    }
    budget_.overdraft = in.fd.get();
    in.starved = false;
    in.ready = true;
    return true;
  }

  // True when some came back.
  bool release_idle_memory() {
    bool released = false;
    for (Inbox& in : inboxes_) {
      if (in.held() != 0 || InboxBudget::extra_of(in) == 0) continue;
      budget_.shrink(in);
      released = true;
    }
    return released;
  }

  // Once memory came back (a message handed out, an inbox gone), starved inboxes try again.
  void feed_starved() {
    if (!budget_.shrunk) return;
    budget_.shrunk = false;
    budget_.starving = false;
    for (Inbox& in : inboxes_) {
      if (!in.starved) continue;
      in.starved = false;
      in.ready = true;
    }
  }

  // Accepts every connection waiting; true when one came.
  bool accept_all() {
    bool any = false;
    // At most kAcceptsPerCall at a time, so that a stream of connections (another user's,
    // refused one by one) cannot keep a receive from its deadline.
    for (int accepted = 0; accepted < kAcceptsPerCall; ++accepted) {
      try {
        if (inboxes_.size() >= max_senders_) {
          // At the cap: the rest wait in the backlog until a sender goes (looked at again
          // when one goes, and every kAcceptRetry, without polling the backlog meanwhile).
          if (!at_cap_reported_) {
            report("the listener of " + url_ + " has " + std::to_string(inboxes_.size()) +
                   " senders, its max_senders: new ones wait in the backlog until one goes");
            at_cap_reported_ = true;
          }
          accept_paused_ = true;
          return any;
        }
        at_cap_reported_ = false;
        std::optional<Socket> s = unix_ ? unix_->accept(Deadline::now()) : tcp_->accept(Deadline::now());
        if (!s) return any;
        if (unix_ && !any_user_ && !of_this_user(*s)) continue;  // closed at once, joins nothing
        Inbox in;
        in.who = describe(*s);
        in.fd = s->release();
        in.fd.set_nonblocking(true);
        inboxes_.push_back(std::move(in));
      } catch (const Error& e) {
        // Out of descriptors or memory: serve the senders we have, and try again when one
        // goes or after a pause (the listening socket is not polled meanwhile: no spinning).
        report("cannot accept another sender on " + url_ + ": " + e.what());
        accept_paused_ = true;
        return any;
      }
      joined_ = true;
      any = true;
    }
    return any;
  }

  // Only this user's processes may send, unless the URL says users=any: an abstract name has
  // no permissions, and root passes a path socket's.
  bool of_this_user(const Socket& s) {
    const PeerCredentials c = s.peer_credentials();
    if (c.uid == ::geteuid()) return true;
    std::uint64_t unsaid = 0;
    if (refusals_.say_now(unsaid)) {
      report("a process of " + sys::user_text(c.uid) + " (pid " + std::to_string(c.pid) + ") connected to " + url_ +
             "; only processes of " + sys::user_text(::geteuid()) +
             " may send there (add ?users=any to the URL to take any user): its connection was closed" +
             unsaid_text(unsaid));
    }
    return false;
  }

  std::string describe(const Socket& s) const {
    if (unix_) {
      PeerCredentials c = s.peer_credentials();
      return "sender pid " + std::to_string(c.pid) + " (uid " + std::to_string(c.uid) + ")";
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(s.fd().get(), reinterpret_cast<sockaddr*>(&addr), &len) == -1) return "a sender";  // NOLINT
    char host[INET6_ADDRSTRLEN] = "?";
    std::uint16_t port = 0;
    if (addr.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);  // NOLINT
      ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      port = ntohs(a->sin_port);
      return "sender " + std::string(host) + ":" + std::to_string(port);
    }
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);  // NOLINT
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "sender [" + std::string(host) + "]:" + std::to_string(port);
  }

  // Polls the listening socket and every idle inbox until something happens or the deadline.
  bool wait(Deadline deadline) {
    reads_since_poll_ = 0;
    bool busy = std::any_of(inboxes_.begin(), inboxes_.end(),
                            [](const Inbox& in) { return in.ready && !in.closed && !in.starved; });
    fds_.clear();
    fds_.push_back({listen_fd().get(), static_cast<short>(accept_paused_ ? 0 : POLLIN), 0});
    // A starved inbox is not watched (fd -1: poll skips it; with no events asked, a hang-up
    // would still be reported and wake every poll): its bytes wait in the kernel until memory
    // comes back. Nor is a closed one.
    for (const Inbox& in : inboxes_)
      fds_.push_back({in.closed || in.starved ? -1 : in.fd.get(), POLLIN, 0});
    Deadline until = busy ? Deadline::now() : deadline;
    if (accept_paused_ && !busy && !deadline.is_now() && deadline.remaining() > kAcceptRetry) {
      until = Deadline::after(kAcceptRetry);
    }
    int rc = poll_for(fds_, detail::until(until), url_);
    if (accept_paused_ && (rc == 0 || until.expired())) {
      accept_paused_ = false;  // try accepting again
      if (accept_all()) return true;
    }
    if (rc == 0) return busy || !(deadline.is_now() || deadline.expired());
    if (fds_[0].revents != 0) accept_all();
    for (std::size_t i = 1; i < fds_.size(); ++i) {
      if (fds_[i].revents != 0) inboxes_[i - 1].ready = true;
    }
    return true;
  }

  void drop(std::size_t index, const std::string& reason) {
    report(reason);
    budget_.forget(inboxes_[index]);
    inboxes_.erase(inboxes_.begin() + static_cast<std::ptrdiff_t>(index));
    accept_paused_ = false;
  }

  void report(const std::string& reason) const {
    if (on_dropped_) on_dropped_(reason);
  }

  bool any_user_;  // unix: ?users=any
  std::size_t max_senders_;
  InboxBudget budget_;
  bool at_cap_reported_ = false;
  RefusalLog refusals_;  // other users' connections, said at most once a second
  std::function<void(const std::string&)> on_dropped_;
  std::optional<UnixListener> unix_;
  std::optional<TcpListener> tcp_;
  std::optional<UnixListener> only_;  // unix paths: keeps a second listener out (listen_unix)
  std::vector<Inbox> inboxes_;
  std::vector<pollfd> fds_;
  std::size_t next_ = 0;
  unsigned reads_since_poll_ = 0;
  bool joined_ = false;
  bool accept_paused_ = false;
};

// The receiving end of fifo://. All senders share one pipe, so there is one inbox. Linux
// reports POLLHUP on a FIFO's read end only once a writer has come and every writer has
// gone, counted from when the read end was opened: so "no sender yet" waits, and after end of
// stream the end is opened afresh to wait for the next senders.
class FifoReceiver final : public Channel::Transport {
 public:
  FifoReceiver(std::string url, const ChannelOptions& options, std::string path, Fd fd, bool created,
               UnixListener only_listener)
      : Transport(std::move(url), options.max_message, true),
        on_dropped_(options.on_sender_dropped),
        path_(std::move(path)),
        created_(created),
        only_listener_(std::move(only_listener)) {
    in_.fd = std::move(fd);
    in_.who = "a sender";
    struct stat st{};
    sys::check(::fstat(in_.fd.get(), &st), "fstat", path_);
    device_ = st.st_dev;
    inode_ = st.st_ino;
  }

  ~FifoReceiver() override {
    if (!created_) return;
    struct stat st{};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_) ::unlink(path_.c_str());
  }

  IoResult send(std::span<const std::byte>, Deadline) override { return {0, IoStatus::peer_closed}; }

  IoResult receive(std::span<std::byte> buffer, Deadline deadline) override {
    for (;;) {
      skip_held();
      std::uint32_t length = 0;
      FrameState state = skip_ != 0 ? FrameState::partial : check_frame(in_, max_message_, length);
      if (state == FrameState::whole) return {take_frame(in_, length, buffer, budget_), IoStatus::ok};
      if (state == FrameState::too_long) {
        report(too_long_reason(in_, length, max_message_, url_) + "; its bytes are skipped as they come");
        skip_ = kHeader + std::uint64_t{length};
        continue;
      }
      if (in_.ready) {
        int error = 0;
        ReadOutcome r = read_into(in_, &error, budget_);  // one inbox: it may always grow
        if (error != 0) sys::fail("read", url_, error);
        if (r == ReadOutcome::data) continue;
        in_.ready = false;  // drained, or no writer (yet, or any more): poll tells which
      }
      pollfd p{in_.fd.get(), POLLIN, 0};
      std::vector<pollfd> fds{p};
      if (poll_for(fds, detail::until(deadline), url_) == 0) return expired(deadline);
      if ((fds[0].revents & POLLIN) != 0) {
        in_.ready = true;
        continue;
      }
      if ((fds[0].revents & (POLLHUP | POLLERR)) != 0) {
        if (every_sender_gone()) return {0, IoStatus::end_of_stream};
        continue;
      }
      sys::fail("poll", url_, EIO, "unexpected poll events " + std::to_string(fds[0].revents));
    }
  }

 private:
  // POLLHUP without data: the senders that came have all gone. Opens the read end afresh (so
  // the next poll waits for new senders) unless one came meanwhile; true for end of stream.
  bool every_sender_gone() {
    Fd fresh = sys::reopen(in_.fd.get(), O_RDONLY | O_NONBLOCK, path_, "opening the FIFO's read end afresh");
    // Checked after the fresh open: a sender that opened before it keeps the old end awake
    // (no POLLHUP) or left data there; either way the old end still tells its story.
    pollfd p{in_.fd.get(), POLLIN, 0};
    std::vector<pollfd> fds{p};
    (void)poll_for(fds, std::chrono::nanoseconds(0), url_);
    if ((fds[0].revents & POLLIN) != 0 || (fds[0].revents & POLLHUP) == 0) {
      in_.ready = true;
      return false;
    }
    if (in_.held() != 0) report(partial_reason(in_, url_, 0));
    in_.begin = in_.end = 0;
    skip_ = 0;
    in_.fd = std::move(fresh);
    in_.ready = true;
    return true;
  }

  // Skips what is held of a frame too long to take (its length is known, so the frame
  // after it starts clean; nothing is allocated for it).
  void skip_held() noexcept {
    if (skip_ == 0) return;
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, in_.held()));
    in_.begin += n;
    skip_ -= n;
    if (in_.begin == in_.end) in_.begin = in_.end = 0;
  }

  void report(const std::string& reason) const {
    if (on_dropped_) on_dropped_(reason);
  }

  std::function<void(const std::string&)> on_dropped_;
  std::string path_;
  bool created_;
  UnixListener only_listener_;  // the abstract socket that keeps a second listener out
  Inbox in_;
  InboxBudget budget_;      // one inbox: it always may grow (to max_message + 4 at most)
  std::uint64_t skip_ = 0;  // bytes still to skip of a frame above max_message
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

// How to get rid of a FIFO a channel refuses (ownership.hpp).
std::string fifo_fix(const std::string& path) {
  return "remove it (`rm " + path + "`, as its owner or root) or pick another path";
}

[[noreturn]] void another_listener(const std::string& url) {
  sys::fail("listen", url, EADDRINUSE,
            "another listener is receiving on " + url + "; a channel has one receiving end");
}

}  // namespace

// --- unix:// ------------------------------------------------------------------------------

TransportPtr listen_unix(const ChannelUrl& url, const ChannelOptions& options) {
  std::string text = url.to_string();
  // Two listeners starting at once on one path could each take the other's socket file for
  // a stale one (bound, not yet listening). An abstract socket named after the path lets only
  // one of them go on.
  std::optional<UnixListener> only;
  if (url.name.front() == '/') {
    std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a: the same in every build
    for (unsigned char c : url.name) hash = (hash ^ c) * 1099511628211ULL;
    char name[40];
    std::snprintf(name, sizeof name, "ipckit/unix/%016llx", static_cast<unsigned long long>(hash));
    try {
      only = UnixListener::bind({.address = UnixAddress::abstract(name)});
    } catch (const Error& e) {
      if (e.errnum() == EADDRINUSE) another_listener(text);
      throw;
    }
  }
  std::optional<UnixListener> listener;
  try {
    listener = UnixListener::bind({.address = UnixAddress::parse(url.name)});
  } catch (const Error& e) {
    if (e.errnum() == EADDRINUSE) another_listener(text);
    throw;
  }
  return std::make_unique<SocketReceiver>(std::move(text), options, std::move(listener), std::nullopt,
                                          std::move(only), url.any_user);
}

TransportPtr connect_unix(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline) {
  std::string text = url.to_string();
  UnixAddress address = UnixAddress::parse(url.name);
  Socket s = connect_with_retry(text, deadline, false, [&] {
    // connect(2) on a file that is no socket says ECONNREFUSED, as if a listener were still to
    // come: say what it is at once instead of waiting for the deadline.
    struct stat st{};
    if (url.name.front() == '/' && ::stat(url.name.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode)) {
      sys::fail("connect", text, ENOTSOCK,
                url.name + " is " + sys::describe_file_type(st.st_mode) +
                    ", not a socket: a unix:// channel's listener makes a socket there; check the path");
    }
    return Socket::connect_unix(address, SocketType::stream, deadline);
  });
  // Whoever bound an abstract name (or a path in a shared folder) first is the listener: hand
  // messages only to one of this user, unless the URL says users=any.
  if (const PeerCredentials listener = s.peer_credentials(); !url.any_user && listener.uid != ::geteuid()) {
    sys::fail("Channel::connect", text, EACCES,
              "the listener of " + text + " is " + sys::user_text(listener.uid) + " (pid " +
                  std::to_string(listener.pid) + "), not this process's user (" + sys::user_text(::geteuid()) +
                  "): refusing to send there; add ?users=any to the URL if that listener is meant");
  }
  Fd fd = s.release();
  fd.set_nonblocking(true);
  return std::make_unique<SocketSender>(std::move(text), options.max_message, std::move(fd));
}

// --- tcp:// -------------------------------------------------------------------------------

TransportPtr listen_tcp(const ChannelUrl& url, const ChannelOptions& options) {
  TcpListener listener = TcpListener::bind({.host = url.host, .port = url.port});
  ChannelUrl bound = url;
  bound.port = listener.port();
  return std::make_unique<SocketReceiver>(bound.to_string(), options, std::nullopt, std::move(listener));
}

TransportPtr connect_tcp(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline) {
  std::string text = url.to_string();
  Socket s = connect_with_retry(text, deadline, false, [&] { return Socket::connect_tcp(url.host, url.port, deadline); });
  Fd fd = s.release();
  fd.set_nonblocking(true);
  return std::make_unique<SocketSender>(std::move(text), options.max_message, std::move(fd));
}

// --- fifo:// ------------------------------------------------------------------------------

TransportPtr listen_fifo(const ChannelUrl& url, const ChannelOptions& options) {
  std::string text = url.to_string();
  bool created = true;
  try {
    create_fifo({.path = url.name, .mode = 0600, .exclusive = true});
  } catch (const Error& e) {
    if (e.errnum() != EEXIST) throw;
    create_fifo({.path = url.name, .mode = 0600, .exclusive = false});  // a FIFO, or an Error
    created = false;
  }
  try {
    Fd fd = open_fifo_reader(url.name, Deadline::now());
    if (!created) require_private_fd(fd.get(), "Channel::listen", url.name, "the FIFO", text, fifo_fix(url.name));
    struct stat st{};
    sys::check(::fstat(fd.get(), &st), "fstat", url.name);
    // One receiving end per FIFO: an abstract socket named after the FIFO's inode says so.
    std::optional<UnixListener> only;
    try {
      only = UnixListener::bind({.address = UnixAddress::abstract("ipckit/fifo/" + std::to_string(st.st_dev) + ":" +
                                                                 std::to_string(st.st_ino))});
    } catch (const Error& e) {
      if (e.errnum() == EADDRINUSE) another_listener(text);
      throw;
    }
    return std::make_unique<FifoReceiver>(std::move(text), options, url.name, std::move(fd), created,
                                          std::move(*only));
  } catch (const Error& e) {
    // Not when another listener won: it may have opened the FIFO this call made.
    if (created && e.errnum() != EADDRINUSE) (void)remove_fifo(url.name);
    throw;
  }
}

TransportPtr connect_fifo(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline) {
  std::string text = url.to_string();
  Fd fd = connect_with_retry(text, deadline, true, [&] { return open_fifo_writer(url.name, deadline); });
  require_private_fd(fd.get(), "Channel::connect", url.name, "the FIFO", text, fifo_fix(url.name));
  fd.set_nonblocking(true);
  auto sender = std::make_unique<FifoSender>(std::move(text), options.max_message, std::move(fd));
  sender->take_shared_lock_if_free();
  return sender;
}

}  // namespace ipckit::detail
