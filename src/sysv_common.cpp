// What the System V sources share: see sysv_common.hpp.

#include "sysv_common.hpp"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <sstream>

#include "sys.hpp"
#include "sysvipc_table.hpp"

namespace ipckit::sysv::internal {
namespace {

constexpr KindNames kShmNames{
    .noun = "segment",
    .nouns = "segments",
    .class_name = "SharedMemory",
    .id_column = "shmid",
    .get_call = "shmget",
    .ctl_call = "shmctl",
    .id_flag = "-m",
    .key_flag = "-M",
    .proc_path = "/proc/sysvipc/shm",
    .size_column = "size",
    .id_gone = "it was destroyed (after IPC_RMID, at its last detach)",
    .key_gone =
        "none was made with it, or it was marked for removal (IPC_RMID), which takes a "
        "segment's key away",
};
constexpr KindNames kMsgNames{
    .noun = "queue",
    .nouns = "queues",
    .class_name = "MessageQueue",
    .id_column = "msqid",
    .get_call = "msgget",
    .ctl_call = "msgctl",
    .id_flag = "-q",
    .key_flag = "-Q",
    .proc_path = "/proc/sysvipc/msg",
    .size_column = "cbytes",
    .id_gone = "it was removed (IPC_RMID)",
    .key_gone = "none was made with it, or it was removed (IPC_RMID)",
};
constexpr KindNames kSemNames{
    .noun = "semaphore set",
    .nouns = "semaphore sets",
    .class_name = "SemaphoreSet",
    .id_column = "semid",
    .get_call = "semget",
    .ctl_call = "semctl",
    .id_flag = "-s",
    .key_flag = "-S",
    .proc_path = "/proc/sysvipc/sem",
    .size_column = "nsems",
    .id_gone = "it was removed (IPC_RMID)",
    .key_gone = "none was made with it, or it was removed (IPC_RMID)",
};

// IPC_STAT's permission part for any kind; false (errno set) when refused.
bool stat_perm(Kind kind, int id, struct ipc_perm& perm) {
  switch (kind) {
    case Kind::shm: {
      struct shmid_ds ds {};
      if (::shmctl(id, IPC_STAT, &ds) == -1) return false;
      perm = ds.shm_perm;
      return true;
    }
    case Kind::msg: {
      struct msqid_ds ds {};
      if (::msgctl(id, IPC_STAT, &ds) == -1) return false;
      perm = ds.msg_perm;
      return true;
    }
    case Kind::sem: {
      struct semid_ds ds {};
      SemctlArg arg{};
      arg.buf = &ds;
      if (::semctl(id, 0, IPC_STAT, arg) == -1) return false;
      perm = ds.sem_perm;
      return true;
    }
  }
  errno = EINVAL;
  return false;
}

// The get call with no flags: -1 and errno when no object has the key.
int get_by_key(Kind kind, Key key) {
  switch (kind) {
    case Kind::shm:
      return ::shmget(key.value(), 0, 0);
    case Kind::msg:
      return ::msgget(key.value(), 0);
    case Kind::sem:
      return ::semget(key.value(), 0, 0);
  }
  errno = EINVAL;
  return -1;
}

int remove_by_id(Kind kind, int id) {
  switch (kind) {
    case Kind::shm:
      return ::shmctl(id, IPC_RMID, nullptr);
    case Kind::msg:
      return ::msgctl(id, IPC_RMID, nullptr);
    case Kind::sem:
      return ::semctl(id, 0, IPC_RMID);
  }
  errno = EINVAL;
  return -1;
}

std::string ctl_step(Kind kind, const char* command) {
  return std::string(names(kind).ctl_call) + "(" + command + ")";
}

// "the queue's owner and mode": who owns the object with `id`, or that it cannot be told.
std::string owner_of(Kind kind, std::optional<int> id) {
  return id ? describe_owner(kind, *id) : std::string("its owner and mode cannot be read");
}

}  // namespace

const KindNames& names(Kind kind) noexcept {
  switch (kind) {
    case Kind::shm:
      return kShmNames;
    case Kind::msg:
      return kMsgNames;
    case Kind::sem:
      return kSemNames;
  }
  return kShmNames;
}

std::string key_object(Key key) {
  return key.is_private() ? "IPC_PRIVATE" : "key " + key.to_string();
}

std::string id_object(Kind kind, int id) {
  return std::string(names(kind).id_column) + " " + std::to_string(id);
}

std::string octal(unsigned mode) {
  char text[16];
  std::snprintf(text, sizeof text, mode <= 0777 ? "%04o" : "0%o", mode);
  return text;
}

std::string hex(unsigned value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%x", value);
  return text;
}

std::string this_process_text() {
  return "this process runs as " + sys::user_text(::geteuid());
}

std::optional<SemLimits> read_sem_limits() {
  std::string text;
  try {
    text = sys::read_text_file(kSemLimitsPath);
  } catch (const Error&) {
    return std::nullopt;
  }
  std::istringstream fields(text);
  SemLimits limits;
  if (!(fields >> limits.semmsl >> limits.semmns >> limits.semopm >> limits.semmni))
    return std::nullopt;
  return limits;
}

std::string owner_text(uid_t uid, uid_t cuid, unsigned mode) {
  std::string text = "it belongs to " + sys::user_text(uid);
  if (cuid != uid) text += ", was created by " + sys::user_text(cuid) + ",";
  return text + " and has mode " + octal(mode & kPermissionBits);
}

std::vector<ProcRow> read_proc_rows(Kind kind) {
  const KindNames& n = names(kind);
  std::vector<ProcRow> rows;
  std::optional<detail::SysvipcTable> table;
  try {
    table.emplace(detail::SysvipcTable::read(
        n.proc_path, {"key", n.id_column, "perms", "uid", "gid", "cuid", n.size_column}));
  } catch (const Error&) {
    return {};  // for a hint only: an unreadable file leaves the hint shorter, never wrong
  }
  rows.reserve(table->rows());
  for (std::size_t i = 0; i < table->rows(); ++i) {
    try {
      ProcRow row;
      row.key = table->key(i);
      row.id = static_cast<int>(table->number(i, n.id_column));
      row.perms = table->perms(i);
      row.uid = static_cast<uid_t>(table->unsigned_number(i, "uid"));
      row.gid = static_cast<gid_t>(table->unsigned_number(i, "gid"));
      row.cuid = static_cast<uid_t>(table->unsigned_number(i, "cuid"));
      row.size = table->unsigned_number(i, n.size_column);
      rows.push_back(row);
    } catch (const Error&) {
      // A row the kernel printed in a way we cannot read: the others still count.
    }
  }
  return rows;
}

std::optional<ProcRow> proc_row_by_id(Kind kind, int id) {
  for (const ProcRow& row : read_proc_rows(kind))
    if (row.id == id) return row;
  return std::nullopt;
}

std::optional<ProcRow> proc_row_by_key(Kind kind, Key key) {
  if (key.is_private()) return std::nullopt;  // many objects may have key 0
  for (const ProcRow& row : read_proc_rows(kind))
    if (row.key == key.value()) return row;
  return std::nullopt;
}

std::string describe_owner_from_proc(Kind kind, int id) {
  const int saved = errno;
  const std::string path = names(kind).proc_path;
  std::string text;
  if (auto row = proc_row_by_id(kind, id)) {
    text = path + " says " + owner_text(row->uid, row->cuid, row->perms);
  } else {
    text = path + " does not list it";
  }
  errno = saved;
  return text;
}

std::string describe_owner(Kind kind, int id) {
  const int saved = errno;
  std::string text;
  struct ipc_perm perm {};
  if (stat_perm(kind, id, perm)) {
    text = owner_text(perm.uid, perm.cuid, perm.mode);
  } else if (const int err = errno; err == EACCES) {
    text = describe_owner_from_proc(kind, id) + " (IPC_STAT is refused: it needs read permission)";
  } else {
    text = "its owner and mode cannot be read (IPC_STAT: " + errno_name(err) + ")";
  }
  errno = saved;
  return text;
}

void check_mode(Kind kind, std::string_view step, std::string_view object, mode_t mode) {
  if ((mode & ~kPermissionBits) == 0) return;
  const KindNames& n = names(kind);
  sys::fail(step, object, EINVAL,
            "mode " + octal(mode) + " has bits outside 0777; a " + n.noun +
                "'s permissions are the nine rwx bits (higher bits would be read as " + n.get_call +
                " flags)");
}

// --- What the three kinds do alike --------------------------------------------------------

std::optional<int> id_of_key(Kind kind, Key key) {
  if (key.is_private()) return std::nullopt;
  const int saved = errno;
  const int id = get_by_key(kind, key);
  errno = saved;
  if (id == -1) return std::nullopt;
  return id;
}

std::string removal_commands(Kind kind, Key key) {
  const std::string flag_and_key = std::string(names(kind).key_flag) + " " + key.to_string();
  return "`ipckit rm " + flag_and_key + "` (or `ipcrm " + flag_and_key + "`)";
}

std::string gone_hint(Kind kind) {
  const KindNames& n = names(kind);
  return std::string("no ") + n.noun + " has this id: it never existed, or " + n.id_gone +
         "; `ipcs " + n.id_flag + "` or `ipckit ls " + n.id_flag + "` lists the ids";
}

std::string remove_unused_text(Kind kind) {
  const KindNames& n = names(kind);
  return std::string("remove ") + n.nouns + " no longer used (`ipcs " + n.id_flag +
         "` or `ipckit ls " + n.id_flag + "` lists them, `ipckit rm " + n.id_flag +
         " ID` removes one)";
}

std::string access_hint(Kind kind, int id, std::string_view what_needs) {
  return std::string(what_needs) + "; " + describe_owner(kind, id) + "; " + this_process_text();
}

std::string create_conflict_hint(Kind kind, Key key, mode_t mode, int err) {
  if (err != EEXIST && err != EACCES) return {};
  const KindNames& n = names(kind);
  const auto id = id_of_key(kind, key);
  const std::string which = std::string("a ") + n.noun + " with key " + key.to_string() +
                            (id ? " (id " + std::to_string(*id) + ")" : std::string{});
  if (err == EEXIST) {
    return which + " already exists; open it with " + n.class_name +
           "::open, create with .exclusive = false to use it, or remove it with " +
           removal_commands(kind, key);
  }
  return which + " exists and does not grant this process the access that mode " + octal(mode) +
         " asks for: " + owner_of(kind, id) + "; " + this_process_text();
}

int open_id(Kind kind, Key key) {
  const KindNames& n = names(kind);
  if (key.is_private()) {
    sys::fail(n.get_call, "IPC_PRIVATE", EINVAL,
              std::string("IPC_PRIVATE names no ") + n.noun +
                  ": each create with it makes a new one that only its id finds; use " +
                  n.class_name + "::from_id, or give both sides a key (Key::from_path)");
  }
  const int id = get_by_key(kind, key);
  if (id != -1) return id;
  const int err = errno;
  std::string hint;
  if (err == ENOENT) {
    // Neutral: read by programs (open) and by `ipckit rm -Q KEY` users alike.
    hint = std::string("no ") + n.noun + " has key " + key.to_string() + ": " + n.key_gone +
           "; `ipcs " + n.id_flag + "` or `ipckit ls " + n.id_flag + "` lists the " + n.nouns +
           " and their keys";
  } else if (err == EACCES) {
    auto row = proc_row_by_key(kind, key);
    hint = owner_of(kind, row ? std::optional<int>(row->id) : std::nullopt) + "; " +
           this_process_text();
  }
  sys::fail(n.get_call, key_object(key), err, hint);
}

void check_id(Kind kind, int id) {
  if (id < 0) {
    sys::fail(ctl_step(kind, "IPC_STAT"), id_object(kind, id), EINVAL,
              std::string(names(kind).noun) + " ids are never negative");
  }
  struct ipc_perm perm {};
  if (stat_perm(kind, id, perm)) return;
  if (const int err = errno; err != EACCES) stat_failed(kind, id, err);
}

void stat_failed(Kind kind, int id, int err) {
  std::string hint;
  if (err == EINVAL || err == EIDRM) {
    hint = gone_hint(kind);
  } else if (err == EACCES) {
    hint = "IPC_STAT needs read permission; " + describe_owner_from_proc(kind, id) + "; " +
           this_process_text();
  }
  sys::fail(ctl_step(kind, "IPC_STAT"), id_object(kind, id), err, hint);
}

void remove_id(Kind kind, int id) {
  if (remove_by_id(kind, id) == 0) return;
  const int err = errno;
  if (err == EINVAL || err == EIDRM) return;  // already gone: what was asked is done
  std::string hint;
  if (err == EPERM) {
    hint = access_hint(kind, id,
                       std::string("only the owner, the creator or a process with CAP_SYS_ADMIN "
                                   "may remove a ") +
                           names(kind).noun);
  }
  sys::fail(ctl_step(kind, "IPC_RMID"), id_object(kind, id), err, hint);
}

}  // namespace ipckit::sysv::internal
