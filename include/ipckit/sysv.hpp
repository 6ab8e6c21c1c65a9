#pragma once

#include <cstddef>
#include <ctime>
#include <filesystem>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/region.hpp"

// System V IPC: keys (ftok), shared-memory segments (shmget, shmat, shmdt, shmctl; seed
// claims H1–H11), message queues and semaphore sets (Q1, Q2; further down). Each object
// lives in the kernel until it is removed (or the machine reboots), whether or not any
// process uses it; `ipcs` and `ipckit ls` list them.
//
//   auto key = ipckit::sysv::Key::from_path("/etc/myapp", 'A');       // ftok
//   auto seg = ipckit::sysv::SharedMemory::create({.key = key, .size = 4096});
//   ipckit::sysv::Attachment a = seg.attach();                        // shmat; ~ does shmdt
//   a.as<int>(0) = 42;
//   unsigned long n = seg.stat().nattch;                              // 1
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

// --- System V message queues (msgget, msgsnd, msgrcv, msgctl), seed Q1 -------------------
//
//   auto q = ipckit::sysv::MessageQueue::create({.key = key});
//   (void)q.send(/*type=*/2, std::as_bytes(std::span{"hi", 2}));  // waits for room: ok or Error
//   std::array<std::byte, 64> buf;
//   auto r = q.receive(buf, /*type=*/0);       // r.type == 2, r.bytes == 2 (0: the first, any type)
//   std::size_t held = q.stat().messages;      // 0
//   q.remove();                                 // IPC_RMID: gone at once; blocked callers get EIDRM

struct MsgCreateOptions {
  Key key = Key::private_key();
  mode_t mode = 0600;
  /// IPC_EXCL: fail with EEXIST when the key is taken (default); when false, open it.
  bool exclusive = true;
};

/// What IPC_STAT says about a queue.
struct MsgStat {
  Key key = Key::private_key();
  std::size_t messages = 0;     ///< msg_qnum
  std::size_t bytes = 0;        ///< __msg_cbytes: bytes of message text held now
  std::size_t max_bytes = 0;    ///< msg_qbytes: what the queue may hold (msgmnb by default)
  pid_t last_send_pid = 0;      ///< msg_lspid
  pid_t last_receive_pid = 0;   ///< msg_lrpid
  std::time_t stime = 0, rtime = 0, ctime = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uid_t cuid = 0;
  gid_t cgid = 0;
  mode_t mode = 0;
};

/// What one receive gave.
struct [[nodiscard]] MsgReceived {
  IoStatus status = IoStatus::ok;  ///< ok, would_block (Deadline::now(), nothing matched) or timed_out
  long type = 0;                   ///< the message's type (> 0), when ok
  std::size_t bytes = 0;           ///< its length, when ok
  [[nodiscard]] bool ok() const noexcept { return status == IoStatus::ok; }
};

/// A System V message queue, named by its id. A plain copyable handle, like SharedMemory.
class MessageQueue {
 public:
  /// msgget(key, IPC_CREAT | [IPC_EXCL] | mode). Throws Error: EEXIST (says how to remove
  /// it), ENOSPC (msgmni reached, named), EACCES.
  [[nodiscard]] static MessageQueue create(const MsgCreateOptions& options);
  /// msgget(key, 0). Throws Error: ENOENT (says how to list the queues and their keys),
  /// EACCES (names the owner and mode), IPC_PRIVATE (EINVAL: it finds no queue).
  [[nodiscard]] static MessageQueue open(Key key);
  /// A queue by id (as `ipcs -q` shows), checked with IPC_STAT. Throws Error when none.
  [[nodiscard]] static MessageQueue from_id(int id);

  [[nodiscard]] int id() const noexcept { return id_; }

  /// msgsnd: one message of `type` (> 0). While the queue is full: Deadline::never() sleeps
  /// in msgsnd, Deadline::now() returns would_block (IPC_NOWAIT), another deadline tries again
  /// every 100 µs to 10 ms (System V has no timed wait) and returns timed_out once it passes. Throws Error: type <= 0, a message longer than
  /// msgmax (names /proc/sys/kernel/msgmax), EINVAL or EIDRM (the queue was removed: EINVAL
  /// when before the call, EIDRM while waiting), EACCES.
  [[nodiscard]] IoStatus send(long type, std::span<const std::byte> message,
                              Deadline deadline = Deadline::never()) const;
  /// msgrcv by type (seed Q1): 0 takes the first message; a positive type the first of that
  /// type; a negative type the first of the lowest type <= |type|. A message longer than
  /// `buffer` is an Error (E2BIG, saying how big a buffer it needs) and stays in the queue.
  /// With nothing to take, it waits as send does: never(), now() (would_block), or a deadline
  /// (timed_out).
  /// Throws Error: EINVAL or EIDRM (removed before the call, or while waiting), EACCES.
  MsgReceived receive(std::span<std::byte> buffer, long type = 0, Deadline deadline = Deadline::never()) const;
  /// IPC_STAT. Throws Error (EINVAL/EIDRM once removed).
  [[nodiscard]] MsgStat stat() const;
  /// IPC_RMID: the queue and its messages go at once. Removing one already gone is not an
  /// error. Throws Error: EPERM.
  void remove() const;

