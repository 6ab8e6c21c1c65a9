#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"

// Parts not implemented yet: a datagram socket bound to an address has no sendto/recvfrom
// calls here (UnixListener with SocketType::datagram binds without listen(), and its accept()
// throws; read and write it through fd(), or use Socket::pair / connect_unix).
//
// Sockets (seed claim N1): Unix-domain stream, datagram and seqpacket sockets by path or by
// abstract name, socketpair, descriptor passing (SCM_RIGHTS) and the peer's credentials
// (SO_PEERCRED); TCP over IPv4 and IPv6. Every socket is close-on-exec; sends never raise
// SIGPIPE (MSG_NOSIGNAL) and report peer_closed instead; connect and accept take deadlines.
//
//   auto server = ipckit::UnixListener::bind({.address = ipckit::UnixAddress::path("/run/app.sock")});
//   ipckit::Socket client = ipckit::Socket::connect_unix(ipckit::UnixAddress::path("/run/app.sock"));
//   ipckit::Socket conn = *server.accept(ipckit::Deadline::after(1s));
//   ipckit::PeerCredentials who = conn.peer_credentials();      // pid, uid, gid of the caller
//   int passed = memfd.fd().get();
//   client.send_fds(std::span{&passed, 1}, std::as_bytes(std::span{"x", 1}));   // SCM_RIGHTS

namespace ipckit {

/// A Unix-domain socket address: a path in the file system, or an abstract name (Linux: no
/// file, gone when the last socket closes; written "@name").
class UnixAddress {
 public:
  /// An absolute or relative path, at most 107 bytes (sun_path). Throws Error when longer.
  [[nodiscard]] static UnixAddress path(const std::filesystem::path& path);
  /// An abstract name (without the leading NUL), at most 107 bytes. Throws Error.
  [[nodiscard]] static UnixAddress abstract(std::string_view name);
  /// "/run/app.sock" or "@name" (the form unix:// URLs use). Throws Error on anything else.
  [[nodiscard]] static UnixAddress parse(std::string_view text);

  [[nodiscard]] bool is_abstract() const noexcept { return abstract_; }
  /// "/run/app.sock" or "@name".
  [[nodiscard]] std::string to_string() const;

 private:
  std::string name_;
  bool abstract_ = false;
};

/// Who is at the other end of a Unix socket (SO_PEERCRED), as the kernel saw it when the
/// connection was made: a server checks its caller with it.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// What one receive gave: bytes, and any descriptors passed with them (received close-on-exec).
struct [[nodiscard]] Received {
  IoStatus status = IoStatus::ok;  ///< ok, end_of_stream, would_block, timed_out
  std::size_t bytes = 0;
  std::vector<Fd> fds;             ///< SCM_RIGHTS; owned; truncated control data is an Error
};

enum class SocketType : unsigned char {
  stream,     ///< SOCK_STREAM: a byte stream, like a pipe in both directions
  datagram,   ///< SOCK_DGRAM: whole messages, unordered across senders
  seqpacket,  ///< SOCK_SEQPACKET: whole messages on a connection, in order
};

/// A connected socket. Move-only; closes on destruction. Byte I/O goes through fd() (an Fd:
/// read_some, write_all... with deadlines and without SIGPIPE); the calls here add what
/// sockets have and pipes do not.
class Socket {
 public:
  /// socketpair(AF_UNIX): two connected sockets, for a parent and its child.
  [[nodiscard]] static std::pair<Socket, Socket> pair(SocketType type = SocketType::stream);
  /// Connects to a Unix socket, waiting until the deadline. Throws Error: ENOENT (no socket
  /// there), ECONNREFUSED (a stale socket file: nobody listens), EACCES, a timeout.
  [[nodiscard]] static Socket connect_unix(const UnixAddress& address,
                                           SocketType type = SocketType::stream,
                                           Deadline deadline = Deadline::never());
  /// Connects over TCP to HOST:PORT (IPv4, IPv6 or a name, tried in getaddrinfo's order)
  /// with TCP_NODELAY, waiting until the deadline. Throws Error naming the host and port.
  [[nodiscard]] static Socket connect_tcp(std::string_view host, std::uint16_t port,
                                          Deadline deadline = Deadline::never());

  /// Sends bytes and, with them, descriptors (SCM_RIGHTS; at most 253). Never SIGPIPE.
  [[nodiscard]] IoResult send_fds(std::span<const int> fds, std::span<const std::byte> bytes,
                                  Deadline deadline = Deadline::never()) const;
  /// Receives bytes and any descriptors that came with them.
  Received receive_fds(std::span<std::byte> buffer, Deadline deadline = Deadline::never()) const;
  /// SO_PEERCRED. Throws Error on a socket that is not Unix-domain.
  [[nodiscard]] PeerCredentials peer_credentials() const;
  /// shutdown(SHUT_WR): the peer reads end of stream; this side may still read.
  void shutdown_write() const;

  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }
  /// Gives the descriptor away; the Socket is empty afterwards.
  [[nodiscard]] Fd release() noexcept { return std::move(fd_); }

 private:
  friend class UnixListener;
  friend class TcpListener;
  explicit Socket(Fd fd) noexcept : fd_(std::move(fd)) {}
  Fd fd_;
};

struct UnixListenOptions {
  UnixAddress address;
  SocketType type = SocketType::stream;
  /// Permission bits of the socket file (path addresses). Owner-only by default.
  mode_t mode = 0600;
  /// A socket file already at the path: replaced only when nobody listens there (a connect
  /// gets ECONNREFUSED), else EADDRINUSE naming the path. With false, always refused.
  bool replace_stale = true;
  int backlog = 128;
};

/// A listening Unix socket. Move-only; the destructor closes it and never removes the
/// socket file (remove() does: another listener may have replaced it).
class UnixListener {
 public:
  /// socket + bind + listen. Throws Error: EADDRINUSE (someone listens there), EACCES,
  /// a path too long, a non-socket file at the path (never replaced).
  [[nodiscard]] static UnixListener bind(const UnixListenOptions& options);
  /// The next connection, waiting until the deadline; nothing when it passed.
  [[nodiscard]] std::optional<Socket> accept(Deadline deadline = Deadline::never()) const;
  /// Unlinks the socket file if it is still the one this listener bound (same inode).
  void remove() const;
  [[nodiscard]] const UnixAddress& address() const noexcept { return address_; }
  /// Non-blocking (accept() polls), close-on-exec.
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }

 private:
  Fd fd_;
  UnixAddress address_;
  dev_t device_ = 0;  ///< the socket file bound (path addresses), for remove()
  ino_t inode_ = 0;
};

struct TcpListenOptions {
  /// "127.0.0.1", "::1", "0.0.0.0", "::" (IPv6 and IPv4), or a name.
  std::string host = "127.0.0.1";
  /// 0: the kernel picks a free port (see port()).
  std::uint16_t port = 0;
  int backlog = 128;
};

/// A listening TCP socket (SO_REUSEADDR). Move-only.
class TcpListener {
 public:
  /// Throws Error: EADDRINUSE (names the port), EACCES (a port below 1024 without the right).
  [[nodiscard]] static TcpListener bind(const TcpListenOptions& options);
  /// The next connection (TCP_NODELAY set), waiting until the deadline.
  [[nodiscard]] std::optional<Socket> accept(Deadline deadline = Deadline::never()) const;
  /// The port bound (the kernel's pick when 0 was asked).
  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }

 private:
  Fd fd_;
  std::uint16_t port_ = 0;
};

}  // namespace ipckit
