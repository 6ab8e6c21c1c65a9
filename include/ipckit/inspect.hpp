#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "ipckit/mqueue.hpp"  // mqueue_mount_point(), mqueue_mount_hint()

// What exists on this host: the kernel's IPC limits, System V shared memory segments (from
// /proc/sysvipc/shm, as ipcs -m and lsipc show them) and POSIX shared memory objects (the
// files of /dev/shm), System V message queues and semaphore sets (/proc/sysvipc/msg, sem),
// and POSIX message queues (the mqueue filesystem), and ipckit's shm:// channels (the
// /dev/shm/ipckit-ch-* objects, with their liveness locks read by fcntl F_OFD_GETLK).
//
//   ipckit::Limits l = ipckit::read_limits();
//   for (const auto& seg : ipckit::list_sysv_shm()) std::cout << seg.key << ' ' << seg.size << '\n';
//   for (const auto& ch : ipckit::list_channels())
//     if (ch.stale == true) (void)ipckit::remove_stale_channel(ch.name);

namespace ipckit {

/// The kernel's IPC limits, read from /proc/sys, sysconf(3), fpathconf(3) and statvfs(3).
/// Field names match `ipckit limits --json`.
struct Limits {
  std::uint64_t page_size = 0;              ///< sysconf(_SC_PAGESIZE)
  std::uint64_t pipe_buf = 0;               ///< fpathconf(pipe, _PC_PIPE_BUF): atomic write size
  std::uint64_t pipe_default_capacity = 0;  ///< F_GETPIPE_SZ of a new pipe
  std::uint64_t pipe_max_size = 0;          ///< /proc/sys/fs/pipe-max-size
  std::uint64_t pipe_user_pages_soft = 0;   ///< /proc/sys/fs/pipe-user-pages-soft
  std::uint64_t pipe_user_pages_hard = 0;   ///< /proc/sys/fs/pipe-user-pages-hard (0: none)
  std::uint64_t shmmax = 0;                 ///< /proc/sys/kernel/shmmax: bytes per segment
  std::uint64_t shmall = 0;                 ///< /proc/sys/kernel/shmall: pages in all
  std::uint64_t shmmni = 0;                 ///< /proc/sys/kernel/shmmni: segments
  std::uint64_t msgmax = 0;                 ///< /proc/sys/kernel/msgmax: bytes per message
  std::uint64_t msgmnb = 0;                 ///< /proc/sys/kernel/msgmnb: bytes per queue
  std::uint64_t msgmni = 0;                 ///< /proc/sys/kernel/msgmni: queues
  std::uint64_t semmsl = 0;                 ///< /proc/sys/kernel/sem field 1: semaphores per set
  std::uint64_t semmns = 0;                 ///< field 2: semaphores in all
  std::uint64_t semopm = 0;                 ///< field 3: operations per semop call
  std::uint64_t semmni = 0;                 ///< field 4: sets
  std::uint64_t mq_queues_max = 0;          ///< /proc/sys/fs/mqueue/queues_max
  std::uint64_t mq_msg_max = 0;             ///< /proc/sys/fs/mqueue/msg_max
  std::uint64_t mq_msgsize_max = 0;         ///< /proc/sys/fs/mqueue/msgsize_max
  std::uint64_t dev_shm_total = 0;          ///< statvfs("/dev/shm"): bytes in all
  std::uint64_t dev_shm_free = 0;           ///< bytes free for unprivileged users (f_bavail)
};

/// Reads every limit. Throws Error naming the file or call that failed.
[[nodiscard]] Limits read_limits();

/// One System V shared memory segment, with the fields of `ipckit ls --json` ("sysv_shm").
struct SysvShmInfo {
  std::string key;      ///< "0x0000162e" (0x00000000 once marked for removal)
  int id = 0;           ///< shmid
  std::string owner;    ///< user name of the owner uid (the number when it has no name)
  std::string perms;    ///< "0600"
  std::uint64_t size = 0;
  std::uint64_t nattch = 0;
  pid_t cpid = 0;
  pid_t lpid = 0;
  std::string status;   ///< "dest" when marked for removal, else ""
  uid_t uid = 0;
  std::int64_t atime = 0, dtime = 0, ctime = 0;  ///< seconds since the epoch (0: never)
};

/// Every System V segment this process may see, from /proc/sysvipc/shm, ordered by id.
/// Throws Error when the file cannot be read.
[[nodiscard]] std::vector<SysvShmInfo> list_sysv_shm();

/// One POSIX shared memory object, with the fields of `ipckit ls --json` ("posix_shm").
struct PosixShmInfo {
  std::string name;     ///< "/orders": the name shm_open takes
  std::uint64_t size = 0;
  std::string owner;
  std::string perms;    ///< "0600"
  uid_t uid = 0;
};

/// Every POSIX shared memory object in /dev/shm (not following symlinks; other kinds of file
/// there, such as the sem.* files of named semaphores, are left out), ordered by name.
[[nodiscard]] std::vector<PosixShmInfo> list_posix_shm();

/// One System V message queue, with the fields of `ipckit ls --json` ("sysv_msg").
struct SysvMsgInfo {
  std::string key;      ///< "0x0000162e"
  int id = 0;           ///< msqid
  std::string owner;
  std::string perms;    ///< "0600"
  std::uint64_t used_bytes = 0;  ///< bytes of message text held (cbytes)
  std::uint64_t messages = 0;    ///< qnum
  pid_t lspid = 0;      ///< last sender
  pid_t lrpid = 0;      ///< last receiver
  uid_t uid = 0;
  std::int64_t stime = 0, rtime = 0, ctime = 0;
};

/// Every System V message queue, from /proc/sysvipc/msg, ordered by id. Throws Error.
[[nodiscard]] std::vector<SysvMsgInfo> list_sysv_msg();

/// One System V semaphore set, with the fields of `ipckit ls --json` ("sysv_sem").
struct SysvSemInfo {
  std::string key;
  int id = 0;           ///< semid
  std::string owner;
  std::string perms;
  std::uint64_t nsems = 0;
  uid_t uid = 0;
  std::int64_t otime = 0, ctime = 0;
};

/// Every System V semaphore set, from /proc/sysvipc/sem, ordered by id. Throws Error.
[[nodiscard]] std::vector<SysvSemInfo> list_sysv_sem();

/// One POSIX message queue, with the fields of `ipckit ls --json` ("posix_mq").
struct PosixMqInfo {
  std::string name;     ///< "/orders": the name mq_open takes
  std::string owner;
  std::string perms;
  /// false when this process may not open the queue's file (another user's 0600 queue):
  /// messages, msg_max, msgsize_max and bytes are then unknown and left 0 (`ls` shows
  /// null in JSON, "?" in text). Name, owner, perms and uid are always true.
  bool readable = true;
  std::uint64_t messages = 0;     ///< messages in the queue now
  std::uint64_t msg_max = 0;      ///< mq_maxmsg
  std::uint64_t msgsize_max = 0;  ///< mq_msgsize
  std::uint64_t bytes = 0;        ///< QSIZE: bytes of message text held
  uid_t uid = 0;
};

/// Every POSIX message queue, read from the mqueue filesystem (each file's QSIZE line and
/// its attributes, through mq_getattr on a read-only open that never receives), ordered by
/// name. Throws Error when the filesystem is not mounted, with mqueue_mount_hint().
[[nodiscard]] std::vector<PosixMqInfo> list_posix_mq();
/// As list_posix_mq(), through the mount at `mount_point` (what mqueue_mount_point()
/// returned; "" throws as not mounted), so a caller that shows the mount point lists that
/// very mount.
[[nodiscard]] std::vector<PosixMqInfo> list_posix_mq(const std::string& mount_point);

/// One shm:// channel (the POSIX shm object "/ipckit-ch-NAME"), with the fields of
/// `ipckit ls --json` ("channels"). Liveness comes from the open-file-description locks the
/// channel's ends hold on the object (the listener on byte 0, the sender of slot i on byte
/// 1 + i), which the kernel drops when a process dies; pids in the segment are shown, never
/// trusted. Values read from the segment are used only once checked against its size (fstat).
struct ChannelInfo {
  std::string name;             ///< "NAME", as in shm://NAME ("@NAME" for a memfd channel, shm://@NAME)
  /// "/ipckit-ch-NAME": its POSIX shm object (`ipckit rm --shm` takes it); for a memfd
  /// channel "memfd:ipckit-ch-NAME", the memfd's name, which nothing can remove
  std::string object;
  /// A memfd channel (shm://@NAME): no name in /dev/shm, found through the descriptors of the
  /// processes that hold it (/proc/PID/fd). The kernel frees it when its last holder closes
  /// it, so it is never stale: `stale` is false while an end holds its lock, and unknown
  /// (nullopt, see note) when only descriptors without a lock are left.
  bool memfd = false;
  std::vector<pid_t> holders;   ///< memfd channel: the processes with a descriptor of it, ascending
  std::uint64_t capacity = 0;   ///< data bytes of each sender's ring (the URL's capacity=); 0: unknown (see note)
  std::uint32_t slots = 0;      ///< senders it takes at once; 0: unknown
  std::uint64_t size = 0;       ///< the object's bytes (fstat)
  pid_t writer_pid = 0;         ///< a live sender's pid (the first of writer_pids), 0 when none
  std::vector<pid_t> writer_pids;  ///< the pids recorded by the senders whose lock is held
  std::uint32_t writers = 0;    ///< senders whose lock is held (one may not have recorded its pid yet)
  pid_t reader_pid = 0;         ///< the listener's recorded pid while its lock is held, else 0
  bool reader_alive = false;    ///< a listener holds the lock on byte 0
  /// true: nobody holds any lock on the object, so every end is dead (or, for an object left
  /// empty, its listener died while creating it); false: a listener or a sender lives;
  /// nullopt: unknown (not readable by this user, a layout this ipckit does not know, or an
  /// empty object that may be being created this instant); `note` says which.
  std::optional<bool> stale;
  std::string note;             ///< why a value is unknown, or what is odd; "" for a sound live channel
  std::string owner;
  std::string perms;            ///< "0600"
  uid_t uid = 0;
};

/// Every shm:// channel: the regular files "ipckit-ch-*" of /dev/shm, each opened read-only
/// (never followed through a symlink), its header and slot table read with pread and checked
/// (magic, version, sizes, and the geometry against fstat), its locks tested with F_OFD_GETLK.
/// An object this user may not open is listed with its owner and mode and stale unknown.
/// Then the memfd channels (shm://@NAME): the descriptors "/memfd:ipckit-ch-NAME" in
/// /proc/PID/fd of every process this user may inspect (all of them for root; another user's
/// processes are not seen), each memfd listed once, examined the same way through a read-only
/// open of /proc/PID/fd/N. Ordered by name. Throws Error when /dev/shm cannot be read.
[[nodiscard]] std::vector<ChannelInfo> list_channels();

/// What remove_stale_channel found.
enum class StaleRemoval {
  removed,    ///< it was stale: its name is gone
  not_stale,  ///< a listener or sender holds a lock now
  unknown,    ///< whether it is stale cannot be told (ChannelInfo::stale is nullopt)
  gone,       ///< there is no such channel (any more)
};

/// Removes channel `name` ("NAME" of shm://NAME) only when it is stale, looking again right
/// before shm_unlink: the object is opened, its locks tested, and the name unlinked only
/// while it still names the object that was tested. Throws Error when the unlink is refused
/// (EACCES/EPERM: another user's object in the sticky /dev/shm) or the name is invalid.
[[nodiscard]] StaleRemoval remove_stale_channel(const std::string& name);

/// A user's name for messages and listings ("root"), or the number when it has none.
[[nodiscard]] std::string user_name(uid_t uid);

}  // namespace ipckit
