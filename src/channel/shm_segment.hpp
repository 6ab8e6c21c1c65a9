#pragma once

// A shared-memory segment's life, whatever its layout (shm_layout.hpp is the channel's): the
// object made, checked, joined and removed, and the liveness of the processes that use it.
//
// Liveness without PIDs: open-file-description locks (fcntl F_OFD_SETLK). Each end holds a
// write lock on one byte of the object (the channel's listener on byte 0, the sender of slot
// i on byte 1 + i); the kernel drops it when the descriptor's last reference goes, SIGKILL
// included, and F_OFD_GETLK tells whether anybody holds one. PIDs in a segment are only for
// `ipckit ls`. A process that forks while it holds an end shares the lock with its child (the
// descriptor is close-on-exec, so an exec drops it): the end is alive while either lives.
//
// A segment is a POSIX shm object (/dev/shm/NAME, made with O_EXCL, mode 0600, used only when
// it is this user's and closed to others) or a memfd (shm://@NAME: no name to find; its size
// sealed, so no peer can shrink it under the others' mappings). Not covered: a peer of the
// same uid can still ftruncate a named object under a mapping (SIGBUS); only a sealed memfd
// prevents that.

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ipckit/fd.hpp"

namespace ipckit::detail {

// --- Liveness locks ---------------------------------------------------------------------------

/// Takes the write lock on `byte` without waiting: false when somebody else holds it. Throws
/// Error naming `object` when the kernel refuses for another reason.
bool try_lock_byte(int fd, std::uint64_t byte, std::string_view object);
void unlock_byte(int fd, std::uint64_t byte) noexcept;

/// Whether another open file description holds a lock overlapping `len` bytes from `start`
/// (len 0: to the end of the file); nullopt when the kernel cannot say. Works on an O_RDONLY
/// descriptor. A lock this process holds through another open of the object counts too.
[[nodiscard]] std::optional<bool> lock_held(int fd, std::uint64_t start, std::uint64_t len) noexcept;

/// Whether the end that locks `byte` lives. When the kernel cannot say, it lives: a wrong
/// "dead" would drop a live peer.
[[nodiscard]] inline bool byte_locked(int fd, std::uint64_t byte) noexcept {
  return lock_held(fd, byte, 1).value_or(true);
}
/// Whether any end at all holds a lock on the object (when the kernel cannot say: yes).
[[nodiscard]] inline bool any_byte_locked(int fd) noexcept { return lock_held(fd, 0, 0).value_or(true); }

// --- Making one -------------------------------------------------------------------------------

struct NewSegment {
  std::string name;             ///< "/ipckit-ch-NAME", or a memfd's name ("memfd:ipckit-ch-NAME")
  bool memfd = false;           ///< a memfd (sealed at `size`), not a named object
  std::uint64_t size = 0;       ///< its size, reserved (posix_fallocate)
  std::uint64_t lock_byte = 0;  ///< the maker's liveness lock, taken before the object has a size
  std::string url;              ///< the channel, for errors
  std::string enospc_hint;      ///< what to say when /dev/shm (or memory) has no room
};

/// Makes the object: O_EXCL and mode 0600 (whatever the umask) for a named one, the maker's
/// lock, the size reserved, a memfd's size sealed. When the name is taken, calls `taken`,
/// which must throw (it says by whom). Throws Error; on any error nothing is left behind.
/// The caller unlinks a named object it no longer wants (unlink_if_names).
[[nodiscard]] Fd create_segment(const NewSegment& segment, const std::function<void()>& taken);

// --- Joining one ------------------------------------------------------------------------------

/// Opens the named object read-write, or nothing (with `problem` saying so) while there is
/// none. Throws Error for anything else (EACCES names owner and mode).
[[nodiscard]] std::optional<Fd> open_named_segment(const std::string& name, const std::string& url,
                                                   std::string& problem);

/// Checks the object open on `fd` before it is trusted: a regular file, this user's, and for
/// a named one (`named`) mode 0600. Its fstat. Throws Error (EINVAL, EACCES) naming `url`,
/// ending with `remove_it` (how to get rid of it).
struct stat check_segment_object(int fd, const std::string& name, const std::string& url, bool named,
                                 const std::string& remove_it);

// --- Removing one -----------------------------------------------------------------------------

/// Unlinks the named object `object` ("/ipckit-ch-NAME") only while that name still names the
/// object open on `fd`: had it been removed and made again by someone else, that one is not
/// ours to remove. 0 when removed; ENOENT when the name names nothing or another object now;
/// otherwise shm_unlink's errno. (What remains is the instant between the check and the
/// unlink, which no call closes.)
[[nodiscard]] int unlink_if_names(const std::string& object, int fd) noexcept;

}  // namespace ipckit::detail
