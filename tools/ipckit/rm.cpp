// `ipckit rm`: remove IPC objects, with ipcrm's flags plus POSIX names and stale channels.
//
//   ipckit rm -m 65538 -M 0x0000162e -q 3 -S 0x0000abcd --shm /orders --mq /jobs
//   ipckit rm --stale
//
// Each object named is removed on its own, in the order given: one that cannot be removed
// (no such id, key or name; not allowed; a malformed argument) is reported on stderr, naming
// it, and the others are still removed, as ipcrm does. The exit code is 1 when any failed.
// --stale then removes every shm:// channel whose ends are all dead (ipckit::list_channels,
// then ipckit::remove_stale_channel, which looks at its locks again right before it unlinks).

#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <iterator>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "names.hpp"
#include "ipckit/error.hpp"
#include "ipckit/inspect.hpp"
#include "ipckit/mqueue.hpp"
#include "ipckit/shm.hpp"
#include "ipckit/sysv.hpp"

namespace ipckit::cli {
namespace {

// The values of every flag, bound by CLI11; their order on the command line comes from
// App::parse_order().
struct RmArgs {
  std::vector<std::string> shm_ids;    // -m
  std::vector<std::string> shm_keys;   // -M
  std::vector<std::string> posix_shm;  // --shm
  std::vector<std::string> msg_ids;    // -q
  std::vector<std::string> msg_keys;   // -Q
  std::vector<std::string> sem_ids;    // -s
  std::vector<std::string> sem_keys;   // -S
  std::vector<std::string> posix_mq;   // --mq
  bool stale = false;                  // --stale
};

// A failure ipckit finds itself (a malformed id, an absent name): the message is the text.
struct Refused : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The id of a `kind` ("segment", "queue", "semaphore set") as ipcs shows it in `column`
// ("shmid"...) after `ls_flag` ("-m"...).
int parse_id(const std::string& text, const char* kind, const char* column, const char* ls_flag) {
  int id = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id < 0) {
    throw Refused(std::string("not a ") + kind + " id: ids are the decimal numbers of the " +
                  column + " column of `ipckit ls --sysv " + ls_flag + "` (or `ipcs " + ls_flag +
                  "`)");
  }
  return id;
}

// A key for -M/-Q/-S. IPC_PRIVATE (0) finds nothing: `why_none` says why and what to do.
sysv::Key parse_key(const std::string& text, const std::string& why_none) {
  const sysv::Key key = sysv::Key::parse(text);
  if (key.is_private()) throw Refused("key 0x00000000 (IPC_PRIVATE) finds no " + why_none);
  return key;
}

// After IPC_RMID a segment still attached somewhere lives on until its last detach: say so,
// or the user will wonder why `ipckit ls` still shows it (status "dest", key 0x00000000).
void note_if_still_attached(const sysv::SharedMemory& segment) {
  try {
    const sysv::ShmStat st = segment.stat();
    if (st.nattch > 0) {
      fmt::print(
          "shm id {}: marked for removal; {} process(es) still attached, it is destroyed "
          "when the last one detaches\n",
          segment.id(), st.nattch);
    }
  } catch (const Error&) {
    // Gone already, or not readable by us: nothing to add.
  }
}

void remove_sysv_shm_by_id(const std::string& text) {
  const auto segment = sysv::SharedMemory::from_id(parse_id(text, "segment", "shmid", "-m"));
  segment.remove();
  note_if_still_attached(segment);
}

void remove_sysv_shm_by_key(const std::string& text) {
  const auto segment = sysv::SharedMemory::open(parse_key(
      text,
      "segment: private segments and those marked for removal have no key; remove them by id "
      "with -m ID"));
  segment.remove();
  note_if_still_attached(segment);
}

// A POSIX name as given to --shm or --mq: "/orders" or "orders" (the slash is added).
std::string posix_name(const std::string& text) {
  return !text.empty() && text.front() == '/' ? text : "/" + text;
}

void remove_posix_shm(const std::string& text) {
  const std::string name = posix_name(text);
  if (!SharedMemory::remove(name)) {
    throw Refused("no POSIX shared memory object \"" + name + "\" (no file /dev/shm" + name +
                  "); `ipckit ls --posix` lists them");
  }
}

// A System V message queue or semaphore set goes at once with its messages or values; any
// process waiting on it wakes with EIDRM.
void remove_sysv_msg_by_id(const std::string& text) {
  sysv::MessageQueue::from_id(parse_id(text, "queue", "msqid", "-q")).remove();
}

void remove_sysv_msg_by_key(const std::string& text) {
  sysv::MessageQueue::open(
      parse_key(text, "queue: private queues have no key; remove them by id with -q ID"))
      .remove();
}

void remove_sysv_sem_by_id(const std::string& text) {
  sysv::SemaphoreSet::from_id(parse_id(text, "semaphore set", "semid", "-s")).remove();
}

void remove_sysv_sem_by_key(const std::string& text) {
  sysv::SemaphoreSet::open(
      parse_key(text, "semaphore set: private sets have no key; remove them by id with -s ID"))
      .remove();
}

void remove_posix_mq(const std::string& text) {
  const std::string name = posix_name(text);
  if (!MessageQueue::remove(name)) {
    throw Refused("no POSIX message queue \"" + name +
                  "\"; `ipckit ls --posix -q` lists them (with the mqueue filesystem mounted)");
  }
}

// Every channel the listing calls stale, each looked at again just before it goes: one line
// per channel removed, "no stale channels" when none was. A channel whose staleness is
// unknown (another user's, or one being created) is left alone, with a line on stderr.
// Returns how many removals failed.
int remove_stale_channels() {
  int failures = 0;
  int removed = 0;
  for (const ChannelInfo& c : list_channels()) {
    if (!c.stale) {
      fmt::print(stderr, "ipckit rm --stale: left shm://{} alone: whether it is stale is unknown ({})\n",
                 shown(c.name), shown(c.note));
      continue;
    }
    if (!*c.stale) continue;
    try {
      switch (remove_stale_channel(c.name)) {
        case StaleRemoval::removed:
          fmt::print("removed stale channel shm://{} ({}){}\n", shown(c.name), shown(c.object),
                     c.note.empty() ? "" : ": " + shown(c.note));
          ++removed;
          break;
        case StaleRemoval::not_stale:  // an end came (back) since the listing: it lives
        case StaleRemoval::unknown:
        case StaleRemoval::gone:       // removed by someone else meanwhile
          break;
      }
    } catch (const std::exception& e) {  // ipckit::Error: not allowed
      fmt::print(stderr, "ipckit rm --stale shm://{}: {}\n", shown(c.name), shown(e.what()));
      ++failures;
    }
  }
  if (removed == 0 && failures == 0) fmt::print("no stale channels\n");
  return failures;
}

void run_rm(const CLI::App& cmd, const RmArgs& args, int& exit_code) {
  // One row per flag that removes something: its option, its remover and its values.
  struct Remover {
    const CLI::Option* option;
    void (*remove)(const std::string&);
    const std::vector<std::string>* values;
  };
  const Remover removers[] = {
      {cmd.get_option("-m"), &remove_sysv_shm_by_id, &args.shm_ids},
      {cmd.get_option("-M"), &remove_sysv_shm_by_key, &args.shm_keys},
      {cmd.get_option("--shm"), &remove_posix_shm, &args.posix_shm},
      {cmd.get_option("-q"), &remove_sysv_msg_by_id, &args.msg_ids},
      {cmd.get_option("-Q"), &remove_sysv_msg_by_key, &args.msg_keys},
      {cmd.get_option("-s"), &remove_sysv_sem_by_id, &args.sem_ids},
      {cmd.get_option("-S"), &remove_sysv_sem_by_key, &args.sem_keys},
      {cmd.get_option("--mq"), &remove_posix_mq, &args.posix_mq},
  };

  // parse_order() holds one entry per value given, so the n-th time an option appears in it
  // is its n-th value.
  std::map<const CLI::Option*, std::size_t> seen;
  std::size_t attempted = 0;
  int failures = 0;
  for (const CLI::Option* opt : cmd.parse_order()) {
    const auto* it = std::find_if(std::begin(removers), std::end(removers),
                                  [opt](const Remover& r) { return r.option == opt; });
    if (it == std::end(removers)) continue;
    const std::size_t n = seen[opt]++;
    if (n >= it->values->size()) continue;
    const std::string& value = (*it->values)[n];
    ++attempted;
    try {
      it->remove(value);
    } catch (const std::exception& e) {  // ipckit::Error, Refused
      fmt::print(stderr, "ipckit rm {} {}: {}\n", opt->get_name(), value, e.what());
      ++failures;
    }
  }

  if (args.stale) {
    ++attempted;
    try {
      failures += remove_stale_channels();
    } catch (const std::exception& e) {  // /dev/shm cannot be read
      fmt::print(stderr, "ipckit rm --stale: {}\n", e.what());
      ++failures;
    }
  }

  if (attempted == 0) {
    fmt::print(stderr,
               "ipckit rm: nothing to remove; give -m/-q/-s ID, -M/-Q/-S KEY, --shm NAME, "
               "--mq NAME or --stale (`ipckit rm --help`)\n");
    exit_code = 2;
    return;
  }
  exit_code = failures > 0 ? 1 : 0;
}

}  // namespace

