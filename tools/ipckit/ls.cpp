// `ipckit ls [-m] [-q] [-s] [--posix] [--sysv] [--channels] [--json]`: the IPC objects on this
// host, as ipcs and lsipc show them, plus the POSIX objects they do not show and ipckit's
// shm:// channels.
//
// The listing is a table of sections, one per kind of object and family (System V shared
// memory, POSIX message queues, ..., channels). Each section is one function that turns a
// library listing into JSON rows and a text block; a section a filter leaves out shows as an
// empty JSON array.

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commands.hpp"
#include "names.hpp"
#include "ipckit/inspect.hpp"

namespace ipckit::cli {
namespace {

enum class Family { sysv, posix, ipckit };
enum class Kind { shm, msg, sem, channel };

// What one section found: its JSON rows and its text block (title, column names, rows),
// and a note when it could not look (the JSON then says so under "notes").
struct Listing {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  std::string text;
  std::string note;
};

struct Section {
  const char* json_key;  ///< the top-level key of `ls --json` (a contract: docs/architecture.md)
  Family family;
  Kind kind;
  Listing (*list)();
};

// System V shared memory, laid out as `ipcs -m` does.
Listing sysv_shm_listing() {
  Listing out;
  out.text = "------ Shared Memory Segments --------\n";
  out.text += fmt::format("{:<10} {:<10} {:<10} {:<10} {:<10} {:<10} {}\n", "key", "shmid", "owner",
                          "perms", "bytes", "nattch", "status");
  for (const SysvShmInfo& s : list_sysv_shm()) {
    out.rows.push_back({{"key", s.key},
                        {"id", s.id},
                        {"owner", s.owner},
                        {"perms", s.perms},
                        {"size", s.size},
                        {"nattch", s.nattch},
                        {"cpid", s.cpid},
                        {"lpid", s.lpid},
                        {"status", s.status},
                        {"uid", s.uid},
                        {"atime", s.atime},
                        {"dtime", s.dtime},
                        {"ctime", s.ctime}});
    std::string row = fmt::format("{:<10} {:<10} {:<10} {:<10} {:<10} {:<10} {}", s.key, s.id,
                                  s.owner, s.perms, s.size, s.nattch, s.status);
    row.erase(row.find_last_not_of(' ') + 1);  // no trailing blanks when the status is empty
    out.text += row + "\n";
  }
  return out;
}

// System V message queues, laid out as `ipcs -q` does.
Listing sysv_msg_listing() {
  Listing out;
  out.text = "------ Message Queues --------\n";
  out.text += fmt::format("{:<10} {:<10} {:<10} {:<10} {:<12} {}\n", "key", "msqid", "owner",
                          "perms", "used-bytes", "messages");
  for (const SysvMsgInfo& q : list_sysv_msg()) {
    out.rows.push_back({{"key", q.key},
                        {"id", q.id},
                        {"owner", q.owner},
                        {"perms", q.perms},
                        {"used_bytes", q.used_bytes},
                        {"messages", q.messages},
                        {"lspid", q.lspid},
                        {"lrpid", q.lrpid},
                        {"uid", q.uid},
                        {"stime", q.stime},
                        {"rtime", q.rtime},
                        {"ctime", q.ctime}});
    out.text += fmt::format("{:<10} {:<10} {:<10} {:<10} {:<12} {}\n", q.key, q.id, q.owner,
                            q.perms, q.used_bytes, q.messages);
  }
  return out;
}

// System V semaphore sets, laid out as `ipcs -s` does.
Listing sysv_sem_listing() {
  Listing out;
  out.text = "------ Semaphore Arrays --------\n";
  out.text += fmt::format("{:<10} {:<10} {:<10} {:<10} {}\n", "key", "semid", "owner", "perms",
                          "nsems");
  for (const SysvSemInfo& s : list_sysv_sem()) {
    out.rows.push_back({{"key", s.key},
                        {"id", s.id},
                        {"owner", s.owner},
                        {"perms", s.perms},
                        {"nsems", s.nsems},
                        {"uid", s.uid},
                        {"otime", s.otime},
                        {"ctime", s.ctime}});
    out.text += fmt::format("{:<10} {:<10} {:<10} {:<10} {}\n", s.key, s.id, s.owner, s.perms,
                            s.nsems);
  }
  return out;
}

// POSIX shared memory: the objects of /dev/shm, by the names shm_open takes.
Listing posix_shm_listing() {
  Listing out;
  const std::vector<PosixShmInfo> objects = list_posix_shm();
  std::size_t name_width = 20;
  for (const PosixShmInfo& o : objects) name_width = std::max(name_width, shown(o.name).size());
  out.text = "------ POSIX Shared Memory Objects (/dev/shm) --------\n";
  out.text +=
      fmt::format("{:<{}} {:<10} {:<10} {}\n", "name", name_width, "bytes", "owner", "perms");
  for (const PosixShmInfo& o : objects) {
    nlohmann::ordered_json row = named_row(o.name);
    row.update({{"size", o.size}, {"owner", o.owner}, {"perms", o.perms}, {"uid", o.uid}});
    out.rows.push_back(std::move(row));
    out.text += fmt::format("{:<{}} {:<10} {:<10} {}\n", shown(o.name), name_width, o.size,
                            shown(o.owner), o.perms);
  }
  return out;
}

// `text` broken at blanks into lines of at most `width` characters where it can be, each
// after the first indented by one blank. A `command` in backquotes stays on one line, so it
// can be copied whole.
std::string wrapped(const std::string& text, std::size_t width) {
  std::string out;
  std::size_t line_start = 0;
  std::size_t last_blank = std::string::npos;
  bool in_command = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '`') in_command = !in_command;
    if (text[i] == ' ' && !in_command) last_blank = out.size();
    out += text[i];
    if (out.size() - line_start > width && last_blank != std::string::npos &&
        last_blank > line_start) {
      out[last_blank] = '\n';
      out.insert(last_blank + 1, " ");
      line_start = last_blank + 1;
      last_blank = std::string::npos;
    }
  }
  return out;
}

