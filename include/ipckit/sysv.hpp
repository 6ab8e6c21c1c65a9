#pragma once

#include <cstddef>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "ipckit/mapping.hpp"
#include "ipckit/region.hpp"

// System V IPC: keys (ftok) and shared-memory segments (shmget, shmat, shmdt, shmctl), seed
// claims H1–H11. A segment lives in the kernel until it is removed (or the machine reboots),
// whether or not any process has it attached; `ipcs -m` and `ipckit ls` list it.
//
//   auto key = ipckit::sysv::Key::from_path("/etc/myapp", 'A');       // ftok
//   auto seg = ipckit::sysv::SharedMemory::create({.key = key, .size = 4096});
//   ipckit::sysv::Attachment a = seg.attach();                        // shmat; ~ does shmdt
//   a.as<int>(0) = 42;
//   seg.stat().nattch;                                                // 1
//   seg.remove();   // IPC_RMID: destroyed at the last detach; key then reads 0x00000000
//
// On Linux a segment marked for removal can still be attached by id until its last detach
// (the man page calls this Linux-specific); ipckit allows it as Linux does.

namespace ipckit::sysv {

/// A System V IPC key: the name processes agree on. Value type.
class Key {
 public:
  /// ftok(3): a key from an existing path (its inode and device) and the low 8 bits of
  /// `proj_id`, which must not be 0. Throws Error: a path that does not exist (ENOENT, named),
  /// proj_id whose low 8 bits are 0.
  [[nodiscard]] static Key from_path(const std::filesystem::path& path, int proj_id);
  /// IPC_PRIVATE: every create makes a new object that only its id can find.
  [[nodiscard]] static constexpr Key private_key() noexcept { return Key{0}; }
  [[nodiscard]] static constexpr Key from_value(key_t value) noexcept { return Key{value}; }
  /// "0x0000162e" (as ipcs prints keys), or decimal. Throws Error on anything else.
  [[nodiscard]] static Key parse(std::string_view text);

  [[nodiscard]] constexpr key_t value() const noexcept { return value_; }
  [[nodiscard]] constexpr bool is_private() const noexcept { return value_ == 0; }
  /// "0x0000162e".
  [[nodiscard]] std::string to_string() const;
  friend constexpr bool operator==(Key, Key) noexcept = default;

 private:
  constexpr explicit Key(key_t value) noexcept : value_(value) {}
  key_t value_ = 0;
};

struct ShmCreateOptions {
  Key key = Key::private_key();
  /// Bytes (> 0; at most /proc/sys/kernel/shmmax). The kernel rounds up to whole pages.
  std::size_t size = 0;
  /// Permission bits. Owner-only by default.
  mode_t mode = 0600;
  /// IPC_EXCL: fail with EEXIST when the key is taken (default). When false, an existing
  /// segment of at least `size` bytes is used instead (H1).
  bool exclusive = true;
};

/// What IPC_STAT says about a segment.
struct ShmStat {
  Key key = Key::private_key();  ///< 0x00000000 once marked for removal (H7)
  std::size_t size = 0;          ///< shm_segsz, bytes asked at creation
  unsigned long nattch = 0;      ///< attached processes (H6)
  pid_t cpid = 0;                ///< creator
  pid_t lpid = 0;                ///< last shmat/shmdt
  std::time_t atime = 0;         ///< last attach (0: never)
  std::time_t dtime = 0;         ///< last detach
  std::time_t ctime = 0;         ///< creation or last IPC_SET
  uid_t uid = 0;                 ///< owner
  gid_t gid = 0;
  uid_t cuid = 0;                ///< creator's
  gid_t cgid = 0;
  mode_t mode = 0;               ///< permission bits (0777)
  bool marked_for_removal = false;  ///< SHM_DEST: destroyed at the last detach (H7)
};

/// A shared memory segment attached to this process (shmat); detaches (shmdt) exactly once
/// on destruction (H5). Move-only; the bytes are checked as in Region.
class Attachment : public Region {
 public:
  Attachment() noexcept = default;
  Attachment(Attachment&& other) noexcept : Region(other) { other.forget(); }
  Attachment& operator=(Attachment&& other) noexcept;
  Attachment(const Attachment&) = delete;
  Attachment& operator=(const Attachment&) = delete;
  ~Attachment();

 private:
  friend class SharedMemory;
  Attachment(void* address, std::size_t length, bool writable) noexcept
      : Region(address, length, writable) {}
  void forget() noexcept { address_ = nullptr; length_ = 0; writable_ = false; }
};

/// A System V shared memory segment, named by its id. A plain handle: it owns nothing that
/// needs releasing (the segment outlives every process, H8), so it is freely copyable.
class SharedMemory {
 public:
  /// shmget(key, size, IPC_CREAT | [IPC_EXCL] | mode). New segments are zero-filled (H1).
  /// Throws Error: EEXIST (H2; says how to remove it), EINVAL (size 0, above shmmax, or an
  /// existing segment smaller than asked), ENOSPC (shmall/shmmni reached, naming them).
  [[nodiscard]] static SharedMemory create(const ShmCreateOptions& options);
  /// shmget(key, 0, 0): the existing segment. Throws Error: ENOENT (no segment with that
  /// key), EACCES (names the owner and mode).
  [[nodiscard]] static SharedMemory open(Key key);
  /// A segment by id (as `ipcs -m` shows), checked with IPC_STAT. Throws Error when no
  /// segment has that id.
  [[nodiscard]] static SharedMemory from_id(int id);

  [[nodiscard]] int id() const noexcept { return id_; }

  /// shmat: read-write or read-only (SHM_RDONLY), at an address the kernel picks (H4).
  /// Throws Error: EACCES (names the mode), EIDRM.
  [[nodiscard]] Attachment attach(Access access = Access::read_write) const;
  /// IPC_STAT. Throws Error (EINVAL/EIDRM once destroyed).
  [[nodiscard]] ShmStat stat() const;
  /// IPC_SET: new owner (uid, gid) and permission bits (H9). Throws Error: EPERM.
  void set_owner(uid_t uid, gid_t gid) const;
  void set_mode(mode_t mode) const;
  /// IPC_RMID: marks the segment for removal; it is destroyed when the last process detaches
  /// (H7). Calling it again, or on a segment already gone, is not an error. Throws Error on
  /// anything else (EPERM: not the owner or creator).
  void remove() const;

 private:
  explicit SharedMemory(int id) noexcept : id_(id) {}
  int id_ = -1;
};

}  // namespace ipckit::sysv
