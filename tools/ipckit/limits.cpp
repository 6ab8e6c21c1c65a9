// `ipckit limits [--json]`: the kernel's IPC limits and /dev/shm space.

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "ipckit/inspect.hpp"

namespace ipckit::cli {
namespace {

struct Row {
  const char* key;
  std::uint64_t value;
  const char* source;
};

std::vector<Row> rows(const Limits& l) {
  return {
      {"page_size", l.page_size, "sysconf(_SC_PAGESIZE)"},
      {"pipe_buf", l.pipe_buf, "fpathconf(_PC_PIPE_BUF): atomic pipe write"},
      {"pipe_default_capacity", l.pipe_default_capacity, "F_GETPIPE_SZ of a new pipe"},
      {"pipe_max_size", l.pipe_max_size, "/proc/sys/fs/pipe-max-size"},
      {"pipe_user_pages_soft", l.pipe_user_pages_soft, "/proc/sys/fs/pipe-user-pages-soft"},
      {"pipe_user_pages_hard", l.pipe_user_pages_hard, "/proc/sys/fs/pipe-user-pages-hard"},
      {"shmmax", l.shmmax, "/proc/sys/kernel/shmmax (bytes per segment)"},
      {"shmall", l.shmall, "/proc/sys/kernel/shmall (pages in all)"},
      {"shmmni", l.shmmni, "/proc/sys/kernel/shmmni (segments)"},
      {"msgmax", l.msgmax, "/proc/sys/kernel/msgmax (bytes per message)"},
      {"msgmnb", l.msgmnb, "/proc/sys/kernel/msgmnb (bytes per queue)"},
      {"msgmni", l.msgmni, "/proc/sys/kernel/msgmni (queues)"},
      {"semmsl", l.semmsl, "/proc/sys/kernel/sem [1] (semaphores per set)"},
      {"semmns", l.semmns, "/proc/sys/kernel/sem [2] (semaphores in all)"},
      {"semopm", l.semopm, "/proc/sys/kernel/sem [3] (operations per semop)"},
      {"semmni", l.semmni, "/proc/sys/kernel/sem [4] (sets)"},
      {"mq_queues_max", l.mq_queues_max, "/proc/sys/fs/mqueue/queues_max"},
      {"mq_msg_max", l.mq_msg_max, "/proc/sys/fs/mqueue/msg_max"},
      {"mq_msgsize_max", l.mq_msgsize_max, "/proc/sys/fs/mqueue/msgsize_max"},
      {"dev_shm_total", l.dev_shm_total, "statvfs(/dev/shm): bytes"},
      {"dev_shm_free", l.dev_shm_free, "statvfs(/dev/shm): bytes free"},
  };
}

}  // namespace

void add_limits_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("limits", "Show the kernel's IPC limits and /dev/shm space");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print one JSON object (keys as in the table)");
  cmd->callback([json, &exit_code] {
    const Limits limits = read_limits();
    if (*json) {
      nlohmann::ordered_json out = nlohmann::ordered_json::object();
      for (const auto& r : rows(limits)) out[r.key] = r.value;
      fmt::print("{}\n", out.dump(2));
    } else {
      for (const auto& r : rows(limits)) fmt::print("{:<22} {:>22}  {}\n", r.key, r.value, r.source);
    }
    exit_code = 0;
  });
}

}  // namespace ipckit::cli
