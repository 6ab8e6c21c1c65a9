#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"

// A channel (floor 3) carries whole messages one way, in order, nothing lost or duplicated,
// over any kernel transport, chosen by URL (docs/architecture.md, "The channel contract"):
//
//   fifo:///ABS/PATH   unix:///ABS/PATH   unix://@NAME   tcp://HOST:PORT
//   mq:///NAME         sysv-msg://0xKEY   shm://NAME?capacity=BYTES   shm://@NAME (memfd)
//
// On byte streams (fifo, unix, tcp) each message is a 4-byte little-endian length and then
// that many bytes; a length above max_message is a protocol error that closes that one
// connection. Datagram transports (mq, sysv-msg) carry one message per datagram.
//
// Senders and end of stream. A listener merges every sender: unix and tcp accept each
// connection; fifo senders share the pipe; mq and sysv-msg senders share the queue and each
// also holds a connection to the listener's liveness socket (the abstract Unix socket
// "@ipckit/mq/NAME" or "@ipckit/sysv-msg/0xKEY"), which is how the listener learns that they
// have gone, and they that it has (only processes of the listener's user may connect
// there: SO_PEERCRED). receive() waits while no sender has joined yet; it
// returns end_of_stream once every sender that joined has gone (closed, or died: a partial
// message from a sender killed mid-message is dropped, never delivered) and nothing is left.
// The listener stays bound: the next receive() waits for new senders.
//
// Several senders on fifo://: frames up to PIPE_BUF (4096 bytes with the length) are atomic,
// so any number of senders may share a FIFO. A larger message is sent only by a sender that
// is alone on the FIFO (senders hold a shared flock on it; the large send takes it
// exclusively); otherwise send throws an Error that says so. Use unix:// for large messages
// from several processes. Two limits remain, because a FIFO is one stream with no per-sender
// boundary: a writer that is not ipckit takes no lock, so large messages need every writer to
// be ipckit; and a lone sender killed part-way through a large message while another sender
// waits for the lock can leave half a message that the waiting sender's bytes complete.
//
// What each transport can carry (max_message() after listen/connect): unix, tcp and fifo
// carry options.max_message; mq carries the queue's msgsize (a queue listen() creates gets
// min(max_message, /proc/sys/fs/mqueue/msgsize_max)); sysv-msg carries at most
// /proc/sys/kernel/msgmax; shm carries min(max_message, capacity / 2 - 16) as the listener
// set it (capacity default 1 MiB).
//
// shm://NAME?capacity=BYTES&senders=N: the POSIX shm object /ipckit-ch-NAME (0600, made
// with O_EXCL, removed by the listener), one ring of `capacity` bytes (a power of two,
// 4096 and up) per sender, at most N senders at once (default 8; a connect waits until its
// deadline for a free slot, then throws EUSERS). A slot frees once its sender has gone and
// the listener has received what it sent. Senders must run as the listener's user. Liveness
// comes from fcntl(F_OFD_SETLK) locks the kernel drops on exit (a forked child shares its
// parent's), so a killed peer is noticed within ~50 ms by an end that waits; a send with room
// in its ring succeeds even after the listener died, until the ring fills or the next
// periodic check (every 1024 sends, at most every 50 ms). Idle ends sleep in futex after
// options.spin; a listener can instead wait in poll/epoll on readiness_fd().
//
// shm://@NAME?capacity=BYTES&senders=N: the same channel in a sealed memfd that has no name,
// so nothing appears in /dev/shm and nothing is left behind by a crash. A sender gets the
// memfd over the abstract seqpacket socket "@ipckit/shm/NAME" the listener binds (only
// processes of the listener's user get it: SO_PEERCRED), checks that its size is sealed (no
// peer can shrink it: no SIGBUS), then joins as above. A thread of the listener's, asleep in
// poll until a sender comes, hands the memfd out. `ipckit ls` finds these channels among the
// descriptors its processes hold (/proc/PID/fd) and lists them as shm://@NAME.
//
//   auto rx = ipckit::Channel::listen("unix:///run/app.sock");
//   auto tx = ipckit::Channel::connect("unix:///run/app.sock");
//   tx.send(std::as_bytes(std::span{"hello", 5}));
//   std::vector<std::byte> buf(rx.max_message());
//   ipckit::IoResult r = rx.receive(buf);      // r.status == ok, r.bytes == 5

