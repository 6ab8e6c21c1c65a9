#pragma once

#include <cstddef>

#include "ipckit/fd.hpp"

// ipckit::Pipe: an anonymous pipe (pipe2(2) with O_CLOEXEC): a one-way byte stream in the
// kernel between related processes. Create it before fork; each side keeps the end it uses
// and closes the other. Reads see end of stream once every write end is closed; writes to a
// pipe whose readers are gone return IoStatus::peer_closed and never raise SIGPIPE.
//
//   auto p = ipckit::Pipe::create();
//   ipckit::set_pipe_capacity(p.write_end, 1 << 20);    // up to /proc/sys/fs/pipe-max-size
//   if (fork() == 0) { p.write_end.reset(); /* read p.read_end */ }
//   p.read_end.reset();
//   p.write_end.write_all(std::as_bytes(std::span{"hi", 2}));

namespace ipckit {

/// How a new pipe starts.
struct PipeOptions {
  /// Both ends O_NONBLOCK (the Fd I/O calls then never wait longer than their deadline).
  bool nonblocking = false;
};

/// The two ends of one anonymous pipe. Move-only; each end closes itself.
struct Pipe {
  Fd read_end;
  Fd write_end;

  /// pipe2(O_CLOEXEC). Throws Error (EMFILE/ENFILE: out of descriptors, with the limit).
  [[nodiscard]] static Pipe create(PipeOptions options = {});
};

/// Writes of at most this many bytes to a pipe or FIFO are atomic: they are never
/// interleaved with other writers' data (PIPE_BUF, 4096 on Linux).
inline constexpr std::size_t kPipeAtomicWrite = 4096;

/// The pipe's buffer size in bytes (F_GETPIPE_SZ), 65536 by default. Works on either end
/// of a pipe or FIFO. Throws Error when `end` is not a pipe.
[[nodiscard]] std::size_t pipe_capacity(const Fd& end);

/// Sets the buffer size (F_SETPIPE_SZ) and returns what the kernel chose (at least `bytes`,
/// rounded up to a power-of-two number of pages). The kernel decides: asking more than
/// /proc/sys/fs/pipe-max-size throws Error (EPERM) naming that limit, unless the process has
/// CAP_SYS_RESOURCE (root), which may pass it; asking less than the bytes in the pipe throws
/// EBUSY; running out of the user's pipe pages throws EPERM naming
/// /proc/sys/fs/pipe-user-pages-soft.
std::size_t set_pipe_capacity(const Fd& end, std::size_t bytes);

/// /proc/sys/fs/pipe-max-size: the most an unprivileged process may set.
[[nodiscard]] std::size_t pipe_max_size();

}  // namespace ipckit
