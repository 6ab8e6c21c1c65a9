#include <cerrno>
#include <sstream>
#include <string>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ipckit/inspect.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/pipe.hpp"
#include "sys.hpp"

namespace ipckit {

Limits read_limits() {
  Limits l;
  l.page_size = page_size();

  {
    Pipe probe = Pipe::create();
    long pipe_buf = ::fpathconf(probe.read_end.get(), _PC_PIPE_BUF);
    if (pipe_buf <= 0) sys::fail("fpathconf", "_PC_PIPE_BUF", errno);
    l.pipe_buf = static_cast<std::uint64_t>(pipe_buf);
    l.pipe_default_capacity = pipe_capacity(probe.read_end);
  }

  l.pipe_max_size = pipe_max_size();
  l.pipe_user_pages_soft = sys::read_ull_file("/proc/sys/fs/pipe-user-pages-soft");
  l.pipe_user_pages_hard = sys::read_ull_file("/proc/sys/fs/pipe-user-pages-hard");
  l.shmmax = sys::read_ull_file("/proc/sys/kernel/shmmax");
  l.shmall = sys::read_ull_file("/proc/sys/kernel/shmall");
  l.shmmni = sys::read_ull_file("/proc/sys/kernel/shmmni");
  l.msgmax = sys::read_ull_file("/proc/sys/kernel/msgmax");
  l.msgmnb = sys::read_ull_file("/proc/sys/kernel/msgmnb");
  l.msgmni = sys::read_ull_file("/proc/sys/kernel/msgmni");

  const std::string sem_path = "/proc/sys/kernel/sem";
  std::istringstream sem(sys::read_text_file(sem_path));
  if (!(sem >> l.semmsl >> l.semmns >> l.semopm >> l.semmni))
    sys::fail("parse", sem_path, 0, "expected four numbers: SEMMSL SEMMNS SEMOPM SEMMNI");

  l.mq_queues_max = sys::read_ull_file("/proc/sys/fs/mqueue/queues_max");
  l.mq_msg_max = sys::read_ull_file("/proc/sys/fs/mqueue/msg_max");
  l.mq_msgsize_max = sys::read_ull_file("/proc/sys/fs/mqueue/msgsize_max");

  struct statvfs vfs {};
  if (::statvfs("/dev/shm", &vfs) == -1) sys::fail("statvfs", "/dev/shm", errno, "is tmpfs mounted on /dev/shm?");
  l.dev_shm_total = static_cast<std::uint64_t>(vfs.f_blocks) * vfs.f_frsize;
  l.dev_shm_free = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  return l;
}

}  // namespace ipckit