 private:
  explicit MessageQueue(int id) noexcept : id_(id) {}
  int id_ = -1;
};

// --- System V semaphore sets (semget, semop, semtimedop, semctl), seed Q2 and I3 ----------
//
//   auto set = ipckit::sysv::SemaphoreSet::create({.key = key, .count = 1, .initial = 1});
//   (void)set.apply({{.index = 0, .delta = -1, .undo = true}});  // take it; given back if we die
//   ...                                                         // (no deadline: ok or an Error)
//   (void)set.apply({{.index = 0, .delta = +1, .undo = true}});  // give it back
//   set.remove();

struct SemSetCreateOptions {
  Key key = Key::private_key();
  /// Semaphores in the set (1..semmsl).
  int count = 1;
  /// Every semaphore's starting value (0..32767, SEMVMX), set with SETALL right after creation.
  unsigned short initial = 0;
  mode_t mode = 0600;
  bool exclusive = true;
};

/// One operation of a semop call. All operations of one apply() happen atomically: all or
/// none.
struct SemOp {
  unsigned short index = 0;  ///< which semaphore of the set
  short delta = 0;           ///< > 0 adds; < 0 takes (waits while the value is too small);
                             ///< 0 waits until the value is 0
  bool undo = false;         ///< SEM_UNDO: the kernel reverses it if this process dies
};

/// What IPC_STAT says about a set.
struct SemStat {
  Key key = Key::private_key();
  std::size_t count = 0;    ///< sem_nsems
  std::time_t otime = 0;    ///< last semop
  std::time_t ctime = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  uid_t cuid = 0;
  gid_t cgid = 0;
  mode_t mode = 0;
};

/// A System V semaphore set, named by its id. A plain copyable handle.
class SemaphoreSet {
 public:
  /// semget(key, count, IPC_CREAT | [IPC_EXCL] | mode), then SETALL to `initial` when the
  /// set is new, and one no-op operation so that stat().otime != 0 marks it initialised.
  /// With .exclusive = false, a set that already exists is returned once its otime != 0
  /// (another process's create may be between its semget and its SETALL), waiting for that
  /// at most 250 ms (a set made by `ipcmk -S` keeps otime 0 until someone operates on it).
  /// Throws Error: count out of 1..semmsl (named), initial above 32767 (ERANGE), EEXIST,
  /// ENOSPC (semmni or semmns, named), EACCES.
  [[nodiscard]] static SemaphoreSet create(const SemSetCreateOptions& options);
  /// semget(key, 0, 0); does not wait for initialisation (see create). Throws Error: ENOENT
  /// (says how to list the sets and their keys), EACCES.
  [[nodiscard]] static SemaphoreSet open(Key key);
  /// A set by id (as `ipcs -s` shows), checked with IPC_STAT. Throws Error when none.
  [[nodiscard]] static SemaphoreSet from_id(int id);

  [[nodiscard]] int id() const noexcept { return id_; }

  /// semop/semtimedop: applies every operation atomically, waiting until the deadline
  /// (Deadline::now() or one already past: semop with IPC_NOWAIT; never(): semop). Returns ok,
  /// would_block (now()) or timed_out. Retries EINTR with the time left. Throws Error: an
  /// index outside the set (EFBIG) or a value pushed above 32767 (ERANGE), more operations
  /// than semopm, an empty list (each names the limit), EINVAL or EIDRM (the set was removed:
  /// EINVAL when before the call, EIDRM while waiting), EACCES.
  [[nodiscard]] IoStatus apply(std::span<const SemOp> operations, Deadline deadline = Deadline::never()) const;
  [[nodiscard]] IoStatus apply(std::initializer_list<SemOp> operations,
                               Deadline deadline = Deadline::never()) const {
    return apply(std::span<const SemOp>{operations.begin(), operations.size()}, deadline);
  }

  /// GETVAL / SETVAL (0..32767; setting clears every process's undo for it).
  [[nodiscard]] int value(unsigned short index) const;
  void set_value(unsigned short index, int value) const;
  /// GETALL / SETALL (values.size() must equal the set's count).
  [[nodiscard]] std::vector<unsigned short> values() const;
  void set_values(std::span<const unsigned short> values) const;
  /// GETPID: the last process to operate on a semaphore. GETNCNT / GETZCNT: processes waiting
  /// for it to grow / to be zero.
  [[nodiscard]] pid_t last_pid(unsigned short index) const;
  [[nodiscard]] int waiting_to_take(unsigned short index) const;
  [[nodiscard]] int waiting_for_zero(unsigned short index) const;
  /// IPC_STAT. Throws Error.
  [[nodiscard]] SemStat stat() const;
  /// IPC_RMID: gone at once; blocked callers get EIDRM. Removing one already gone is not an
  /// error. Throws Error: EPERM.
  void remove() const;

 private:
  explicit SemaphoreSet(int id) noexcept : id_(id) {}
  int id_ = -1;
};

}  // namespace ipckit::sysv
