// mq:// and sysv-msg:// transports: one message per datagram, the payload alone (no header).
// Data goes at POSIX priority 0 and System V type 1; a foreign program that sends there is
// heard as a sender of data (a POSIX queue cannot be read by priority, so on mq:// a message
// of any priority is data).
//
// Who is there. A queue does not tell who uses it, so each channel has a liveness socket
// (beacon.hpp): the listener binds "@ipckit/mq/NAME" or "@ipckit/sysv-msg/0xKEY" (a second
// listener gets EADDRINUSE), and each sender connects to it before it opens the queue. The
// listener learns from the hang-ups that its senders have gone (end of stream), the senders
// from theirs that the listener has (peer closed): the kernel closes both on exit, SIGKILL
// included.
//
// Order of set-up and tear-down, so that neither side sees half a channel:
//   listen:  bind the beacon (claims the channel) → create or open the queue → listen(2).
//            A sender's connect is refused until the queue exists.
//   connect: connect to the beacon → open the queue (no create).
//   ~listener: remove the queue if listen() created it → close the beacon. A new listener
//            can only bind after that, so it never adopts a queue about to be removed.
//
// End of stream without losing a message: a sender's last message is in the queue before its
// close of the beacon, so the listener reaps hang-ups first and tries the queue after; and a
// sender connects before it sends, so a connection still waiting to be accepted means "not
// the end". See DatagramListener::receive.
//
// Costs, by transport:
//   mq:// waits in poll(2) on the queue's descriptor beside the beacon: no polling, no delay.
//     A send makes one extra syscall, a zero-timeout poll of the beacon: the listener
//     unlinks the queue when it closes, but a descriptor already open still accepts
//     messages, so only the beacon can tell a sender that nobody will read them. Nothing
//     cheaper tells that exactly (the listener's hang-up reaches the sender through no other
//     channel than a syscall of the sender's).
//   sysv-msg:// queues cannot be polled: a wait tries msgrcv/msgsnd with IPC_NOWAIT between
//     polls of the beacon whose timeouts grow from 50 µs to 5 ms (never past the deadline).
//     So an idle wait costs up to ~200 wake-ups a second, and a message that comes after a
//     long wait is seen up to 5 ms late. A send checks the beacon only when the queue is full
//     and at most once a millisecond otherwise: a queue that listen() created is removed
//     when the listener closes (msgsnd then fails: peer closed at once); a queue that was
//     there before, or one a killed listener left, is found orphaned within a millisecond.
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/ipc.h>
#include <sys/msg.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../mqueue_mount.hpp"
#include "../sys.hpp"
#include "../sysv_common.hpp"
#include "beacon.hpp"
#include "ipckit/error.hpp"
#include "ipckit/mqueue.hpp"
#include "ipckit/sysv.hpp"
#include "ownership.hpp"
#include "transport.hpp"
#include "undo.hpp"

