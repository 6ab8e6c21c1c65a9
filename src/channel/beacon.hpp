#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"
#include "ownership.hpp"
#include "url.hpp"
#include "wait.hpp"

// Private: the liveness socket ("beacon") of the datagram channels, mq:// and sysv-msg://.
// A queue tells nobody who uses it, so beside each queue the listener binds a listening
// abstract Unix stream socket, "@ipckit/mq/NAME" or "@ipckit/sysv-msg/0xKEY", and each sender
// holds a connection to it. No byte ever flows over it: the kernel closes a connection when
// its process closes it or dies (even by SIGKILL), so each side learns from a hang-up that
// the other has gone. Binding the name is also what keeps a second listener out (EADDRINUSE).
//
// An abstract name has no permissions, so each side checks the other's user (SO_PEERCRED):
// the listener closes at once a connection from a process of another user (it neither joins
// nor keeps the stream from ending, and costs no descriptor), and a sender refuses a listener
// of another user. Out of descriptors (EMFILE), the listener pauses accepting for a while
// and serves the senders it has; the channel goes on.
//
//   BeaconListener b = BeaconListener::bind(url);  // claims the name; nobody can connect yet
//   ... create the queue ...
//   b.listen();                                    // senders' connects succeed from now on
//   b.refresh();                                   // accept who came, reap who went
//   if (b.all_senders_gone()) ...                  // end of stream, once the queue is empty
//
//   std::optional<BeaconLink> link = BeaconLink::try_connect(url);  // nothing: no listener yet
//   if (link->listener_gone()) ...                                  // peer closed

namespace ipckit::detail {

/// A sockaddr for an abstract Unix socket name (given without its leading NUL; at most 107
/// bytes, which the caller checks), ready for bind, connect or sendto.
struct AbstractAddress {
  sockaddr_un addr{};
  socklen_t length = 0;
};
[[nodiscard]] AbstractAddress abstract_address(const std::string& name) noexcept;

/// The abstract socket name (without its leading NUL) of the channel at `url`:
/// "ipckit/mq/orders", "ipckit/sysv-msg/0x0000162e". Throws Error when it does not fit a
/// Unix socket address (a queue name above 97 characters), naming `step` and the URL.
[[nodiscard]] std::string beacon_name(const ChannelUrl& url, std::string_view step);

/// The listener's side: the listening socket and one connection per sender that joined.
/// Move-only.
class BeaconListener {
 public:
  /// socket + bind of the channel's abstract name, not yet listening (a sender's connect is
  /// refused until listen()). `report` (may be empty) hears of connections refused (another
  /// user) and of accepting paused (out of descriptors). Throws Error: EADDRINUSE as
  /// "another listener is receiving on URL", the socket's own errors.
  [[nodiscard]] static BeaconListener bind(const ChannelUrl& url,
                                           std::function<void(const std::string&)> report = {});
  /// listen(2): from now on senders can connect. Throws Error.
  void listen();

  /// Accepts every pending connection and closes every connection whose sender has gone
  /// (hang-up or end of stream; a byte a foreign peer wrote is read and dropped). Never
  /// blocks. Throws Error only for what is not a passing shortage (descriptors or memory
  /// pause accepting instead).
  void refresh();
  /// Accepts what is pending (of this user; others' connections are closed); true when at
  /// least one new sender joined. Never blocks.
  bool accept_pending();
  /// True while accepting is paused (out of descriptors) and a connection waits in the
  /// backlog: a sender may have joined, so this is not the end of the stream.
  [[nodiscard]] bool someone_waiting();
  /// `deadline`, or sooner while accepting is paused: when the next accept should be tried.
  [[nodiscard]] Deadline wake_by(Deadline deadline) const;
  /// True when a sender has joined since the last start_over() and every one has gone.
  [[nodiscard]] bool all_senders_gone() const noexcept { return joined_ && senders_.empty(); }
  /// After an end of stream: the next one needs new senders to join first.
  void start_over() noexcept { joined_ = false; }

  /// The descriptors to wait on: `extra` first (the queue's own descriptor, or fd -1, which
  /// poll(2) skips), then the listening socket for POLLIN and each sender for a hang-up. Any
  /// event calls for a refresh(). Valid until the next call of a non-const member.
  [[nodiscard]] std::span<pollfd> poll_set(pollfd extra = pollfd{-1, 0, 0});

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  BeaconListener(Fd fd, std::string name, std::string url,
                 std::function<void(const std::string&)> report) noexcept
      : fd_(std::move(fd)), name_(std::move(name)), url_(std::move(url)), report_(std::move(report)) {}
  void reap();
  bool from_this_user(int fd);
  void pause_accepting(int err);

  Fd fd_;
  std::string name_;  ///< "@ipckit/mq/orders", for messages
  std::string url_;
  std::function<void(const std::string&)> report_;
  RefusalLog refusals_;  ///< another user's connections, said at most once a second
  RefusalLog pauses_;    ///< accepting paused for lack of descriptors, said at most once a second
  std::vector<Fd> senders_;
  std::vector<pollfd> poll_set_;  ///< kept between calls, so waiting does not allocate
  bool joined_ = false;
  /// While set, accept4 is not tried before this time (it failed for lack of descriptors).
  std::optional<std::chrono::steady_clock::time_point> paused_until_;
};

/// A sender's connection to the listener's beacon. Move-only.
class BeaconLink {
 public:
  /// One non-blocking connect to the channel's beacon. Nothing when no listener is there
  /// (ENOENT, ECONNREFUSED: none bound, or one not listening yet) or its backlog is full
  /// (EAGAIN); the caller backs off and tries again. Throws Error on anything else, and
  /// EACCES when the listener runs as another user (SO_PEERCRED).
  [[nodiscard]] static std::optional<BeaconLink> try_connect(const ChannelUrl& url);

  /// One poll(2) with a zero timeout: true once the listener has gone (and from then on).
  [[nodiscard]] bool listener_gone();
  /// What the last look found, without looking again (no syscall).
  [[nodiscard]] bool known_gone() const noexcept { return gone_; }
  /// Reads what poll said about fd() (revents): true when the listener has gone.
  [[nodiscard]] bool gone_by(short revents);
  /// The events to poll fd() for.
  static constexpr short kEvents = POLLIN | POLLRDHUP;
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }

 private:
  explicit BeaconLink(Fd fd) noexcept : fd_(std::move(fd)) {}
  Fd fd_;
  bool gone_ = false;
};

}  // namespace ipckit::detail
