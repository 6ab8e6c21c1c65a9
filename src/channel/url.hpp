#pragma once

#include <sys/types.h>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ipckit::detail {

/// A channel URL taken apart (docs/architecture.md, "URLs"). parse_channel_url throws Error for an
/// unknown scheme, a missing port, a relative path, a bad key..., each message showing a
/// correct URL for that scheme.
struct ChannelUrl {
  enum class Scheme : unsigned char { fifo, unix_socket, tcp, mq, sysv_msg, shm };
  Scheme scheme = Scheme::fifo;
  /// fifo: the absolute path; unix: "/abs/path" or "@name" (UnixAddress::parse's form);
  /// mq: "/NAME" (mq_open's form); shm: NAME.
  std::string name;
  std::string host;        ///< tcp: "127.0.0.1", "::1" (without brackets), or a host name
  std::uint16_t port = 0;  ///< tcp; 0 asks the kernel for one (listen only)
  key_t key = 0;           ///< sysv-msg
  std::size_t capacity = 0;  ///< shm: ?capacity=BYTES (0 when not given)
  std::uint32_t senders = 0;  ///< shm: &senders=N, senders at once (0 when not given)
  /// unix: ?users=any, peers of any user are taken (default: only this process's user).
  bool any_user = false;
  /// The URL rebuilt from the parts: "unix:///run/a.sock", "tcp://[::1]:7000",
  /// "sysv-msg://0x0000162e".
  [[nodiscard]] std::string to_string() const;
};

[[nodiscard]] ChannelUrl parse_channel_url(std::string_view url);

}  // namespace ipckit::detail