namespace ipckit::detail {
namespace {

using namespace std::chrono_literals;

constexpr unsigned kMqPriority = 0;  // data on mq://
constexpr long kSysvType = 1;        // data on sysv-msg://

// A queue that listen() creates holds this many messages (or msg_max, when lower).
constexpr long kMqMessages = 10;
constexpr const char* kMqMsgMaxPath = "/proc/sys/fs/mqueue/msg_max";
constexpr const char* kMqMsgsizeMaxPath = "/proc/sys/fs/mqueue/msgsize_max";
constexpr const char* kSysvMsgmaxPath = "/proc/sys/kernel/msgmax";
// The kernel defaults, when /proc cannot be read.
constexpr unsigned long long kDefaultMqMsgMax = 10;
constexpr unsigned long long kDefaultMqMsgsizeMax = 8192;
constexpr unsigned long long kDefaultSysvMsgmax = 8192;

// A listener that keeps finding messages would never look at the beacon: every so many
// messages it accepts new senders (their connects must not wait on a full backlog) and
// closes the connections of those gone (their descriptors must not pile up).
constexpr unsigned kRefreshEvery = 64;

// System V queues cannot be polled: the sleeps between tries.
constexpr Backoff kSysvBackoff{50us, 5ms};
// A System V sender looks at the beacon at least this often (and whenever the queue is full).
constexpr std::chrono::steady_clock::duration kSysvBeaconPeriod = 1ms;


// Runs `f`; an Error from a mechanism's class gets the channel named in its hint.
template <class F>
auto for_channel(const std::string& url, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    const std::string hint = e.hint().empty() ? std::string{} : e.hint() + "; ";
    throw Error{e.syscall(), e.object(), e.errnum(), hint + "this is the queue of channel " + url};
  }
}

[[noreturn]] void no_listener(const ChannelUrl& url, const std::string& problem) {
  const std::string u = url.to_string();
  sys::fail("Channel::connect", u, ETIMEDOUT,
            "no listener is there: " + problem +
                " before the deadline; start the receiving end first (Channel::listen(\"" + u +
                "\"), or `ipckit recv " + u + "`)");
}

// Connects to the beacon and opens the queue with `open` (which returns nothing when the queue
// is not there), retrying with a back-off until the deadline.
template <class Queue, class Open>
std::pair<BeaconLink, Queue> join(const ChannelUrl& url, Deadline deadline, Open&& open) {
  const std::string beacon = "@" + beacon_name(url, "Channel::connect");
  std::string problem = "nothing listened on its liveness socket " + beacon;
  Backoff backoff = kConnectBackoff;
  for (;;) {
    if (std::optional<BeaconLink> link = BeaconLink::try_connect(url)) {
      if (std::optional<Queue> queue = open()) return {std::move(*link), std::move(*queue)};
      // The listener is between removing its queue and closing its beacon (it is going), or
      // someone removed the queue under it.
      problem = "its liveness socket " + beacon +
                " answered but the queue did not exist (the listener was closing, or the queue "
                "was removed under it)";
    }
    if (deadline.expired()) no_listener(url, problem);
    (void)poll_for({}, backoff.step(deadline), beacon);
  }
}

// --- The listening end, whatever the queue ---------------------------------------------

class DatagramListener : public Channel::Transport {
 public:
  DatagramListener(std::string url, std::size_t max_message, BeaconListener beacon, std::size_t stale)
      : Transport(std::move(url), max_message, true), beacon_(std::move(beacon)), stale_(stale) {}

  [[nodiscard]] std::size_t stale_messages() const noexcept override { return stale_; }

  IoResult send(std::span<const std::byte>, Deadline) override {
    sys::fail("Channel::send", url_, EBADF, "this end was made by listen() and receives");
  }

  IoResult receive(std::span<std::byte> buffer, Deadline deadline) override {
    Backoff backoff = kSysvBackoff;
    for (;;) {
      // The hot path: a message is there (one syscall).
      if (taken_since_refresh_ < kRefreshEvery) {
        if (auto n = take(buffer)) {
          ++taken_since_refresh_;
          return {*n, IoStatus::ok};
        }
      }
      // Hang-ups first, the queue after: a sender's last message is in the queue before its
      // close, so once its hang-up is seen, an empty queue holds nothing more of it.
      taken_since_refresh_ = 0;
      beacon_.refresh();
      if (auto n = take(buffer)) {
        ++taken_since_refresh_;
        return {*n, IoStatus::ok};
      }
      if (beacon_.all_senders_gone()) {
        // A sender connects before it sends: one still waiting to be accepted may have sent
        // since the queue was found empty. Only when none is waiting is this the end.
        // (When accepting is paused for lack of descriptors, one waiting in the backlog
        // counts as joined: it is accepted once descriptors come free.)
        if (beacon_.accept_pending()) continue;
        if (!beacon_.someone_waiting()) {
          beacon_.start_over();
          return {0, IoStatus::end_of_stream};
        }
      }
      if (deadline.expired()) return expired(deadline);
      wait(deadline, backoff);
    }
  }