namespace ipckit {

/// The outcomes of the contract table. Errors (bad URL, permissions, a protocol error that
/// ends the whole channel) are thrown as Error instead.
struct ChannelOptions {
  /// Largest message accepted, either way (default 16 MiB). A longer send is an
  /// Error; a longer frame from a peer closes that connection with a clear error.
  std::size_t max_message = 16U << 20;
  /// Called on the listener when it ends one sender's connection for a protocol error (a
  /// length above max_message, a connection that ends mid-frame), with a sentence naming the
  /// sender and what was wrong. The listener goes on serving the others. The connection is
  /// closed whether or not this is set.
  std::function<void(const std::string& reason)> on_sender_dropped{};
  /// shm:// only: how long an end busy-polls (an empty ring for the listener, a full one for
  /// a sender) before it sleeps in the kernel (futex). nanoseconds::max() never sleeps:
  /// busy-poll mode, lowest latency at the cost of a core. Other transports ignore it.
  std::chrono::nanoseconds spin = std::chrono::microseconds(50);
  /// mq:// and sysv-msg:// listeners: a queue is durable, so one that listen() finds already
  /// made may hold messages from before (a listener killed earlier left them, or senders it
  /// had). false (default): they are delivered first, as the queue holds them; true: listen()
  /// drops them. Either way stale_messages() says how many there were. Other schemes ignore it.
  bool drop_stale = false;
  /// unix:// and tcp:// listeners: the most senders connected at once (default 256). More
  /// wait in the listen backlog (their connect returns; their sends block once the socket
  /// buffers fill) until one goes; the listener says so through on_sender_dropped each time
  /// it reaches the cap.
  std::size_t max_senders = 256;
  /// unix:// and tcp:// listeners: the most memory for messages in flight beyond each
  /// sender's first 64 KiB (default 64 MiB). A sender whose message needs more waits, its
  /// bytes left in the kernel (its sends block), until others' messages are handed out. One
  /// message may always grow to max_message when no other holds memory beyond its 64 KiB, and
  /// when every sender holding some is stuck mid-message one of them may overdraw until its
  /// message is out, so a listener holds at most max_senders * 64 KiB + max_buffered +
  /// max_message + 4 for messages, whatever its peers announce or withhold.
  std::size_t max_buffered = std::size_t{64} << 20;
};

/// One form of channel URL.
struct ChannelUrlForm {
  std::string_view pattern;  ///< "shm://NAME?capacity=BYTES&senders=N"
  std::string_view example;  ///< "shm://app?capacity=1048576"
  std::string_view what;     ///< what it is, in a few words
};

/// Every form of channel URL, one per transport variant: the list the parser names in its
/// errors, `ipckit send/recv --help` prints and docs/channel.md shows.
[[nodiscard]] std::span<const ChannelUrlForm> channel_url_forms() noexcept;

/// One end of a channel. Move-only. The receiving end (listen) creates or binds the channel
/// and merges every sender; a sending end (connect) joins it.
///
/// Threads: an end is one thread's at a time. Any thread may use it, and it may pass from
/// thread to thread, but while one thread is inside send, receive, loan, flush or readiness_fd
/// (or a Loan or Message of the end is held), another call throws Error (EBUSY) at once and
/// changes nothing: two threads inside
/// one end would interleave its state and lose or corrupt messages. For several sending
/// threads, give each its own end (connect() again: one listener merges them all), or share
/// one end behind a mutex. The check costs one atomic exchange per call.
class Message;
class Loan;

class Channel {
 public:
  /// Creates or binds the channel at `url` (the receiving side): a FIFO, socket file or queue
  /// it creates (mode 0600) it removes again when it is destroyed; one that was there (a FIFO,
  /// an existing queue) it uses and leaves, when it is this user's and closed to others.
  /// tcp://HOST:0 binds a port the kernel picks (see url()).
  /// Throws Error: an unknown scheme, a missing port, a relative path (each shows a correct
  /// URL), another listener already there, a FIFO or queue of another user or open to others
  /// (EACCES, naming its owner and mode), the transport's own errors.
  [[nodiscard]] static Channel listen(std::string_view url, const ChannelOptions& options = {});
  /// Joins the channel at `url` (a sending side), waiting until the deadline for a listener
  /// to be there. Throws Error: a bad URL, no listener by the deadline (ETIMEDOUT, naming the
  /// URL), a listener, FIFO or queue of another user or one open to others (EACCES), the
  /// transport's own errors.
  [[nodiscard]] static Channel connect(std::string_view url, const ChannelOptions& options = {},
                                       Deadline deadline = Deadline::never());

  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel();