// A count of a queue this user may not open is unknown: null in JSON, "?" in text (0 would
// say the queue is empty).
nlohmann::ordered_json count_json(const PosixMqInfo& q, std::uint64_t value) {
  return q.readable ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
}
std::string count_text(const PosixMqInfo& q, std::uint64_t value) {
  return q.readable ? std::to_string(value) : std::string("?");
}

// POSIX message queues: the files of the mqueue filesystem, by the names mq_open takes. When
// it is not mounted the section says so, and how to mount it, instead of showing none.
Listing posix_mq_listing() {
  Listing out;
  const std::string mount = mqueue_mount_point();
  if (mount.empty()) {
    out.note = "not listed: " + mqueue_mount_hint();
    out.text = "------ POSIX Message Queues --------\n" + wrapped("(" + out.note + ")", 90) + "\n";
    return out;
  }
  const std::vector<PosixMqInfo> queues = list_posix_mq(mount);
  std::size_t name_width = 20;
  for (const PosixMqInfo& q : queues) name_width = std::max(name_width, shown(q.name).size());
  out.text = "------ POSIX Message Queues (" + mount + ") --------\n";
  out.text += fmt::format("{:<{}} {:<10} {:<6} {:<12} {:<9} {:<8} {}\n", "name", name_width,
                          "owner", "perms", "used-bytes", "messages", "msg_max", "msgsize_max");
  for (const PosixMqInfo& q : queues) {
    nlohmann::ordered_json row = named_row(q.name);
    row.update({{"owner", q.owner},
                {"perms", q.perms},
                {"messages", count_json(q, q.messages)},
                {"msg_max", count_json(q, q.msg_max)},
                {"msgsize_max", count_json(q, q.msgsize_max)},
                {"used_bytes", count_json(q, q.bytes)},
                {"uid", q.uid}});
    out.rows.push_back(std::move(row));
    out.text += fmt::format("{:<{}} {:<10} {:<6} {:<12} {:<9} {:<8} {}\n", shown(q.name), name_width,
                            shown(q.owner), q.perms, count_text(q, q.bytes), count_text(q, q.messages),
                            count_text(q, q.msg_max), count_text(q, q.msgsize_max));
  }
  return out;
}