 protected:
  /// One message into `buffer` without waiting; nothing when the queue is empty.
  virtual std::optional<std::size_t> take(std::span<std::byte> buffer) = 0;
  /// Waits until a message may be there or the beacon has news, or the deadline (at most).
  virtual void wait(Deadline deadline, Backoff& backoff) = 0;

  BeaconListener beacon_;

 private:
  std::size_t stale_;
  unsigned taken_since_refresh_ = 0;
};

// --- mq:// ------------------------------------------------------------------------------

class MqListener final : public DatagramListener {
 public:
  MqListener(std::string url, std::size_t max_message, BeaconListener beacon, MessageQueue queue,
             bool created, std::size_t stale)
      : DatagramListener(std::move(url), max_message, std::move(beacon), stale),
        queue_(std::move(queue)),
        created_(created) {}
  MqListener(const MqListener&) = delete;
  MqListener& operator=(const MqListener&) = delete;

  // The queue goes first, the beacon (a member) after: see the file's banner.
  ~MqListener() override {
    if (!created_) return;
    try {
      (void)MessageQueue::remove(queue_.name());
    } catch (const std::exception&) {  // a destructor must not throw; the name stays
    }
  }

 protected:
  std::optional<std::size_t> take(std::span<std::byte> buffer) override {
    // The buffer holds max_message() = the queue's msgsize (Channel checked): never EMSGSIZE.
    const MqReceived r = queue_.receive(buffer, Deadline::now());
    if (r.ok()) return r.bytes;
    return std::nullopt;
  }

  void wait(Deadline deadline, Backoff&) override {
    const auto fds = beacon_.poll_set(pollfd{queue_.fd().get(), POLLIN, 0});
    (void)poll_for(fds, until(beacon_.wake_by(deadline)), url_);
  }

 private:
  MessageQueue queue_;
  bool created_;
};

class MqSender final : public Channel::Transport {
 public:
  MqSender(std::string url, std::size_t max_message, BeaconLink beacon, Fd queue, std::string name)
      : Transport(std::move(url), max_message, false),
        beacon_(std::move(beacon)),
        queue_(std::move(queue)),
        name_(std::move(name)) {}

  IoResult send(std::span<const std::byte> message, Deadline deadline) override {
    // One zero-timeout poll per message: a queue the listener unlinked still takes messages
    // from a descriptor opened before, so only the beacon tells that nobody will read them.
    if (beacon_.listener_gone()) return {0, IoStatus::peer_closed};
    // An empty message is a message; mq_send's pointer must still not be null.
    const char* data = message.empty() ? "" : reinterpret_cast<const char*>(message.data());
    for (;;) {
      // The descriptor is O_NONBLOCK: a full queue says EAGAIN.
      if (::mq_send(queue_.get(), data, message.size(), kMqPriority) == 0)
        return {0, IoStatus::ok};
      const int err = errno;
      if (err == EINTR) continue;
      if (err != EAGAIN) {
        sys::fail("mq_send", name_, err,
                  err == EMSGSIZE ? "the queue's message size changed under the channel " + url_
                                  : "sending on channel " + url_);
      }
      if (deadline.expired()) return expired(deadline);
      pollfd fds[2] = {{queue_.get(), POLLOUT, 0}, {beacon_.fd(), BeaconLink::kEvents, 0}};
      (void)poll_for(fds, until(deadline), url_);
      if (beacon_.gone_by(fds[1].revents)) return {0, IoStatus::peer_closed};
    }
  }

  IoResult receive(std::span<std::byte>, Deadline) override {
    sys::fail("Channel::receive", url_, EBADF, "this end was made by connect() and sends");
  }