void add_rm_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "rm",
      "Remove IPC objects by id, key or name (ipcrm's flags, plus POSIX shared memory and "
      "message queues)");
  auto args = std::make_shared<RmArgs>();
  auto one_each = [](CLI::Option* o) {
    // ipcrm takes one value per flag: `-m 1 -m 2`, never `-m 1 2`.
    o->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  };
  one_each(
      cmd->add_option("-m", args->shm_ids, "Remove the System V shared memory segment with this id")
          ->type_name("ID"));
  one_each(
      cmd->add_option("-M", args->shm_keys,
                      "Remove the System V shared memory segment with this key (0x... or decimal)")
          ->type_name("KEY"));
  one_each(cmd->add_option("-q", args->msg_ids, "Remove the System V message queue with this id")
               ->type_name("ID"));
  one_each(cmd->add_option("-Q", args->msg_keys,
                           "Remove the System V message queue with this key (0x... or decimal)")
               ->type_name("KEY"));
  one_each(cmd->add_option("-s", args->sem_ids, "Remove the System V semaphore set with this id")
               ->type_name("ID"));
  one_each(cmd->add_option("-S", args->sem_keys,
                           "Remove the System V semaphore set with this key (0x... or decimal)")
               ->type_name("KEY"));
  one_each(cmd->add_option("--shm", args->posix_shm,
                           R"(Remove the POSIX shared memory object NAME ("/orders" or "orders"))")
               ->type_name("NAME"));
  one_each(cmd->add_option("--mq", args->posix_mq,
                           R"(Remove the POSIX message queue NAME ("/jobs" or "jobs"))")
               ->type_name("NAME"));
  cmd->add_flag("--stale", args->stale,
                "Remove every shm:// channel whose ends are all dead (`stale` in `ipckit ls`)");
  cmd->footer(
      "Every flag may be repeated and combined, as with ipcrm. Each object is removed on its own:\n"
      "one that cannot be (no such id, key or name, or not allowed) is reported on stderr and the\n"
      "rest are still removed; the exit code is then 1. A System V segment that is still attached\n"
      "is only marked for removal (status \"dest\" in `ipckit ls`) and goes at its last detach; a\n"
      "System V queue or semaphore set goes at once (processes waiting on it get EIDRM). A POSIX\n"
      "message queue loses its name at once and goes when the last process closes it.\n"
      "--stale removes, after the objects named, every channel nobody holds a liveness lock on\n"
      "(the kernel drops them when a process dies; pids are never trusted), checking each again\n"
      "right before it goes, and prints one line per channel removed (\"no stale channels\" when\n"
      "none was). A channel this user may not open is left alone and named on stderr.");
  cmd->callback([cmd, args, &exit_code] { run_rm(*cmd, *args, exit_code); });
}

}  // namespace ipckit::cli