// A value of a channel that is unknown (0 stands for it: no channel has capacity 0) is null
// in JSON and "?" in text.
nlohmann::ordered_json known_json(std::uint64_t value) {
  return value != 0 ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
}
std::string known_text(std::uint64_t value) { return value != 0 ? std::to_string(value) : std::string("?"); }

std::string state_text(const ChannelInfo& c) {
  if (!c.stale) return "?";
  return *c.stale ? "stale" : "live";
}

// A pid column: "-" when none lives.
std::string pids_text(const std::vector<pid_t>& pids, std::uint32_t alive) {
  if (pids.empty()) return alive > 0 ? "?" : "-";
  std::string text;
  for (const pid_t pid : pids) text += (text.empty() ? "" : ",") + std::to_string(pid);
  if (alive > pids.size()) text += ",?";  // a sender that has not recorded its pid yet
  return text;
}

// ipckit's shm:// channels: the /dev/shm objects ipckit-ch-NAME, by NAME, and the memfd ones
// (shm://@NAME). `stale` comes from the kernel's locks, never from the pids (which are only
// shown).
Listing channel_listing() {
  Listing out;
  const std::vector<ChannelInfo> channels = list_channels();
  std::size_t name_width = 20;
  for (const ChannelInfo& c : channels) name_width = std::max(name_width, shown(c.name).size() + 6);
  out.text = "------ ipckit Channels (shm://, /dev/shm/ipckit-ch-* and memfds) --------\n";
  out.text += fmt::format("{:<{}} {:<10} {:<8} {:<8} {:<12} {:<10} {:<6} {}\n", "name", name_width, "capacity",
                          "state", "reader", "writers", "owner", "perms", "note");
  for (const ChannelInfo& c : channels) {
    nlohmann::ordered_json row = named_row(c.name);
    row.update({{"capacity", known_json(c.capacity)},
                {"writer_pid", c.writer_pid},
                {"reader_pid", c.reader_pid},
                {"stale", c.stale ? nlohmann::ordered_json(*c.stale) : nlohmann::ordered_json(nullptr)},
                {"writer_pids", c.writer_pids},
                {"writers", c.writers},
                {"reader_alive", c.reader_alive},
                {"slots", known_json(c.slots)},
                {"object", nullptr},
                {"memfd", c.memfd},
                {"holders", c.holders},
                {"size", c.size},
                {"owner", c.owner},
                {"perms", c.perms},
                {"uid", c.uid},
                {"note", c.note}});
    put_name(row, "object", c.object);  // in the place held for it; object_hex at the end
    out.rows.push_back(std::move(row));
    const std::string reader = c.reader_pid != 0 ? std::to_string(c.reader_pid) : c.reader_alive ? "?" : "-";
    std::string line = fmt::format("{:<{}} {:<10} {:<8} {:<8} {:<12} {:<10} {:<6} {}", "shm://" + shown(c.name), name_width,
                                   known_text(c.capacity), state_text(c), reader,
                                   pids_text(c.writer_pids, c.writers), shown(c.owner), c.perms, shown(c.note));
    line.erase(line.find_last_not_of(' ') + 1);
    out.text += line + "\n";
  }
  return out;
}

// In the order of the `ls --json` shape (docs/architecture.md); text sections print in this order too.
constexpr Section kSections[] = {
    {"sysv_shm", Family::sysv, Kind::shm, &sysv_shm_listing},
    {"sysv_msg", Family::sysv, Kind::msg, &sysv_msg_listing},
    {"sysv_sem", Family::sysv, Kind::sem, &sysv_sem_listing},
    {"posix_shm", Family::posix, Kind::shm, &posix_shm_listing},
    {"posix_mq", Family::posix, Kind::msg, &posix_mq_listing},
    {"channels", Family::ipckit, Kind::channel, &channel_listing},
};

struct Selection {
  bool shm = false;    // -m
  bool msg = false;    // -q
  bool sem = false;    // -s
  bool sysv = false;   // --sysv
  bool posix = false;     // --posix
  bool channels = false;  // --channels
  bool json = false;

