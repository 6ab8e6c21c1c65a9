#pragma once

#include <cstddef>
#include <span>
#include <utility>

#include "ipckit/deadline.hpp"

// ipckit::Fd: a move-only owner of one file descriptor (pipe end, FIFO, socket, pidfd...).
// It closes the descriptor exactly once, and its I/O calls retry EINTR, wait with poll(2)
// when the descriptor is non-blocking and a deadline allows, and never raise SIGPIPE:
//
//   ipckit::Pipe p = ipckit::Pipe::create();
//   p.write_end.write_all(std::as_bytes(std::span{"hello", 5}));
//   std::array<std::byte, 5> buf;
//   auto r = p.read_end.read_exact(buf);          // r.status == IoStatus::ok, r.bytes == 5
//
// Descriptors that ipckit opens are close-on-exec; only the child process runners hand
// descriptors to another program, and they do it explicitly.

namespace ipckit {

/// The outcome of one I/O call that did not fail with an error: a read or write on a
/// descriptor, a send or receive on a queue, a channel or a socket.
enum class IoStatus : unsigned char {
  ok,             ///< done: all that was asked (read_exact, write_all), at least one byte
                  ///< (_some), or one whole message (queues, channels)
  end_of_stream,  ///< read, receive: every writer or sender has closed and nothing is left
  would_block,    ///< nothing could be done now (non-blocking descriptor, Deadline::now())
  timed_out,      ///< the deadline passed before the call could finish
  peer_closed,    ///< write, send: every reader has closed, the receiver has gone (EPIPE,
                  ///< without SIGPIPE)
};

/// "ok", "end of stream", ...
[[nodiscard]] const char* to_string(IoStatus status) noexcept;

/// How many bytes moved, and why the call stopped. On anything but `ok`, `bytes` says how
/// far a read_exact or write_all got before it stopped. A channel's receive gives the
/// message's length in `bytes`, its send 0.
struct [[nodiscard]] IoResult {
  std::size_t bytes = 0;
  IoStatus status = IoStatus::ok;
  [[nodiscard]] bool ok() const noexcept { return status == IoStatus::ok; }
};

/// What a descriptor or a mapping may be used for: the open mode of a shared memory object or
/// queue, the protection of a mapping.
enum class Access : unsigned char {
  read_only,   ///< O_RDONLY, PROT_READ
  read_write,  ///< O_RDWR, PROT_READ | PROT_WRITE
};

class Fd {
 public:
  Fd() noexcept = default;
  /// Takes ownership of `fd` (which may be -1 for "none").
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  /// The descriptor, still owned by this Fd (-1 when empty).
  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  /// Gives up ownership without closing.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the descriptor held (once; close(2) is never retried) and takes `fd` instead.
  /// Keeps errno. Async-signal-safe.
  void reset(int fd = -1) noexcept;

  /// A new descriptor for the same open file, close-on-exec (F_DUPFD_CLOEXEC).
  /// Throws Error.
  [[nodiscard]] Fd duplicate() const;

  /// Switches O_NONBLOCK on or off. Throws Error.
  void set_nonblocking(bool on) const;
  [[nodiscard]] bool nonblocking() const;
  /// Switches FD_CLOEXEC on or off (it is on for every descriptor ipckit opens). Throws Error.
  void set_cloexec(bool on) const;
  [[nodiscard]] bool cloexec() const;

  /// Reads what is there, at least one byte, at most buf.size(). Waits for data until
  /// `deadline`, whether the descriptor is blocking or not: with Deadline::never() it sleeps
  /// in read(2) (or poll(2) when non-blocking); with any other deadline it never sleeps in
  /// read(2) (RWF_NOWAIT) but in poll(2), so the deadline holds. Deadline::now() only tries.
  /// Returns end_of_stream when every writer has closed (or a socket's peer reset the
  /// connection, ECONNRESET: it went with data unread), would_block (Deadline::now()) or
  /// timed_out when nothing came in time. Throws Error on any other failure.
  IoResult read_some(std::span<std::byte> buf, Deadline deadline = Deadline::never()) const;

  /// Reads exactly buf.size() bytes. end_of_stream means the stream ended before the first
  /// byte; a stream that ends part-way is a short read and throws Error saying how many of
  /// how many bytes came. timed_out and would_block report in `bytes` how many arrived.
  IoResult read_exact(std::span<std::byte> buf, Deadline deadline = Deadline::never()) const;

  /// Writes what fits now, at least one byte unless it returns would_block, timed_out or
  /// peer_closed (EPIPE, or ECONNRESET from a socket). Never raises SIGPIPE, whatever the
  /// process's SIGPIPE disposition.
  IoResult write_some(std::span<const std::byte> buf, Deadline deadline = Deadline::never()) const;

  /// Writes all of buf, waiting for room until `deadline`. On peer_closed, timed_out or
  /// would_block, `bytes` says how much was written. Never raises SIGPIPE.
  IoResult write_all(std::span<const std::byte> buf, Deadline deadline = Deadline::never()) const;

  /// Waits until the descriptor is readable (or hung up). false when the deadline passed.
  [[nodiscard]] bool wait_readable(Deadline deadline) const;
  /// Waits until the descriptor is writable (or its reader is gone). false on timeout.
  [[nodiscard]] bool wait_writable(Deadline deadline) const;

 private:
  int fd_ = -1;
};

/// Makes sure descriptors 0, 1 and 2 are open: each one that is closed is opened on /dev/null
/// (read-write, inherited by children, as stdio is). A program started with a closed stdin,
/// stdout or stderr (`prog 2>&-`) would otherwise get 0, 1 or 2 for the next descriptor it
/// makes, and whatever it then prints or reads would go to that object (a channel's
/// segment, a socket). Channel::listen, Channel::connect and the first Channel::readiness_fd
/// call it before they make a descriptor, so no channel's descriptor is ever 0-2 while the
/// process keeps 0-2 open; a program that may be started so calls it first thing. Costs three
/// fcntl calls when all are open. Thread-safe; not async-signal-safe. Throws Error (no /dev/null).
void ensure_standard_descriptors();

/// Sets SIGPIPE to SIG_IGN for the whole process, as most servers do, and tells ipckit so:
/// its writes then skip the per-write SIGPIPE guard (two rt_sigprocmask calls, each about as
/// costly as the write itself on a VM). Without this call every ipckit write is still safe:
/// the guard is what keeps SIGPIPE from killing a process that left it at its default.
/// Call it once at start-up and do not restore SIGPIPE's default afterwards. Programs that
/// ipckit spawns still start with SIGPIPE at its default action. Throws Error.
void ignore_sigpipe();

}  // namespace ipckit
