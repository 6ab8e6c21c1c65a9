#include "ipckit/channel.hpp"

#include <cerrno>
#include <string>
#include <utility>

#include "../sys.hpp"
#include "ipckit/fd.hpp"
#include "transport.hpp"
#include "url.hpp"

namespace ipckit {
namespace {

void check_options(const ChannelOptions& options, std::string_view url) {
  if (options.max_message == 0) sys::fail("Channel", url, EINVAL, "max_message must be at least 1 byte");
  if (options.max_message > 0xFFFFFFFFU) {
    sys::fail("Channel", url, EINVAL,
              "max_message must fit the 4-byte length of the wire format (at most 4294967295 bytes)");
  }
  if (options.max_senders == 0) sys::fail("Channel", url, EINVAL, "max_senders must be at least 1");
}

}  // namespace

Channel::Channel(std::unique_ptr<Transport> transport) noexcept : transport_(std::move(transport)) {}
Channel::Channel(Channel&&) noexcept = default;
Channel& Channel::operator=(Channel&&) noexcept = default;
Channel::~Channel() = default;

Channel Channel::listen(std::string_view url, const ChannelOptions& options) {
  detail::ChannelUrl u = detail::parse_channel_url(url);
  check_options(options, url);
  ensure_standard_descriptors();  // none of the channel's descriptors may be 0-2
  using S = detail::ChannelUrl::Scheme;
  switch (u.scheme) {
    case S::fifo:
      return Channel{detail::listen_fifo(u, options)};
    case S::unix_socket:
      return Channel{detail::listen_unix(u, options)};
    case S::tcp:
      return Channel{detail::listen_tcp(u, options)};
    case S::mq:
      return Channel{detail::listen_mq(u, options)};
    case S::sysv_msg:
      return Channel{detail::listen_sysv_msg(u, options)};
    case S::shm:
      return Channel{detail::listen_shm(u, options)};
  }
  sys::fail("Channel::listen", url, EINVAL, "unknown scheme");
}

Channel Channel::connect(std::string_view url, const ChannelOptions& options, Deadline deadline) {
  detail::ChannelUrl u = detail::parse_channel_url(url);
  check_options(options, url);
  ensure_standard_descriptors();  // none of the channel's descriptors may be 0-2
  using S = detail::ChannelUrl::Scheme;
  switch (u.scheme) {
    case S::fifo:
      return Channel{detail::connect_fifo(u, options, deadline)};
    case S::unix_socket:
      return Channel{detail::connect_unix(u, options, deadline)};
    case S::tcp:
      if (u.port == 0) {
        sys::fail("Channel::connect", url, EINVAL,
                  "port 0 means \"any port\" only to listen; connect to the port the listener "
                  "bound (its url() shows it), e.g. tcp://127.0.0.1:7000");
      }
      return Channel{detail::connect_tcp(u, options, deadline)};
    case S::mq:
      return Channel{detail::connect_mq(u, options, deadline)};
    case S::sysv_msg:
      return Channel{detail::connect_sysv_msg(u, options, deadline)};
    case S::shm:
      return Channel{detail::connect_shm(u, options, deadline)};
  }
  sys::fail("Channel::connect", url, EINVAL, "unknown scheme");
}


IoResult Channel::send(std::span<const std::byte> message, Deadline deadline) {
  if (!transport_) sys::fail("Channel::send", "a moved-from channel", EBADF);
  if (transport_->listener()) {
    sys::fail("Channel::send", transport_->url(), EBADF,
              "this end was made by listen() and receives; send on an end made by connect()");
  }
  if (message.size() > transport_->max_message()) {
    sys::fail("Channel::send", transport_->url(), EMSGSIZE,
              "the message is " + std::to_string(message.size()) + " bytes; this channel carries at most " +
                  std::to_string(transport_->max_message()) + " (max_message())");
  }
  const detail::OneThreadAtATime one(*transport_, "Channel::send");
  return transport_->send(message, deadline);
}

IoResult Channel::receive(std::span<std::byte> buffer, Deadline deadline) {
  if (!transport_) sys::fail("Channel::receive", "a moved-from channel", EBADF);
  if (!transport_->listener()) {
    sys::fail("Channel::receive", transport_->url(), EBADF,
              "this end was made by connect() and sends; receive on the end made by listen()");
  }
  if (buffer.size() < transport_->max_message()) {
    sys::fail("Channel::receive", transport_->url(), EINVAL,
              "the buffer holds " + std::to_string(buffer.size()) + " bytes; it must hold max_message() = " +
                  std::to_string(transport_->max_message()) + " bytes, the largest message that may come");
  }
  const detail::OneThreadAtATime one(*transport_, "Channel::receive");
  return transport_->receive(buffer, deadline);
}

IoResult Channel::flush(Deadline deadline) {
  if (!transport_) sys::fail("Channel::flush", "a moved-from channel", EBADF);
  if (transport_->listener()) return {};
  const detail::OneThreadAtATime one(*transport_, "Channel::flush");
  return transport_->flush(deadline);
}

std::size_t Channel::max_message() const noexcept { return transport_ ? transport_->max_message() : 0; }

const std::string& Channel::url() const noexcept {
  static const std::string empty;
  return transport_ ? transport_->url() : empty;
}

bool Channel::is_listener() const noexcept { return transport_ && transport_->listener(); }

std::size_t Channel::stale_messages() const noexcept { return transport_ ? transport_->stale_messages() : 0; }

std::uint64_t Channel::corrupt_senders() const noexcept { return transport_ ? transport_->corrupt_senders() : 0; }

int Channel::readiness_fd() {
  if (!transport_) sys::fail("Channel::readiness_fd", "a moved-from channel", EBADF);
  if (!transport_->listener()) {
    sys::fail("Channel::readiness_fd", transport_->url(), EBADF,
              "this end was made by connect() and sends; a readiness descriptor tells a listening end "
              "that a message came");
  }
  const detail::OneThreadAtATime one(*transport_, "Channel::readiness_fd");
  return transport_->readiness_fd();
}

int Channel::Transport::readiness_fd() {
  sys::fail("Channel::readiness_fd", url_, ENOTSUP,
            "only shm:// channels have a readiness descriptor so far; on this transport, receive on a "
            "thread of its own, or use shm://");
}

}  // namespace ipckit
