// What the System V sources share to write their errors: see sysv_common.hpp.

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

// semctl's fourth argument; the caller must define it (semctl(2)).
union SemctlArg {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

const char* id_column(Kind kind) noexcept {
  switch (kind) {
    case Kind::shm:
      return "shmid";
    case Kind::msg:
      return "msqid";
    case Kind::sem:
      return "semid";
  }
  return "";
}

// The column that says how big an object is.
const char* size_column(Kind kind) noexcept {
  switch (kind) {
    case Kind::shm:
      return "size";
    case Kind::msg:
      return "cbytes";
    case Kind::sem:
      return "nsems";
  }
  return "";
}

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

}  // namespace

std::string key_object(Key key) {
  return key.is_private() ? "IPC_PRIVATE" : "key " + key.to_string();
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

std::string user_text(uid_t uid) {
  const std::string number = std::to_string(uid);
  const std::string name = sys::user_name(uid);
  return name == number ? "uid " + number : name + " (uid " + number + ")";
}

std::string this_process_text() {
  return "this process runs as " + user_text(::geteuid());
}

std::optional<unsigned long long> read_limit(const char* path) {
  try {
    return sys::read_ull_file(path);
  } catch (const Error&) {
    return std::nullopt;
  }
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
  std::string text = "it belongs to " + user_text(uid);
  if (cuid != uid) text += ", was created by " + user_text(cuid) + ",";
  return text + " and has mode " + octal(mode & kPermissionBits);
}

const char* proc_path(Kind kind) noexcept {
  switch (kind) {
    case Kind::shm:
      return "/proc/sysvipc/shm";
    case Kind::msg:
      return "/proc/sysvipc/msg";
    case Kind::sem:
      return "/proc/sysvipc/sem";
  }
  return "";
}

std::vector<ProcRow> read_proc_rows(Kind kind) {
  std::vector<ProcRow> rows;
  try {
    const auto table = detail::SysvipcTable::read(
        proc_path(kind),
        {"key", id_column(kind), "perms", "uid", "gid", "cuid", size_column(kind)});
    rows.reserve(table.rows());
    for (std::size_t i = 0; i < table.rows(); ++i) {
      ProcRow row;
      row.key = table.key(i);
      row.id = static_cast<int>(table.number(i, id_column(kind)));
      row.perms = table.perms(i);
      row.uid = static_cast<uid_t>(table.unsigned_number(i, "uid"));
      row.gid = static_cast<gid_t>(table.unsigned_number(i, "gid"));
      row.cuid = static_cast<uid_t>(table.unsigned_number(i, "cuid"));
      row.size = table.unsigned_number(i, size_column(kind));
      rows.push_back(row);
    }
  } catch (const Error&) {
    return {};  // for a hint only: an unreadable file leaves the hint shorter, never wrong
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
  std::string text;
  if (auto row = proc_row_by_id(kind, id)) {
    text = std::string(proc_path(kind)) + " says " + owner_text(row->uid, row->cuid, row->perms);
  } else {
    text = std::string(proc_path(kind)) + " does not list it";
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
  const char* whose = kind == Kind::shm   ? "a segment's"
                      : kind == Kind::msg ? "a queue's"
                                          : "a semaphore set's";
  const char* get = kind == Kind::shm ? "shmget" : kind == Kind::msg ? "msgget" : "semget";
  sys::fail(step, object, EINVAL,
            "mode " + octal(mode) + " has bits outside 0777; " + whose + " permissions are the " +
                "nine rwx bits (higher bits would be read as " + get + " flags)");
}

}  // namespace ipckit::sysv::internal
