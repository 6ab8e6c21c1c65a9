#pragma once

// Private: what the System V sources (sysv.cpp, sysv_msg.cpp, sysv_sem.cpp) share to write
// their errors: how an object is named ("key 0x0000162e", "IPC_PRIVATE"), who owns an object
// and with what mode (from IPC_STAT, or from /proc/sysvipc/* when IPC_STAT is refused), the
// limits of /proc/sys/kernel, and the check that a mode holds only permission bits.
//
//   using namespace ipckit::sysv::internal;
//   sys::fail("msgsnd", "msqid 3", EACCES,
//             describe_owner(Kind::msg, 3) + "; " + this_process_text());
//   // ... it belongs to root (uid 0) and has mode 0600; this process runs as nobody (uid 65534)

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

/// Only the nine rwx bits are permissions; higher bits of a get call's flags mean IPC_CREAT,
/// IPC_EXCL, SHM_HUGETLB... and must not come in through a mode.
inline constexpr mode_t kPermissionBits = 0777;

/// "key 0x0000162e", or "IPC_PRIVATE".
[[nodiscard]] std::string key_object(Key key);
/// "0600"; "02600" when there are bits above the permissions.
[[nodiscard]] std::string octal(unsigned mode);
/// "0x1f".
[[nodiscard]] std::string hex(unsigned value);
/// "root (uid 0)", or "uid 1234" when the user has no name.
[[nodiscard]] std::string user_text(uid_t uid);
/// "this process runs as root (uid 0)".
[[nodiscard]] std::string this_process_text();
/// A /proc/sys limit for a message; nullopt when it cannot be read. Never throws (a hint must
/// not hide the real error).
[[nodiscard]] std::optional<unsigned long long> read_limit(const char* path);
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

/// "/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem".
[[nodiscard]] const char* proc_path(Kind kind) noexcept;
/// Every row of the kind's file; empty when it cannot be read or parsed. Never throws.
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

}  // namespace ipckit::sysv::internal