  /// Sends one whole message: ok, peer_closed, timed_out (or would_block for Deadline::now()).
  /// After timed_out or would_block nothing of the message was sent (see flush()). Throws
  /// Error: a message
  /// above max_message(), send on a listening end, a large fifo message with other senders, the
  /// end busy (EBUSY: another thread inside it, or a Loan of it held).
  IoResult send(std::span<const std::byte> message, Deadline deadline = Deadline::never());
  /// Receives one whole message into `buffer` (at least max_message() bytes, else an Error
  /// that consumes nothing): ok, end_of_stream, timed_out (or would_block for
  /// Deadline::now()). Throws Error: receive on a sending end, the end busy (EBUSY: another
  /// thread inside it, or a Message of it held), the transport's own errors.
  IoResult receive(std::span<std::byte> buffer, Deadline deadline = Deadline::never());
  [[nodiscard]] bool try_send(std::span<const std::byte> message) { return send(message, Deadline::now()).ok(); }
  /// Byte streams (fifo, unix, tcp) cannot take back half a frame: when a send's deadline
  /// passes after the kernel took part of the message, the end keeps the rest and the send
  /// returns ok. That rest goes first on the next send, on flush(), or when the end is
  /// destroyed (which waits for it at most one second). flush: ok (nothing held any more),
  /// peer_closed, timed_out or would_block. Datagram transports hold nothing: always ok.
  IoResult flush(Deadline deadline = Deadline::never());
  [[nodiscard]] IoResult try_receive(std::span<std::byte> buffer) { return receive(buffer, Deadline::now()); }

  /// Receives one whole message without a buffer of the caller's: a Message whose bytes() are
  /// a read-only view of it, valid until the Message is dropped or released. On shm:// the view
  /// is the message in the sender's ring (nothing is copied; its room is given back when the
  /// Message goes); elsewhere the end reads it into a buffer of its own. status(): ok,
  /// end_of_stream, timed_out (or would_block for Deadline::now()), as receive(buffer).
  /// A Message holds its end until it is released: meanwhile every other call on the end
  /// (another receive, readiness_fd...) throws Error (EBUSY) and moves nothing. Throws Error:
  /// receive on a sending end, the end busy (EBUSY), the transport's own errors.
  ///
  ///   for (;;) {
  ///     const ipckit::Message m = rx.receive();
  ///     if (!m.ok()) break;                    // end_of_stream (or timed_out with a deadline)
  ///     use(m.bytes());
  ///   }                                        // m goes here, and its room with it
  [[nodiscard]] Message receive(Deadline deadline = Deadline::never());
  /// Room for a message of `size` bytes to write in place: a Loan whose bytes() the caller
  /// fills, then send()s (its whole size, or a shorter prefix); dropping an unsent Loan
  /// abandons it (nothing is sent; no reader ever sees part of it). On shm:// the room is in
  /// the ring (nothing is copied; a loan waits, up to the deadline, for room as send does);
  /// elsewhere it is a buffer of the end's, sent as send() sends. status(): ok, peer_closed,
  /// timed_out (or would_block for Deadline::now()); the deadline also bounds the send. A
  /// Loan holds its end until it is sent or abandoned: meanwhile every other call on the end
  /// throws Error (EBUSY). Throws Error: size above max_message(), loan on a listening end, the
  /// end busy (EBUSY), the transport's own errors.
  ///
  ///   ipckit::Loan l = tx.loan(64);
  ///   if (l.ok()) { fill(l.bytes()); l.send(); }
  [[nodiscard]] Loan loan(std::size_t size, Deadline deadline = Deadline::never());

  [[nodiscard]] std::size_t max_message() const noexcept;
  /// The URL, normalised ("unix:///run/app.sock"; tcp:// shows the port bound).
  [[nodiscard]] const std::string& url() const noexcept;

  /// True for the end made by listen().
  [[nodiscard]] bool is_listener() const noexcept;

  /// A listener of mq:// or sysv-msg://: how many messages the queue already held when
  /// listen() took it over (0 for a queue listen() made); they come first, or were dropped
  /// (ChannelOptions::drop_stale). 0 on every other end.
  [[nodiscard]] std::size_t stale_messages() const noexcept;

  /// A shm:// listener: how many senders it dropped because what was in shared memory broke
  /// the segment's rules (a corrupt record, a message above max_message, a ring or slot that
  /// another process wrote on). Each was reported through on_sender_dropped when it happened;
  /// the messages it had not yet delivered are lost. 0 on every other end.
  [[nodiscard]] std::uint64_t corrupt_senders() const noexcept;