 private:
  BeaconLink beacon_;
  Fd queue_;
  std::string name_;
};

// mq_open(name, O_WRONLY | O_NONBLOCK): nothing when there is no such queue.
std::optional<Fd> open_mq_for_sending(const std::string& name, const std::string& url) {
  for (;;) {
    const mqd_t q = ::mq_open(name.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (q != static_cast<mqd_t>(-1)) return Fd{q};
    const int err = errno;
    if (err == EINTR) continue;
    if (err == ENOENT) return std::nullopt;
    std::string hint;
    if (err == EACCES) {
      const auto mount = try_mqueue_mount_point();
      hint = !mount ? std::string("sending needs write permission on the queue")
             : mount->empty()
                 ? "sending needs write permission on the queue; its owner and mode can be read "
                   "only through the mqueue filesystem, which is not mounted (as root: `" +
                       std::string(kMqueueMountCommand) + "`)"
                 : "sending needs write permission on the queue; " +
                       sys::owner_and_mode(*mount + name, "the queue");
    } else if (err == EMFILE || err == ENFILE) {
      hint = sys::descriptor_limit_hint(err);
    }
    if (!hint.empty()) hint += "; ";
    hint += "this is the queue of channel " + url;
    sys::fail("mq_open", name, err, hint);
  }
}

// How to get rid of a queue a channel refuses (ownership.hpp).
std::string mq_fix(const std::string& name) {
  return "remove it (`ipckit rm --mq " + name + "`, as its owner or root) or pick another name";
}
std::string sysv_fix(key_t key) {
  return "remove it (`ipckit rm -Q " + sysv::Key::from_value(key).to_string() +
         "`, as its owner or root) or pick another key";
}

void require_private_sysv(const sysv::MessageQueue& queue, key_t key, std::string_view step,
                          const std::string& url) {
  // IPC_STAT needs read permission, as receiving does: a queue this process may not read
  // fails here, with its owner and mode.
  const sysv::MsgStat st = for_channel(url, [&] { return queue.stat(); });
  require_private(step, "msqid " + std::to_string(queue.id()), "the queue",
                  {st.uid, st.cuid, st.mode & 0777U}, url, sysv_fix(key));
}

// ChannelOptions::drop_stale: empties an adopted queue without waiting; how many went.
std::size_t drop_mq_messages(const MessageQueue& queue, std::size_t message_size) {
  std::vector<std::byte> scratch(message_size);
  std::size_t dropped = 0;
  while (queue.receive(scratch, Deadline::now()).ok()) ++dropped;
  return dropped;
}

std::size_t drop_sysv_messages(const sysv::MessageQueue& queue) {
  // Any type, truncated: none of them is for this listener.
  long scratch[2] = {};
  std::size_t dropped = 0;
  for (;;) {
    const ssize_t n = ::msgrcv(queue.id(), scratch, sizeof(long), 0, IPC_NOWAIT | MSG_NOERROR);
    if (n >= 0) {
      ++dropped;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == ENOMSG) return dropped;
    sys::fail("msgrcv", "msqid " + std::to_string(queue.id()), errno, "dropping the messages from before");
  }
}

unsigned long long proc_value(const char* path, unsigned long long fallback) {
  return sys::try_read_ull_file(path).value_or(fallback);
}

// --- sysv-msg:// ------------------------------------------------------------------------

// msgsnd and msgrcv take { long mtype; char mtext[]; }: a buffer of longs (mtype aligned),
// sized once for max_message, so the hot path neither allocates nor shares it.
class SysvBuffer {
 public:
  explicit SysvBuffer(std::size_t text_bytes)
      : longs_(1 + (text_bytes + sizeof(long) - 1) / sizeof(long)) {}
  [[nodiscard]] void* get() noexcept { return longs_.data(); }
  [[nodiscard]] long& type() noexcept { return longs_[0]; }
  [[nodiscard]] std::byte* text() noexcept {
    return reinterpret_cast<std::byte*>(longs_.data() + 1);
  }

 private:
  std::vector<long> longs_;
};

// The longest message for a System V channel: max_message, msgmax, and what the queue may
// hold at all (msg_qbytes, when it can be read), whichever is least.
std::size_t sysv_max_message(const ChannelOptions& options, int id) {
  std::size_t max = std::min<std::size_t>(
      options.max_message,
      static_cast<std::size_t>(proc_value(kSysvMsgmaxPath, kDefaultSysvMsgmax)));
  struct msqid_ds ds {};
  if (::msgctl(id, IPC_STAT, &ds) == 0 && ds.msg_qbytes > 0)
    max = std::min<std::size_t>(max, static_cast<std::size_t>(ds.msg_qbytes));
  return max;
}

class SysvListener final : public DatagramListener {
 public:
  SysvListener(std::string url, std::size_t max_message, BeaconListener beacon,
               sysv::MessageQueue queue, bool created, std::size_t stale,
               std::function<void(const std::string&)> on_dropped)
      : DatagramListener(std::move(url), max_message, std::move(beacon), stale),
        queue_(queue),
        created_(created),
        on_dropped_(std::move(on_dropped)),
        buffer_(max_message) {}

  // The queue goes first, the beacon (a member) after: see the file's banner.
  ~SysvListener() override {
    if (!created_) return;
    try {
      queue_.remove();
    } catch (const std::exception&) {  // a destructor must not throw
    }
  }

 protected:
  std::optional<std::size_t> take(std::span<std::byte> buffer) override {
    for (;;) {
      const ssize_t n = ::msgrcv(queue_.id(), buffer_.get(), max_message_, kSysvType, IPC_NOWAIT);
      if (n >= 0) {
        const auto bytes = static_cast<std::size_t>(n);
        if (bytes > 0) std::memcpy(buffer.data(), buffer_.text(), bytes);
        return bytes;
      }
      const int err = errno;
      if (err == ENOMSG) return std::nullopt;
      if (err == EINTR) continue;
      if (err == E2BIG) {
        drop_long_message();
        continue;
      }
      const std::string hint =
          err == EIDRM || err == EINVAL
              ? "the queue was removed (IPC_RMID) while the listener of " + url_ +
                    " used it; its messages are gone: listen again"
          : err == EACCES ? sysv::internal::access_hint(sysv::internal::Kind::msg, queue_.id(),
                                                        "receiving needs read permission") +
                                "; the queue's mode was changed under the listener of " + url_
                          : "receiving on channel " + url_;
      sys::fail("msgrcv", "msqid " + std::to_string(queue_.id()), err, hint);
    }
  }

  void wait(Deadline deadline, Backoff& backoff) override {
    // No descriptor to poll for a System V queue: sleep in poll of the beacon (which wakes us
    // for senders that come or go) for the next step of the back-off.
    (void)poll_for(beacon_.poll_set(), backoff.step(deadline), url_);
  }

 private:
  // A message of type 1 longer than max_message (a foreign sender, or one with a larger
  // max_message): msgrcv refuses it and leaves it first in line, which would stop the
  // channel. It is taken truncated, dropped and reported, as a stream drops a sender whose
  // frame is too long.
  void drop_long_message() {
    const ssize_t n = sys::retry_eintr([&] {
      return ::msgrcv(queue_.id(), buffer_.get(), max_message_, kSysvType,
                      IPC_NOWAIT | MSG_NOERROR);
    });
    if (n == -1 || !on_dropped_) return;  // gone meanwhile; the next take says why
    on_dropped_("a message longer than max_message (" + std::to_string(max_message_) +
                " bytes) came on " + url_ + "; it was dropped");
  }

  sysv::MessageQueue queue_;
  bool created_;
  std::function<void(const std::string&)> on_dropped_;
  SysvBuffer buffer_;
};

class SysvSender final : public Channel::Transport {
 public:
  SysvSender(std::string url, std::size_t max_message, BeaconLink beacon, sysv::MessageQueue queue)
      : Transport(std::move(url), max_message, false),
        beacon_(std::move(beacon)),
        queue_(queue),
        buffer_(max_message) {}

  IoResult send(std::span<const std::byte> message, Deadline deadline) override {
    // The beacon, at most once a millisecond while the queue has room (see the banner).
    if (beacon_.known_gone()) return {0, IoStatus::peer_closed};
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_beacon_check_) {
      next_beacon_check_ = now + kSysvBeaconPeriod;
      if (beacon_.listener_gone()) return {0, IoStatus::peer_closed};
    }
    buffer_.type() = kSysvType;
    if (!message.empty()) std::memcpy(buffer_.text(), message.data(), message.size());
    Backoff backoff = kSysvBackoff;
    for (;;) {
      if (::msgsnd(queue_.id(), buffer_.get(), message.size(), IPC_NOWAIT) == 0)
        return {0, IoStatus::ok};
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EIDRM) return {0, IoStatus::peer_closed};
      if (err == EINVAL) {
        // The queue is gone (the listener removed it as it closed)... or msgmax was lowered.
        struct msqid_ds ds {};
        if (::msgctl(queue_.id(), IPC_STAT, &ds) == -1 && (errno == EINVAL || errno == EIDRM))
          return {0, IoStatus::peer_closed};
        sys::fail("msgsnd", "msqid " + std::to_string(queue_.id()), err,
                  "the message has " + std::to_string(message.size()) + " bytes; " +
                      kSysvMsgmaxPath + " was lowered below it after the channel " + url_ +
                      " was made");
      }
      if (err != EAGAIN) {
        sys::fail("msgsnd", "msqid " + std::to_string(queue_.id()), err,
                  (err == EACCES ? sysv::internal::access_hint(sysv::internal::Kind::msg, queue_.id(),
                                                               "sending needs write permission") +
                                       "; "
                                 : std::string{}) +
                      "sending on channel " + url_);
      }
      // Full: a listener that has gone will never make room.
      if (beacon_.listener_gone()) return {0, IoStatus::peer_closed};
      if (deadline.expired()) return expired(deadline);
      pollfd beacon{beacon_.fd(), BeaconLink::kEvents, 0};
      (void)poll_for(std::span{&beacon, 1}, backoff.step(deadline), url_);
      if (beacon_.gone_by(beacon.revents)) return {0, IoStatus::peer_closed};
    }
  }

