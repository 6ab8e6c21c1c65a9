#pragma once

// Private: what the System V sources (sysv.cpp, sysv_msg.cpp, sysv_sem.cpp) share. The three
// kinds of object work alike (a get call that finds or makes one by key, a ctl call with
// IPC_STAT and IPC_RMID, a file in /proc/sysvipc), so opening by key, checking an id, removing
// and the errors of those steps are written once here, worded per kind from one table of names
// (KindNames). Also: how an object is named ("key 0x0000162e", "msqid 3"), who owns an object
// and with what mode (from IPC_STAT, or from /proc/sysvipc/* when IPC_STAT is refused), and the
// check that a mode holds only permission bits.
//
//   using namespace ipckit::sysv::internal;
//   const int id = open_id(Kind::msg, key);   // msgget(key, 0), or an Error with a hint
//   sys::fail("msgsnd", id_object(Kind::msg, id), EACCES,
//             access_hint(Kind::msg, id, "sending needs write permission"));
//   // ... sending needs write permission; it belongs to root (uid 0) and has mode 0600;
//   // this process runs as nobody (uid 65534)

#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/sysv.hpp"

namespace ipckit::sysv::internal {

/// The three kinds of System V object; each has its own get/ctl calls and /proc/sysvipc file.
enum class Kind : unsigned char { shm, msg, sem };

/// The words and commands that differ between the kinds, for messages.
struct KindNames {
  const char* noun;         ///< "segment", "queue", "semaphore set"
  const char* nouns;        ///< "segments", "queues", "semaphore sets"
  const char* class_name;   ///< "SharedMemory", "MessageQueue", "SemaphoreSet"
  const char* id_column;    ///< "shmid", "msqid", "semid": how ipcs and /proc/sysvipc name ids
  const char* get_call;     ///< "shmget", "msgget", "semget"
  const char* ctl_call;     ///< "shmctl", "msgctl", "semctl"
  const char* id_flag;      ///< "-m", "-q", "-s": `ipcs -q`, `ipckit ls -q`, `ipckit rm -q ID`
  const char* key_flag;     ///< "-M", "-Q", "-S": `ipckit rm -Q KEY`, `ipcrm -Q KEY`
  const char* proc_path;    ///< "/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"
  const char* size_column;  ///< the /proc/sysvipc column that says how big: size, cbytes, nsems
  /// How an object of this kind stops answering to its id: "it was removed (IPC_RMID)".
  const char* id_gone;
  /// How a key stops finding one: "none was made with it, or it was removed (IPC_RMID)".
  const char* key_gone;
};
[[nodiscard]] const KindNames& names(Kind kind) noexcept;

/// Only the nine rwx bits are permissions; higher bits of a get call's flags mean IPC_CREAT,
/// IPC_EXCL, SHM_HUGETLB... and must not come in through a mode.
inline constexpr mode_t kPermissionBits = 0777;

/// semctl's fourth argument; the caller must define it (semctl(2)).
union SemctlArg {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

/// "key 0x0000162e", or "IPC_PRIVATE".
[[nodiscard]] std::string key_object(Key key);
/// "msqid 3".
[[nodiscard]] std::string id_object(Kind kind, int id);
/// "0600"; "02600" when there are bits above the permissions.
[[nodiscard]] std::string octal(unsigned mode);
/// "0x1f".
[[nodiscard]] std::string hex(unsigned value);
/// "this process runs as root (uid 0)".
[[nodiscard]] std::string this_process_text();

/// The fields of /proc/sys/kernel/sem, in the file's order (semmsl, semmns, semopm, semmni);
/// nullopt when it cannot be read. Never throws.
struct SemLimits {
  unsigned long long semmsl = 0;  ///< semaphores per set
  unsigned long long semmns = 0;  ///< semaphores in all sets
  unsigned long long semopm = 0;  ///< operations per semop call
  unsigned long long semmni = 0;  ///< sets
};
[[nodiscard]] std::optional<SemLimits> read_sem_limits();
inline constexpr const char* kSemLimitsPath = "/proc/sys/kernel/sem";

/// "it belongs to root (uid 0) and has mode 0600" (and who created it, when not the owner).
[[nodiscard]] std::string owner_text(uid_t uid, uid_t cuid, unsigned mode);

/// One row of /proc/sysvipc/{shm,msg,sem}: what ipcs reads. It lists every object of this
/// IPC namespace whatever its mode, so it can tell who owns an object this process may not
/// IPC_STAT.
struct ProcRow {
  key_t key = 0;
  int id = -1;
  unsigned perms = 0;  ///< with flags (SHM_DEST...) above the permission bits
  uid_t uid = 0;
  gid_t gid = 0;
  uid_t cuid = 0;
  /// shm: size (bytes); msg: cbytes (bytes held); sem: nsems.
  std::uint64_t size = 0;
};

/// The rows of the kind's file, for hints; never throws. A row with a cell that is not a
/// number is left out; a file that cannot be read, whose header lacks a column, or with a row
/// of the wrong width gives no rows at all (detail::SysvipcTable refuses the whole file): the
/// hint is then shorter, never wrong.
[[nodiscard]] std::vector<ProcRow> read_proc_rows(Kind kind);
[[nodiscard]] std::optional<ProcRow> proc_row_by_id(Kind kind, int id);
[[nodiscard]] std::optional<ProcRow> proc_row_by_key(Kind kind, Key key);

/// Who owns object `id` and with what mode, as /proc/sysvipc/<kind> says.
[[nodiscard]] std::string describe_owner_from_proc(Kind kind, int id);
/// Who owns object `id` and with what mode, for messages about EACCES and EPERM. IPC_STAT
/// needs read permission, which is often what is missing: then /proc/sysvipc answers.
/// Keeps errno.
[[nodiscard]] std::string describe_owner(Kind kind, int id);

/// Throws Error (EINVAL) when `mode` has bits outside 0777.
void check_mode(Kind kind, std::string_view step, std::string_view object, mode_t mode);

// --- What the three kinds do alike --------------------------------------------------------

/// The id that answers to `key` now, if any (a get call with no flags checks no permission,
/// so this also finds objects this process may not use). nullopt for IPC_PRIVATE.
[[nodiscard]] std::optional<int> id_of_key(Kind kind, Key key);
/// "`ipckit rm -Q 0x0000162e` (or `ipcrm -Q 0x0000162e`)".
[[nodiscard]] std::string removal_commands(Kind kind, Key key);
/// For EINVAL/EIDRM on an id: "no queue has this id: it never existed, or it was removed
/// (IPC_RMID); `ipcs -q` or `ipckit ls -q` lists the ids".
[[nodiscard]] std::string gone_hint(Kind kind);
/// For ENOSPC: "remove queues no longer used (`ipcs -q` or `ipckit ls -q` lists them, `ipckit
/// rm -q ID` removes one)".
[[nodiscard]] std::string remove_unused_text(Kind kind);
/// "<what_needs>; <who owns it and with what mode>; this process runs as ...". Keeps errno.
[[nodiscard]] std::string access_hint(Kind kind, int id, std::string_view what_needs);
/// The hint for a create (get call with IPC_CREAT) that failed with EEXIST (how to open or
/// remove the object that has the key) or EACCES (who owns it); empty for other errors.
[[nodiscard]] std::string create_conflict_hint(Kind kind, Key key, mode_t mode, int err);

/// The get call with no flags: the id of the object with `key`. Throws Error: IPC_PRIVATE
/// (finds nothing), ENOENT (no object has the key; says how to list them), EACCES (names the
/// owner and mode).
[[nodiscard]] int open_id(Kind kind, Key key);
/// Checks that object `id` exists with IPC_STAT, for from_id. EACCES passes: the object
/// exists, and a handle still serves what needs no read permission (remove by the owner,
/// writing with write permission). Throws Error: a negative id, EINVAL/EIDRM (none has it).
void check_id(Kind kind, int id);
/// Throws the Error for an IPC_STAT of `id` that failed with `err`.
[[noreturn]] void stat_failed(Kind kind, int id, int err);
/// IPC_RMID. An object already gone is not an error. Throws Error: EPERM (names the owner).
void remove_id(Kind kind, int id);

}  // namespace ipckit::sysv::internal
