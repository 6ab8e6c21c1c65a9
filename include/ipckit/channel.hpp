#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "ipckit/deadline.hpp"

// STATUS: designed, not implemented yet (issue 5; shm:// in issue 6). These declarations are
// the contract the next step implements and tests; nothing here links until src/channel/
// lands.
//
// A channel (floor 3) carries whole messages one way, in order, nothing lost or duplicated,
// over any kernel transport, chosen by URL (DESIGN.md, "Channel contract"):
//
//   fifo:///ABS/PATH   unix:///ABS/PATH   unix://@NAME   tcp://HOST:PORT
//   mq:///NAME         sysv-msg://0xKEY   shm://NAME?capacity=BYTES
//
// On byte streams (fifo, unix, tcp) each message is a 4-byte little-endian length and then
// that many bytes; a length above max_message is a protocol error that closes that one
// connection. Datagram transports (mq, sysv-msg) carry one message per datagram.
//
//   auto rx = ipckit::Channel::listen("unix:///run/app.sock");
//   auto tx = ipckit::Channel::connect("unix:///run/app.sock");
//   tx.send(std::as_bytes(std::span{"hello", 5}));
//   std::vector<std::byte> buf(rx.max_message());
//   ipckit::ChannelResult r = rx.receive(buf);      // r.status == ok, r.bytes == 5

namespace ipckit {

/// The outcomes of the contract table. Errors (bad URL, permissions, a protocol error that
/// ends the whole channel) are thrown as Error instead.
enum class ChannelStatus : unsigned char {
  ok,             ///< a whole message moved
  end_of_stream,  ///< receive: every sender has gone and nothing is left
  peer_closed,    ///< send: the receiver has gone (never SIGPIPE)
  would_block,    ///< try_send / try_receive: nothing could be done now
  timed_out,      ///< the deadline passed first
};

struct [[nodiscard]] ChannelResult {
  ChannelStatus status = ChannelStatus::ok;
  std::size_t bytes = 0;  ///< receive: the message's length, when ok
  [[nodiscard]] bool ok() const noexcept { return status == ChannelStatus::ok; }
};

struct ChannelOptions {
  /// Largest message accepted, either way (default 16 MiB, DESIGN.md). A longer send is an
  /// Error; a longer frame from a peer closes that connection with a clear error.
  std::size_t max_message = 16U << 20;
};

/// One end of a channel. Move-only. The receiving end (listen) creates or binds the channel
/// and merges every sender; a sending end (connect) joins it.
class Channel {
 public:
  /// Creates or binds the channel at `url` (the receiving side). Throws Error: an unknown
  /// scheme, a missing port, a relative path (each shows a correct URL), the transport's
  /// own errors.
  [[nodiscard]] static Channel listen(std::string_view url, const ChannelOptions& options = {});
  /// Joins the channel at `url` (a sending side), waiting for it until the deadline.
  [[nodiscard]] static Channel connect(std::string_view url, const ChannelOptions& options = {},
                                       Deadline deadline = Deadline::never());

  Channel(Channel&&) noexcept;
  Channel& operator=(Channel&&) noexcept;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  ~Channel();

  /// Sends one whole message: ok, peer_closed, timed_out (or would_block for Deadline::now()).
  ChannelResult send(std::span<const std::byte> message, Deadline deadline = Deadline::never());
  /// Receives one whole message into `buffer` (at least max_message() bytes): ok,
  /// end_of_stream, timed_out (or would_block for Deadline::now()).
  ChannelResult receive(std::span<std::byte> buffer, Deadline deadline = Deadline::never());
  [[nodiscard]] bool try_send(std::span<const std::byte> message) { return send(message, Deadline::now()).ok(); }
  [[nodiscard]] ChannelResult try_receive(std::span<std::byte> buffer) { return receive(buffer, Deadline::now()); }

  [[nodiscard]] std::size_t max_message() const noexcept;
  /// The URL as given, normalised ("unix:///run/app.sock").
  [[nodiscard]] const std::string& url() const noexcept;

  /// A transport behind the contract (one per scheme, in src/channel/).
  class Transport;

 private:
  explicit Channel(std::unique_ptr<Transport> transport) noexcept;
  std::unique_ptr<Transport> transport_;
};

}  // namespace ipckit
