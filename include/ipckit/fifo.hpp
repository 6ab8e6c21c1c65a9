#pragma once

#include <filesystem>
#include <sys/types.h>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"

// Named pipes (FIFOs, mkfifo(3)): a pipe with a name in the file system, so unrelated
// processes can meet by its path. The name is only a meeting point: the data stays in the
// kernel and the file's size stays 0. Opening blocks until the other side opens too; ipckit
// offers that blocking form, a non-blocking one and one with a deadline.
//
//   ipckit::create_fifo({.path = "/run/app/in"});             // mode 0600, must not exist
//   ipckit::Fd r = ipckit::open_fifo_reader("/run/app/in");   // waits for a writer
//   // elsewhere: auto w = ipckit::open_fifo_writer("/run/app/in", Deadline::after(1s));
//   ipckit::remove_fifo("/run/app/in");
//
// Every open uses O_NOFOLLOW and checks the file type: a path that is a symlink, a regular
// file or anything but a FIFO is refused with an Error, never followed or truncated.

namespace ipckit {

struct FifoOptions {
  std::filesystem::path path{};
  /// Permission bits (the umask still applies). Owner-only by default.
  mode_t mode = 0600;
  /// Fail with EEXIST when the path exists. When false, an existing FIFO is accepted (its
  /// mode is left alone) but any other kind of file is still refused.
  bool exclusive = true;
};

/// Creates the FIFO with mkfifo(3). Throws Error: EEXIST (exclusive), "not a FIFO" when the
/// path is taken by something else (including a symlink, which is not followed), ENOENT
/// when the folder does not exist, EACCES.
void create_fifo(const FifoOptions& options);

/// Removes the FIFO's name. Data in flight stays with the processes that have it open.
/// Refuses a path that is not a FIFO. Returns false when there was nothing to remove.
bool remove_fifo(const std::filesystem::path& path);

/// Opens the read end, waiting for a writer as `deadline` says:
///   - Deadline::never(): open(2) blocks until a writer opens (the seed's blocking open);
///   - Deadline::now(): open with O_NONBLOCK, which returns at once; the descriptor stays
///     non-blocking. Linux then reports end_of_stream to reads while no writer has the FIFO
///     open (before the first writer comes, too), and would_block once a writer is there but
///     has not written;
///   - any other deadline: waits until a writer has opened the FIFO and written or closed, or
///     throws Error with ETIMEDOUT naming the path once the deadline passes.
/// The descriptor is blocking except with Deadline::now().
[[nodiscard]] Fd open_fifo_reader(const std::filesystem::path& path, Deadline deadline = Deadline::never());

/// Opens the write end, waiting for a reader as `deadline` says:
///   - Deadline::never(): open(2) blocks until a reader opens;
///   - Deadline::now(): open with O_NONBLOCK: fails at once with ENXIO (an Error that says no
///     reader has it open) when there is none; the descriptor stays non-blocking;
///   - any other deadline: retries until a reader is there (the kernel has no event for it:
///     every 100 µs to 10 ms), or throws Error with ETIMEDOUT naming the path.
/// The descriptor is blocking except with Deadline::now(). FIFOs do not support RWF_NOWAIT,
/// so a deadline on a blocking FIFO descriptor is kept by poll(2) followed by a write of at
/// most PIPE_BUF bytes: exact with one writer, but with several writers (or readers) another
/// may take the room between the two and the call then waits in write(2). Open with
/// Deadline::now() (or make the descriptor non-blocking) when several share one FIFO.
[[nodiscard]] Fd open_fifo_writer(const std::filesystem::path& path, Deadline deadline = Deadline::never());

}  // namespace ipckit
