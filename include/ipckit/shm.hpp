#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "ipckit/fd.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/posix_name.hpp"

// POSIX shared memory (shm_open(3), claim Q3) and anonymous memfd segments (memfd_create(2)).
//
// A SharedMemory object is a named segment in /dev/shm: it needs no file on disk, outlives
// the process that made it (until removed or reboot), and any process that knows the name and
// has permission can open and map it. Names are "/something": one leading '/', no other '/',
// at most NAME_MAX (255) bytes. New segments are created exclusively, mode 0600, and their
// space is reserved at once (posix_fallocate), so a full /dev/shm fails at creation, not with
// SIGBUS at first touch.
//
//   auto shm = ipckit::SharedMemory::create({.name = "/orders", .size = 1 << 20});
//   ipckit::Mapping m = shm.map();
//   ...
//   ipckit::SharedMemory::remove("/orders");   // the destructor never removes the name
//
// A Memfd is the same without a name: nothing in /dev/shm at all. It is handed to another
// process as a descriptor (inherited across fork/exec, or later over a Unix socket). Sealing
// it against shrinking and growing means a peer cannot truncate it under a reader (the SIGBUS
// attack):
//
//   auto seg = ipckit::Memfd::create({.name = "frames", .size = 1 << 20});
//   seg.seal_size();                      // F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL
//   child gets seg.fd() ... it maps it; its ftruncate fails with EPERM

namespace ipckit {

struct ShmOptions {
  /// "/name": one leading '/', no other '/', 2..NAME_MAX bytes in all.
  std::string name{};
  /// Bytes; set with ftruncate and reserved with posix_fallocate on create.
  std::size_t size = 0;
  /// Permission bits (the umask still applies). Owner-only by default.
  mode_t mode = 0600;
  /// Fail with EEXIST when the name is taken (default). When false, an existing segment is
  /// opened instead (and grown to `size` if smaller, never shrunk).
  bool exclusive = true;
};

/// A named POSIX shared-memory segment. Move-only; closing it does not remove the name.
class SharedMemory {
 public:
  /// shm_open(O_CREAT | O_EXCL), ftruncate, posix_fallocate. Throws Error: a bad name (says
  /// the rule), EEXIST (says how to remove it), size 0, ENOSPC (names /dev/shm's free space).
  [[nodiscard]] static SharedMemory create(const ShmOptions& options);
  /// shm_open an existing segment, read-write or read-only. Throws Error: ENOENT, EACCES
  /// (names the owner and mode), a bad name.
  [[nodiscard]] static SharedMemory open(std::string_view name, Access access = Access::read_write);
  /// shm_unlink. Processes that have it open or mapped keep it until they let go. Returns
  /// false when no such segment exists; throws Error on anything else (EACCES, bad name).
  /// Refuses (EINVAL) a name "/sem.X": the file of the named semaphore "/X", not shared memory.
  static bool remove(std::string_view name);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }
  [[nodiscard]] Access access() const noexcept { return access_; }
  /// The segment's size now (fstat): another process may have changed it.
  [[nodiscard]] std::size_t size() const;
  /// Maps the whole segment (or a part) with this object's access; see Mapping::map_fd.
  [[nodiscard]] Mapping map(MapFdOptions options = {}) const;

 private:
  SharedMemory(std::string name, Fd fd, Access access) noexcept
      : name_(std::move(name)), fd_(std::move(fd)), access_(access) {}
  std::string name_;
  Fd fd_;
  Access access_ = Access::read_write;
};

struct MemfdOptions {
  /// Shown in /proc/PID/fd as "memfd:NAME"; not a path, need not be unique.
  std::string name = "ipckit";
  std::size_t size = 0;
  /// Allow seals (MFD_ALLOW_SEALING). On by default so seal_size() works.
  bool allow_sealing = true;
};

/// An anonymous shared-memory segment (memfd_create, MFD_CLOEXEC). Move-only.
class Memfd {
 public:
  /// Throws Error: size 0, ENOSPC, EMFILE.
  [[nodiscard]] static Memfd create(const MemfdOptions& options);
  /// Adopts a memfd received from another process (inherited or passed over a socket).
  /// Checks that it is a memfd; throws Error otherwise.
  [[nodiscard]] static Memfd adopt(Fd fd);

  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }
  [[nodiscard]] std::size_t size() const;
  /// Seals the size for good: no process can shrink or grow it any more, and no further
  /// seal can be added or removed (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL).
  void seal_size() const;
  /// True when the size is sealed (a receiver checks this before trusting the mapping).
  [[nodiscard]] bool size_sealed() const;
  [[nodiscard]] Mapping map(MapFdOptions options = {}) const;

 private:
  explicit Memfd(Fd fd) noexcept : fd_(std::move(fd)) {}
  Fd fd_;
};

}  // namespace ipckit