  IoResult receive(std::span<std::byte>, Deadline) override {
    sys::fail("Channel::receive", url_, EBADF, "this end was made by connect() and sends");
  }

 private:
  BeaconLink beacon_;
  sysv::MessageQueue queue_;
  SysvBuffer buffer_;
  std::chrono::steady_clock::time_point next_beacon_check_{};
};

}  // namespace

TransportPtr listen_mq(const ChannelUrl& url, const ChannelOptions& options) {
  const std::string u = url.to_string();
  BeaconListener beacon = BeaconListener::bind(url, options.on_sender_dropped);
  const long messages = static_cast<long>(
      std::min<unsigned long long>(kMqMessages, proc_value(kMqMsgMaxPath, kDefaultMqMsgMax)));
  const long size = static_cast<long>(std::min<unsigned long long>(
      options.max_message, proc_value(kMqMsgsizeMaxPath, kDefaultMqMsgsizeMax)));
  std::optional<MessageQueue> queue;
  bool created = false;
  for_channel(u, [&] {
    // Create, else open what is there; a queue removed between the two: try again.
    for (int attempt = 0; !queue; ++attempt) {
      try {
        queue = MessageQueue::create({.name = url.name,
                                      .max_messages = messages,
                                      .message_size = size,
                                      .mode = 0600,
                                      .exclusive = true,
                                      .access = Access::read_only});
        created = true;
      } catch (const Error& e) {
        if (e.errnum() != EEXIST) throw;
        try {
          queue = MessageQueue::open(url.name, Access::read_only);
        } catch (const Error& missing) {
          if (missing.errnum() != ENOENT || attempt >= 3) throw;
        }
      }
    }
  });
  UndoUnlessDone undo([&] {
    if (created) (void)MessageQueue::remove(url.name);
  });
  if (!created) {
    require_private_fd(queue->fd().get(), "Channel::listen", url.name, "the queue", u,
                       mq_fix(url.name));
  }
  // A queue that was there keeps its own msgsize: the channel carries that (a receive buffer
  // must hold it, whatever options.max_message said).
  const MqAttributes attributes = for_channel(u, [&] { return queue->attributes(); });
  const auto max = static_cast<std::size_t>(attributes.message_size);
  // No sender of ours can have joined yet (the beacon is not listening): what the queue holds
  // is from before.
  std::size_t stale = created ? 0 : static_cast<std::size_t>(attributes.current_messages);
  if (stale != 0 && options.drop_stale) stale = drop_mq_messages(*queue, max);
  beacon.listen();
  auto transport =
      std::make_unique<MqListener>(u, max, std::move(beacon), std::move(*queue), created, stale);
  undo.done();
  return transport;
}

