#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "ipckit/inspect.hpp"

namespace ipckit {
namespace {

std::uint64_t proc(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  in >> v;
  EXPECT_TRUE(in) << "cannot read " << path;
  return v;
}

TEST(Limits, AgreeWithProcSysconfAndStatvfs) {
  const Limits l = read_limits();
  EXPECT_EQ(l.page_size, static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(l.pipe_buf, 4096u);
  EXPECT_EQ(l.pipe_default_capacity, 16 * l.page_size);
  EXPECT_EQ(l.pipe_max_size, proc("/proc/sys/fs/pipe-max-size"));
  EXPECT_EQ(l.pipe_user_pages_soft, proc("/proc/sys/fs/pipe-user-pages-soft"));
  EXPECT_EQ(l.pipe_user_pages_hard, proc("/proc/sys/fs/pipe-user-pages-hard"));
  EXPECT_EQ(l.shmmax, proc("/proc/sys/kernel/shmmax"));
  EXPECT_EQ(l.shmall, proc("/proc/sys/kernel/shmall"));
  EXPECT_EQ(l.shmmni, proc("/proc/sys/kernel/shmmni"));
  EXPECT_EQ(l.msgmax, proc("/proc/sys/kernel/msgmax"));
  EXPECT_EQ(l.msgmnb, proc("/proc/sys/kernel/msgmnb"));
  EXPECT_EQ(l.msgmni, proc("/proc/sys/kernel/msgmni"));
  std::ifstream sem("/proc/sys/kernel/sem");
  std::uint64_t semmsl = 0, semmns = 0, semopm = 0, semmni = 0;
  sem >> semmsl >> semmns >> semopm >> semmni;
  EXPECT_EQ(l.semmsl, semmsl);
  EXPECT_EQ(l.semmns, semmns);
  EXPECT_EQ(l.semopm, semopm);
  EXPECT_EQ(l.semmni, semmni);
  EXPECT_EQ(l.mq_queues_max, proc("/proc/sys/fs/mqueue/queues_max"));
  EXPECT_EQ(l.mq_msg_max, proc("/proc/sys/fs/mqueue/msg_max"));
  EXPECT_EQ(l.mq_msgsize_max, proc("/proc/sys/fs/mqueue/msgsize_max"));
  struct statvfs v {};
  ASSERT_EQ(::statvfs("/dev/shm", &v), 0);
  EXPECT_EQ(l.dev_shm_total, static_cast<std::uint64_t>(v.f_blocks) * v.f_frsize);
  EXPECT_LE(l.dev_shm_free, l.dev_shm_total);
}

}  // namespace
}  // namespace ipckit
