// The ipckit command as a user runs it: help, version, errors, and `limits`.

#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "test_util.hpp"

namespace ipckit {
namespace {

using test::run_cli;

std::uint64_t proc(const std::string& path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  in >> v;
  return v;
}

TEST(Cli, HelpListsTheCommands) {
  auto r = run_cli({"--help"});
  EXPECT_EQ(r.status.shell_code(), 0);
  EXPECT_NE(r.out.find("limits"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bench"), std::string::npos) << r.out;
}

TEST(Cli, EveryCommandHasHelp) {
  for (const char* cmd : {"ls", "rm", "limits", "bench"}) {
    auto r = run_cli({cmd, "--help"});
    EXPECT_EQ(r.status.shell_code(), 0) << cmd;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << cmd << ": " << r.out;
  }
}

TEST(Cli, AUsageMistakeExitsWith2AndSaysWhat) {
  auto r = run_cli({"limits", "--no-such-flag"});
  EXPECT_EQ(r.status.shell_code(), 2);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST(Cli, VersionPrintsTheProjectVersion) {
  auto r = run_cli({"--version"});
  EXPECT_EQ(r.status.shell_code(), 0);
  EXPECT_EQ(r.out.rfind("ipckit 0.", 0), 0u) << r.out;
}

TEST(Cli, NoCommandOrAnUnknownOneIsAnError) {
  auto none = run_cli({});
  EXPECT_NE(none.status.shell_code(), 0);
  EXPECT_NE(none.err.find("subcommand"), std::string::npos) << none.err;
  auto unknown = run_cli({"frobnicate"});
  EXPECT_NE(unknown.status.shell_code(), 0);
  EXPECT_NE(unknown.err.find("frobnicate"), std::string::npos) << unknown.err;
}

TEST(Cli, LimitsJsonEqualsProcSysconfAndStatvfs) {
  auto r = run_cli({"limits", "--json"});
  ASSERT_EQ(r.status.shell_code(), 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.size(), 21u);
  EXPECT_EQ(j["page_size"], static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(j["pipe_buf"], 4096u);
  EXPECT_EQ(j["pipe_default_capacity"], 65536u);
  EXPECT_EQ(j["pipe_max_size"], proc("/proc/sys/fs/pipe-max-size"));
  EXPECT_EQ(j["pipe_user_pages_soft"], proc("/proc/sys/fs/pipe-user-pages-soft"));
  EXPECT_EQ(j["pipe_user_pages_hard"], proc("/proc/sys/fs/pipe-user-pages-hard"));
  EXPECT_EQ(j["shmmax"], proc("/proc/sys/kernel/shmmax"));
  EXPECT_EQ(j["shmall"], proc("/proc/sys/kernel/shmall"));
  EXPECT_EQ(j["shmmni"], proc("/proc/sys/kernel/shmmni"));
  EXPECT_EQ(j["msgmax"], proc("/proc/sys/kernel/msgmax"));
  EXPECT_EQ(j["msgmnb"], proc("/proc/sys/kernel/msgmnb"));
  EXPECT_EQ(j["msgmni"], proc("/proc/sys/kernel/msgmni"));
  std::ifstream sem("/proc/sys/kernel/sem");
  std::uint64_t semmsl = 0, semmns = 0, semopm = 0, semmni = 0;
  sem >> semmsl >> semmns >> semopm >> semmni;
  EXPECT_EQ(j["semmsl"], semmsl);
  EXPECT_EQ(j["semmns"], semmns);
  EXPECT_EQ(j["semopm"], semopm);
  EXPECT_EQ(j["semmni"], semmni);
  EXPECT_EQ(j["mq_queues_max"], proc("/proc/sys/fs/mqueue/queues_max"));
  EXPECT_EQ(j["mq_msg_max"], proc("/proc/sys/fs/mqueue/msg_max"));
  EXPECT_EQ(j["mq_msgsize_max"], proc("/proc/sys/fs/mqueue/msgsize_max"));
  struct statvfs v {};
  ASSERT_EQ(::statvfs("/dev/shm", &v), 0);
  EXPECT_EQ(j["dev_shm_total"], static_cast<std::uint64_t>(v.f_blocks) * v.f_frsize);
  // Free space moves while other tests run; it is a byte count no larger than the total.
  EXPECT_TRUE(j["dev_shm_free"].is_number_unsigned());
  EXPECT_LE(j["dev_shm_free"].get<std::uint64_t>(), j["dev_shm_total"].get<std::uint64_t>());
}

TEST(Cli, LimitsTableShowsEveryKeyWithItsSource) {
  auto r = run_cli({"limits"});
  ASSERT_EQ(r.status.shell_code(), 0) << r.err;
  for (const char* key : {"pipe_max_size", "shmmax", "semmni", "mq_msgsize_max", "dev_shm_free"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
  EXPECT_NE(r.out.find("/proc/sys/fs/pipe-max-size"), std::string::npos);
}

}  // namespace
}  // namespace ipckit