TransportPtr connect_mq(const ChannelUrl& url, const ChannelOptions&, Deadline deadline) {
  const std::string u = url.to_string();
  auto [link, queue] = join<Fd>(url, deadline, [&] { return open_mq_for_sending(url.name, u); });
  require_private_fd(queue.get(), "Channel::connect", url.name, "the queue", u, mq_fix(url.name));
  mq_attr attr{};
  sys::check(::mq_getattr(queue.get(), &attr), "mq_getattr", url.name,
             "this is the queue of channel " + u);
  return std::make_unique<MqSender>(u, static_cast<std::size_t>(attr.mq_msgsize), std::move(link),
                                    std::move(queue), url.name);
}

TransportPtr listen_sysv_msg(const ChannelUrl& url, const ChannelOptions& options) {
  const std::string u = url.to_string();
  BeaconListener beacon = BeaconListener::bind(url, options.on_sender_dropped);
  const sysv::Key key = sysv::Key::from_value(url.key);
  std::optional<sysv::MessageQueue> queue;
  bool created = false;
  for_channel(u, [&] {
    for (int attempt = 0; !queue; ++attempt) {
      try {
        queue = sysv::MessageQueue::create({.key = key, .mode = 0600, .exclusive = true});
        created = true;
      } catch (const Error& e) {
        if (e.errnum() != EEXIST) throw;
        try {
          queue = sysv::MessageQueue::open(key);
        } catch (const Error& missing) {
          if (missing.errnum() != ENOENT || attempt >= 3) throw;
        }
      }
    }
  });
  UndoUnlessDone undo([&] {
    if (created) queue->remove();
  });
  require_private_sysv(*queue, url.key, "Channel::listen", u);
  const std::size_t max = sysv_max_message(options, queue->id());
  std::size_t stale = created ? 0 : for_channel(u, [&] { return queue->stat(); }).messages;
  if (stale != 0 && options.drop_stale) stale = drop_sysv_messages(*queue);
  beacon.listen();
  auto transport = std::make_unique<SysvListener>(u, max, std::move(beacon), *queue, created,
                                                  stale, options.on_sender_dropped);
  undo.done();
  return transport;
}

TransportPtr connect_sysv_msg(const ChannelUrl& url, const ChannelOptions& options,
                              Deadline deadline) {
  const std::string u = url.to_string();
  const sysv::Key key = sysv::Key::from_value(url.key);
  auto [link, queue] =
      join<sysv::MessageQueue>(url, deadline, [&]() -> std::optional<sysv::MessageQueue> {
        return for_channel(u, [&]() -> std::optional<sysv::MessageQueue> {
          try {
            return sysv::MessageQueue::open(key);
          } catch (const Error& e) {
            if (e.errnum() == ENOENT) return std::nullopt;
            throw;
          }
        });
      });
  require_private_sysv(queue, url.key, "Channel::connect", u);
  return std::make_unique<SysvSender>(u, sysv_max_message(options, queue.id()), std::move(link),
                                      queue);
}

}  // namespace ipckit::detail
