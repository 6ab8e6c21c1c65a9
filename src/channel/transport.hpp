#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "../sys.hpp"
#include "ipckit/channel.hpp"
#include "url.hpp"

namespace ipckit {

/// One end of one transport. Channel checks what is common to all (the end's direction, a
/// message above max_message(), a receive buffer below it) before calling in, so a transport
/// sees only sends on a sending end with message.size() <= max_message(), and receives on a
/// listening end with buffer.size() >= max_message().
class Channel::Transport {
 public:
  Transport(std::string url, std::size_t max_message, bool listener)
      : url_(std::move(url)), max_message_(max_message), listener_(listener) {}
  virtual ~Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  virtual IoResult send(std::span<const std::byte> message, Deadline deadline) = 0;
  virtual IoResult receive(std::span<std::byte> buffer, Deadline deadline) = 0;
  /// Sends what a stream end still holds of a message (Channel::flush). Datagrams: nothing.
  virtual IoResult flush(Deadline) { return {}; }
  /// Channel::readiness_fd on a listening end; transports without one throw ENOTSUP.
  virtual int readiness_fd();
  /// Channel::stale_messages: what an adopted queue held. Transports without queues: 0.
  [[nodiscard]] virtual std::size_t stale_messages() const noexcept { return 0; }
  /// Channel::corrupt_senders: senders dropped for breaking shared memory. Others: 0.
  [[nodiscard]] virtual std::uint64_t corrupt_senders() const noexcept { return 0; }

  /// Channel::receive(deadline) on a listening end: the next message, left where it is with
  /// its bytes in `view` until release_message(). The default receives it into a buffer this
  /// end keeps (max_message bytes, allocated on first use; pages are touched only as messages
  /// fill them).
  virtual IoResult receive_in_place(Deadline deadline, std::span<const std::byte>& view);
  /// Gives back the message receive_in_place() returned. Default: nothing to give back.
  virtual void release_message() noexcept {}
  /// Channel::loan on a sending end: room for `size` bytes (<= max_message) in `room`, or why
  /// not. The default is a buffer this end keeps.
  virtual IoResult loan(std::size_t size, Deadline deadline, std::span<std::byte>& room);
  /// Sends the first `size` bytes of the room loan() gave. The default send()s them.
  virtual IoResult commit_loan(std::span<std::byte> room, std::size_t size, Deadline deadline) {
    return send(room.first(size), deadline);
  }
  /// Forgets the room loan() gave, unsent. Default: nothing to forget.
  virtual void abandon_loan() noexcept {}


  /// Channel's one-thread-at-a-time check: true when the end was free and is now taken.
  [[nodiscard]] bool try_take() noexcept {
    // acquire: pairs with release() of the thread that used the end before, so its writes to
    // the end's state are seen here.
    return !in_use_.exchange(true, std::memory_order_acquire);
  }
  void release() noexcept { in_use_.store(false, std::memory_order_release); }
  /// A Loan or a Message holds the end (it stays taken until that is sent or released); read
  /// only to say so when another call is refused. relaxed: a hint for an error message.
  [[nodiscard]] bool lent() const noexcept { return lent_.load(std::memory_order_relaxed); }
  void lend(bool held) noexcept { lent_.store(held, std::memory_order_relaxed); }

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] std::size_t max_message() const noexcept { return max_message_; }
  [[nodiscard]] bool listener() const noexcept { return listener_; }

 protected:
  std::string url_;
  std::size_t max_message_;
  bool listener_;

 private:
  std::atomic<bool> in_use_{false};
  std::atomic<bool> lent_{false};
  // The defaults' buffers (receive_in_place, loan): made on first use.
  std::unique_ptr<std::byte[]> inbox_;
  std::unique_ptr<std::byte[]> outbox_;
  std::size_t outbox_size_ = 0;
};

namespace detail {

// An end is one thread's at a time (channel.hpp). A second thread that calls in while the
// first is inside gets an Error at once: two threads on one end would otherwise interleave
// its state and lose or corrupt messages without a word. A Loan or a Message keeps its end
// taken while it lives (keep()): every other call on the end is refused the same way until it
// is sent, released or dropped.
class OneThreadAtATime {
 public:
  OneThreadAtATime(Channel::Transport& transport, std::string_view call) : transport_(transport) {
    if (transport_.try_take()) return;
    if (transport_.lent()) {
      sys::fail(call, transport_.url(), EBUSY,
                "a Loan or a Message of this end is still held: send, release or drop it first (one at a "
                "time, and no other call on the end meanwhile)");
    }
    sys::fail(call, transport_.url(), EBUSY,
              "another thread is using this end right now; an end is one thread's at a time: give each "
              "thread an end of its own (connect() again), or hand the end over with a mutex");
  }
  OneThreadAtATime(const OneThreadAtATime&) = delete;
  OneThreadAtATime& operator=(const OneThreadAtATime&) = delete;
  ~OneThreadAtATime() {
    if (!kept_) transport_.release();
  }
  /// The end stays taken after this goes: a Loan or a Message now holds it (Transport::lend).
  void keep() noexcept {
    transport_.lend(true);
    kept_ = true;
  }

 private:
  Channel::Transport& transport_;
  bool kept_ = false;
};

using TransportPtr = std::unique_ptr<Channel::Transport>;

// One pair per scheme; each throws Error with the URL named. `url` is already parsed.
TransportPtr listen_unix(const ChannelUrl& url, const ChannelOptions& options);
TransportPtr connect_unix(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline);
TransportPtr listen_tcp(const ChannelUrl& url, const ChannelOptions& options);
TransportPtr connect_tcp(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline);
TransportPtr listen_fifo(const ChannelUrl& url, const ChannelOptions& options);
TransportPtr connect_fifo(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline);
TransportPtr listen_mq(const ChannelUrl& url, const ChannelOptions& options);
TransportPtr connect_mq(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline);
TransportPtr listen_sysv_msg(const ChannelUrl& url, const ChannelOptions& options);
TransportPtr connect_sysv_msg(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline);
TransportPtr listen_shm(const ChannelUrl& url, const ChannelOptions& options);
TransportPtr connect_shm(const ChannelUrl& url, const ChannelOptions& options, Deadline deadline);

}  // namespace detail
}  // namespace ipckit