  // No kind flag means every kind, no family flag every family. Channels are ipckit's own
  // kind and family (--channels): kind flags do not narrow them, so they show when
  // --channels is given, or when neither a kind nor a family is asked for.
  [[nodiscard]] bool wants(const Section& s) const {
    const bool any_kind = shm || msg || sem;
    const bool any_family = sysv || posix || channels;
    if (s.family == Family::ipckit) return channels || (!any_kind && !any_family);
    const bool kind_ok = !any_kind || (s.kind == Kind::shm && shm) ||
                         (s.kind == Kind::msg && msg) || (s.kind == Kind::sem && sem);
    const bool family_ok =
        !any_family || (s.family == Family::sysv && sysv) || (s.family == Family::posix && posix);
    return kind_ok && family_ok;
  }
};

void run_ls(const Selection& want, int& exit_code) {
  if (want.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    nlohmann::ordered_json notes = nlohmann::ordered_json::object();
    for (const Section& s : kSections) {
      out[s.json_key] = nlohmann::ordered_json::array();
      if (!want.wants(s)) continue;
      Listing listing = s.list();
      out[s.json_key] = std::move(listing.rows);
      if (!listing.note.empty()) notes[s.json_key] = listing.note;
    }
    // Only when a section could not look: {"posix_mq": "not listed: ..."}.
    if (!notes.empty()) out["notes"] = std::move(notes);
    // Names are carried exactly (put_name); anything else the system gave that is not UTF-8
    // (a user name, say) is shown with U+FFFD rather than ending the listing.
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  } else {
    bool first = true;
    for (const Section& s : kSections) {
      if (!want.wants(s)) continue;
      fmt::print("{}{}", first ? "" : "\n", s.list().text);
      first = false;
    }
  }
  exit_code = 0;
}

}  // namespace

void add_ls_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "ls",
      "List IPC objects: System V shared memory, message queues and semaphore sets (like "
      "`ipcs`), POSIX shared memory and message queues, and ipckit's shm:// channels");
  auto want = std::make_shared<Selection>();
  cmd->add_flag("-m,--shmems", want->shm,
                "Only shared memory (System V segments and POSIX objects)");
  cmd->add_flag("-q,--queues", want->msg,
                "Only message queues (System V queues and POSIX mqueues)");
  cmd->add_flag("-s,--semaphores", want->sem, "Only semaphores (System V semaphore sets)");
  cmd->add_flag("--sysv", want->sysv, "Only System V objects (what ipcs and lsipc show)");
  cmd->add_flag("--posix", want->posix, "Only POSIX objects (/dev/shm and the mqueue filesystem)");
  cmd->add_flag("--channels", want->channels,
                "Only ipckit's shm:// channels (with the others asked for; -m/-q/-s do not narrow them)");
  cmd->add_flag("--json", want->json,
                "Print one JSON object with the keys sysv_shm, sysv_msg, sysv_sem, posix_shm, "
                "posix_mq, channels (each an array; a family left out by a filter is empty), "
                "and \"notes\" when a section could not look");
  cmd->footer(
      "System V objects come from /proc/sysvipc/{shm,msg,sem}; POSIX shared memory objects are\n"
      "the regular files of /dev/shm (without the sem.* files of named semaphores); POSIX\n"
      "message queues are the files of the mqueue filesystem. When it is not mounted, ls says\n"
      "so and goes on with the rest:\n  " +
      mqueue_mount_hint() +
      ".\n"
      "Counts of a queue this user may not open are unknown: null in JSON, \"?\" in text.\n"
      "Channels are the /dev/shm objects ipckit-ch-NAME (they show among the POSIX objects too)\n"
      "and the memfd channels shm://@NAME, found in the /proc/PID/fd of the processes this user\n"
      "may look at (all of them for root); a memfd channel is never stale: the kernel frees it\n"
      "with the last process that holds it (\"holders\" in JSON).\n"
      "A channel is stale when nobody holds any of its liveness locks (fcntl OFD locks, which\n"
      "the kernel drops when a process dies): every end is dead. Whether one this user may not\n"
      "open is stale is unknown: null in JSON, \"?\" in text. Pids are shown, never trusted.\n"
      "POSIX named semaphores are not listed yet.\n"
      "Remove an object with `ipckit rm` (-m/-q/-s ID, -M/-Q/-S KEY, --shm NAME, --mq NAME),\n"
      "and every stale channel with `ipckit rm --stale`.");
  cmd->callback([want, &exit_code] { run_ls(*want, exit_code); });
}

}  // namespace ipckit::cli