  /// A descriptor for poll/epoll/asio, so a listening end can wait beside sockets (shm://
  /// only so far). It becomes readable (POLLIN) when receive() may have something to give: a
  /// message, end of stream, a sender coming or going. It stays readable until a
  /// try_receive() returns would_block, which re-arms it (so does a receive() that times
  /// out; after one that returned a message, drain with try_receive() before polling again).
  /// Readiness can be spurious (try_receive() then gives would_block at once). Level-triggered
  /// use:
  ///
  ///   pollfd p{rx.readiness_fd(), POLLIN, 0};
  ///   while (::poll(&p, 1, -1) >= 0) {      // or epoll_wait, or asio's async_wait(wait_read)
  ///     for (;;) {
  ///       ipckit::IoResult r = rx.try_receive(buf);
  ///       if (r.status == ipckit::IoStatus::would_block) break;
  ///       ...                                  // ok or end_of_stream
  ///     }
  ///   }
  ///
  /// While the listener keeps finding messages, neither side makes a syscall: a sender rings
  /// only after a try_receive() found every ring empty and armed the descriptor. While a
  /// sender is connected, the descriptor also turns readable once per liveness period (50 ms)
  /// so that a sender that died is noticed; with none, once a second. The channel owns it: do
  /// not read or close it, and do not use it after the channel is gone. The first call sets
  /// it up (an epoll instance, a timerfd and an abstract datagram socket
  /// "@ipckit/shm-bell/<random token>" that senders ring). The bell's name is visible in
  /// /proc/net/unix once bound, so any local process can make the descriptor readable for
  /// nothing (spurious readiness, never a message); senders in another network namespace
  /// cannot ring it and are heard by the timer instead. Throws Error: a sending end (EBADF), a
  /// listener that busy-polls (spin = nanoseconds::max(), EINVAL: it never sleeps, so nothing
  /// rings), other schemes (ENOTSUP).
  [[nodiscard]] int readiness_fd();

  /// A transport behind the contract (one per scheme, in src/channel/).
  class Transport;

 private:
  explicit Channel(std::unique_ptr<Transport> transport) noexcept;
  std::unique_ptr<Transport> transport_;
};

/// A message received in place (Channel::receive(deadline)). Move-only; it must not outlive
/// its Channel. Releasing it (or dropping it) gives its room back to the sender and its end
/// back to the caller: `m = rx.receive()` while `m` still holds a message throws EBUSY (the
/// receive runs first), so drop or release() it before the next receive.
class Message {
 public:
  Message() noexcept = default;
  Message(Message&& other) noexcept;
  Message& operator=(Message&& other) noexcept;
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  ~Message() { release(); }

  /// ok when this is a message; otherwise why there is none (end_of_stream, would_block,
  /// timed_out).
  [[nodiscard]] IoStatus status() const noexcept { return status_; }
  [[nodiscard]] bool ok() const noexcept { return status_ == IoStatus::ok; }
  /// The message's bytes (empty unless ok). Read-only: on shm:// they are the sender's ring.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  /// Gives the message's room back now; bytes() is empty afterwards.
  void release() noexcept;

 private:
  friend class Channel;
  Message(Channel::Transport* owner, IoStatus status, std::span<const std::byte> bytes) noexcept
      : owner_(owner), status_(status), bytes_(bytes) {}
  Channel::Transport* owner_ = nullptr;  // set while a message is held
  IoStatus status_ = IoStatus::would_block;
  std::span<const std::byte> bytes_;
};

/// Room for one message, written in place (Channel::loan(size, deadline)). Move-only; it must
/// not outlive its Channel. send() publishes it; dropping it unsent abandons it.
class Loan {
 public:
  Loan() noexcept = default;
  Loan(Loan&& other) noexcept;
  Loan& operator=(Loan&& other) noexcept;
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;
  ~Loan() { abandon(); }

  /// ok when the room is there; otherwise why not (peer_closed, would_block, timed_out).
  [[nodiscard]] IoStatus status() const noexcept { return status_; }
  [[nodiscard]] bool ok() const noexcept { return status_ == IoStatus::ok; }
  /// The room to fill: the size asked (empty unless ok, and once sent or abandoned).
  [[nodiscard]] std::span<std::byte> bytes() const noexcept { return bytes_; }
  /// Sends the first `size` bytes of the room (at most its size) as one message; the loan is
  /// over either way. On shm:// the room is already in the ring: always ok (a listener gone
  /// since shows at the next call). Elsewhere as Channel::send: ok, peer_closed, timed_out or
  /// would_block (nothing sent), and the transport's errors. Throws Error: a loan that is not
  /// ok or was already sent or abandoned (EINVAL), `size` above the room (EMSGSIZE).
  IoResult send(std::size_t size);
  /// Sends the whole room.
  IoResult send() { return send(bytes_.size()); }
  /// Gives the room back unsent (what dropping the loan does).
  void abandon() noexcept;

 private:
  friend class Channel;
  Loan(Channel::Transport* owner, IoStatus status, std::span<std::byte> bytes, Deadline deadline) noexcept
      : owner_(owner), status_(status), bytes_(bytes), deadline_(deadline) {}
  Channel::Transport* owner_ = nullptr;  // set while the room is held
  IoStatus status_ = IoStatus::would_block;
  std::span<std::byte> bytes_;
  Deadline deadline_ = Deadline::never();
};

}  // namespace ipckit
