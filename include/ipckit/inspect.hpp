#pragma once

#include <cstdint>

// What exists on this host. This issue gives the kernel's IPC limits; listing System V
// objects, POSIX objects and channels comes with the mechanisms that make them.
//
//   ipckit::Limits l = ipckit::read_limits();
//   std::cout << "pipes may grow to " << l.pipe_max_size << " bytes\n";

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

}  // namespace ipckit
