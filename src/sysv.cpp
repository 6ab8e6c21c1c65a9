// System V keys and shared memory: ftok, shmget, shmat, shmdt, shmctl (seed claims H1–H11).
// Every failure becomes an ipckit::Error that names the key or id and says what to do; where
// the answer depends on who owns the segment, the message says who does and with what mode
// (read with IPC_STAT, or from /proc/sysvipc/shm when IPC_STAT itself is refused).

#include "ipckit/sysv.hpp"

#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "sys.hpp"
#include "sysv_common.hpp"

namespace ipckit::sysv {
namespace {

using internal::Kind;
using internal::ProcRow;
using internal::hex;
using internal::key_object;
using internal::kPermissionBits;
using internal::this_process_text;

constexpr const char* kShmmaxPath = "/proc/sys/kernel/shmmax";
constexpr const char* kShmallPath = "/proc/sys/kernel/shmall";
constexpr const char* kShmmniPath = "/proc/sys/kernel/shmmni";

std::string id_object(int id) { return internal::id_object(Kind::shm, id); }
std::string gone_hint() { return internal::gone_hint(Kind::shm); }
std::string describe_owner(int id) { return internal::describe_owner(Kind::shm, id); }
std::optional<ProcRow> proc_row_by_id(int id) { return internal::proc_row_by_id(Kind::shm, id); }

void check_mode(std::string_view step, std::string_view object, mode_t mode) {
  internal::check_mode(Kind::shm, step, object, mode);
}

std::string enospc_hint(std::size_t size) {
  const auto shmmni = sys::try_read_ull_file(kShmmniPath);
  const auto shmall = sys::try_read_ull_file(kShmallPath);
  const long page = ::sysconf(_SC_PAGESIZE);
  const unsigned long long page_size = page > 0 ? static_cast<unsigned long long>(page) : 4096;
  const auto rows = internal::read_proc_rows(Kind::shm);
  unsigned long long pages_in_use = 0;
  for (const ProcRow& row : rows) pages_in_use += (row.size + page_size - 1) / page_size;
  const unsigned long long pages_asked = size / page_size + (size % page_size != 0 ? 1 : 0);
  const std::string fix =
      "; " + internal::remove_unused_text(Kind::shm) + " or raise the limit with sysctl (root)";
  if (shmmni && rows.size() >= *shmmni) {
    return "every segment id is taken: " + std::to_string(rows.size()) + " segments exist and " +
           kShmmniPath + " is " + std::to_string(*shmmni) + fix;
  }
  std::string text = "the segments' total size would pass " + std::string(kShmallPath);
  if (shmall) text += " (" + std::to_string(*shmall) + " pages of " + std::to_string(page_size) + " bytes)";
  text += ": " + std::to_string(pages_in_use) + " pages are in use and " + std::to_string(pages_asked) +
          " more were asked; or every id is taken (" + kShmmniPath +
          (shmmni ? " is " + std::to_string(*shmmni) : std::string{}) + ")";
  return text + fix;
}

std::string create_hint(const ShmCreateOptions& o, int err) {
  const std::string key = o.key.to_string();
  switch (err) {
    case EINVAL: {
      const auto shmmax = sys::try_read_ull_file(kShmmaxPath);
      if (shmmax && o.size > *shmmax) {
        return "asked " + std::to_string(o.size) + " bytes, more than " + kShmmaxPath + " (" +
               std::to_string(*shmmax) + "); ask at most that, or raise it with `sysctl kernel.shmmax=N` (root)";
      }
      if (auto id = internal::id_of_key(Kind::shm, o.key)) {
        struct shmid_ds ds {};
        std::optional<unsigned long long> existing;
        if (::shmctl(*id, IPC_STAT, &ds) == 0) {
          existing = ds.shm_segsz;
        } else if (auto row = proc_row_by_id(*id)) {
          existing = row->size;
        }
        if (existing && *existing < o.size) {
          return "a segment with key " + key + " already exists (id " + std::to_string(*id) + ") and has only " +
                 std::to_string(*existing) + " bytes, fewer than the " + std::to_string(o.size) +
                 " asked; ask at most " + std::to_string(*existing) + ", or remove it with " +
                 internal::removal_commands(Kind::shm, o.key) + " and create it again";
        }
      }
      return "the kernel refused a segment of " + std::to_string(o.size) + " bytes (the least is 1, the most " +
             kShmmaxPath + (shmmax ? " = " + std::to_string(*shmmax) : std::string{}) + ")";
    }
    case ENOSPC:
      return enospc_hint(o.size);
    case ENOMEM:
      return "the kernel could not allocate memory for a segment of " + std::to_string(o.size) +
             " bytes; free memory or ask for less";
    default:
      return internal::create_conflict_hint(Kind::shm, o.key, o.mode, err);
  }
}

// shmdt for a destructor: cannot fail for an address shmat gave; keeps errno.
void detach_quietly(void* address) noexcept {
  if (address == nullptr) return;
  const int saved = errno;
  ::shmdt(address);
  errno = saved;
}

struct shmid_ds stat_or_throw(int id) {
  struct shmid_ds ds {};
  if (::shmctl(id, IPC_STAT, &ds) == -1) internal::stat_failed(Kind::shm, id, errno);
  return ds;
}

// The permission part of a segment for IPC_SET (which reads only uid, gid and mode): from
// IPC_STAT or, when that is refused (an owner may take away its own read permission and still
// change the segment), from /proc/sysvipc/shm.
struct shmid_ds perm_for_set(int id) {
  struct shmid_ds ds {};
  if (::shmctl(id, IPC_STAT, &ds) == 0) return ds;
  const int err = errno;
  std::string hint;
  if (err == EACCES) {
    if (auto row = proc_row_by_id(id)) {
      ds.shm_perm.uid = row->uid;
      ds.shm_perm.gid = row->gid;
      ds.shm_perm.mode = static_cast<decltype(ds.shm_perm.mode)>(row->perms & kPermissionBits);
      return ds;
    }
    hint = "no read permission, and " + std::string(internal::names(Kind::shm).proc_path) +
           " does not list the segment";
  } else if (err == EINVAL || err == EIDRM) {
    hint = gone_hint();
  }
  sys::fail("shmctl(IPC_STAT)", id_object(id), err, hint);
}

void set_perm(int id, const struct shmid_ds& wanted) {
  struct shmid_ds ds = wanted;
  if (::shmctl(id, IPC_SET, &ds) == 0) return;
  const int err = errno;
  std::string hint;
  if (err == EPERM) {
    hint = "only the owner, the creator or a process with CAP_SYS_ADMIN may change a segment's owner or "
           "mode; " + describe_owner(id) + "; " + this_process_text();
  } else if (err == EINVAL || err == EIDRM) {
    struct shmid_ds probe {};
    const bool exists = ::shmctl(id, IPC_STAT, &probe) == 0 || errno == EACCES;
    hint = exists ? "uid " + std::to_string(wanted.shm_perm.uid) + " or gid " + std::to_string(wanted.shm_perm.gid) +
                        " is not valid here (not mapped in this user namespace)"
                  : gone_hint();
  }
  sys::fail("shmctl(IPC_SET)", id_object(id), err, hint);
}

}  // namespace

// --- Key --------------------------------------------------------------------------------

Key Key::from_path(const std::filesystem::path& path, int proj_id) {
  const std::string p = path.string();
  if ((proj_id & 0xff) == 0) {
    sys::fail("ftok", p, EINVAL,
              "proj_id " + hex(static_cast<unsigned>(proj_id)) +
                  " has 0 in its low 8 bits, and ftok uses only the low 8 bits of proj_id; pick a "
                  "value whose low byte is not 0, such as a letter ('A')");
  }
  errno = 0;
  const key_t key = ::ftok(p.c_str(), proj_id);
  // A key of -1 (0xffffffff) is possible; only errno tells a failure from it.
  if (key == -1 && errno != 0) {
    const int err = errno;
    std::string hint;
    if (err == ENOENT) {
      hint = "the path does not exist; ftok makes the key from an existing file's inode and device, "
             "so create the file first and have every process name the same one";
    } else if (err == EACCES) {
      hint = "a folder on the way cannot be searched by this process";
    } else if (err == ENOTDIR) {
      hint = "a part of the path before the last is not a folder";
    }
    sys::fail("ftok", p, err, hint);
  }
  return Key{key};
}

Key Key::parse(std::string_view text) {
  auto bad = [&](int err, const std::string& why) {
    sys::fail("parse key", text, err,
              why + "; a key is hex with 0x (0x0000162e, as ipcs prints it) or decimal (5678)");
  };
  if (text.empty()) bad(EINVAL, "the text is empty");
  std::int64_t value = 0;
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    std::string_view digits = text.substr(2);
    if (digits.empty()) bad(EINVAL, "no hex digits after 0x");
    std::uint64_t hex_value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), hex_value, 16);
    if (end != digits.data() + digits.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range))
      bad(EINVAL, "\"" + std::string(digits) + "\" is not all hex digits");
    if (ec == std::errc::result_out_of_range || hex_value > 0xffffffffU) bad(ERANGE, "the value needs more than 32 bits");
    value = static_cast<std::int64_t>(hex_value);
  } else {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
    if (end != text.data() + text.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range))
      bad(EINVAL, "not a number");
    // Both readings of 32 bits are accepted: unsigned (as printed in hex) and signed (key_t).
    if (ec == std::errc::result_out_of_range || value > 0xffffffffLL || value < INT32_MIN)
      bad(ERANGE, "the value needs more than 32 bits (a key is -2147483648 to 4294967295)");
  }
  return Key{static_cast<key_t>(static_cast<std::uint32_t>(value))};
}

std::string Key::to_string() const {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned>(value_));
  return text;
}

// --- Attachment -------------------------------------------------------------------------

Attachment& Attachment::operator=(Attachment&& other) noexcept {
  if (this != &other) {
    detach_quietly(address_);  // the old attachment goes first (H5)
    Region::operator=(other);
    other.forget();
  }
  return *this;
}

Attachment::~Attachment() { detach_quietly(address_); }

// --- SharedMemory -----------------------------------------------------------------------

SharedMemory SharedMemory::create(const ShmCreateOptions& o) {
  const std::string object = key_object(o.key);
  if (o.size == 0) {
    sys::fail("shmget", object, EINVAL,
              "size is 0; give the segment's size in bytes (the kernel rounds it up to whole pages)");
  }
  check_mode("shmget", object, o.mode);
  const int flags = IPC_CREAT | (o.exclusive ? IPC_EXCL : 0) | static_cast<int>(o.mode);
  const int id = ::shmget(o.key.value(), o.size, flags);
  if (id == -1) {
    const int err = errno;
    sys::fail("shmget", object, err, create_hint(o, err));
  }
  return SharedMemory{id};
}

SharedMemory SharedMemory::open(Key key) {
  return SharedMemory{internal::open_id(Kind::shm, key)};
}

SharedMemory SharedMemory::from_id(int id) {
  internal::check_id(Kind::shm, id);
  return SharedMemory{id};
}

Attachment SharedMemory::attach(Access access) const {
  const bool writable = access == Access::read_write;
  void* address = ::shmat(id_, nullptr, writable ? 0 : SHM_RDONLY);
  if (address == reinterpret_cast<void*>(-1)) {  // NOLINT(performance-no-int-to-ptr): shmat's failure value
    const int err = errno;
    std::string hint;
    if (err == EACCES) {
      hint = std::string(writable ? "a read-write attach needs read and write permission"
                                  : "a read-only attach needs read permission") +
             "; " + describe_owner(id_) + "; " + this_process_text() +
             (writable ? "; Access::read_only needs only read permission" : "");
    } else if (err == EINVAL || err == EIDRM) {
      hint = gone_hint();
    } else if (err == ENOMEM) {
      hint = "this process's address space has no room for the segment";
    }
    sys::fail(writable ? "shmat" : "shmat(SHM_RDONLY)", id_object(id_), err, hint);
  }
  struct shmid_ds ds {};
  if (::shmctl(id_, IPC_STAT, &ds) == -1) {
    const int err = errno;
    detach_quietly(address);
    sys::fail("shmctl(IPC_STAT)", id_object(id_), err, "attached, but the segment's size cannot be read");
  }
  return Attachment{address, static_cast<std::size_t>(ds.shm_segsz), writable};
}

ShmStat SharedMemory::stat() const {
  const struct shmid_ds ds = stat_or_throw(id_);
  ShmStat s;
  s.key = Key::from_value(ds.shm_perm.__key);
  s.size = static_cast<std::size_t>(ds.shm_segsz);
  s.nattch = static_cast<unsigned long>(ds.shm_nattch);
  s.cpid = ds.shm_cpid;
  s.lpid = ds.shm_lpid;
  s.atime = ds.shm_atime;
  s.dtime = ds.shm_dtime;
  s.ctime = ds.shm_ctime;
  s.uid = ds.shm_perm.uid;
  s.gid = ds.shm_perm.gid;
  s.cuid = ds.shm_perm.cuid;
  s.cgid = ds.shm_perm.cgid;
  s.mode = static_cast<mode_t>(ds.shm_perm.mode & kPermissionBits);
  s.marked_for_removal = (ds.shm_perm.mode & SHM_DEST) != 0;
  return s;
}

void SharedMemory::set_owner(uid_t uid, gid_t gid) const {
  struct shmid_ds ds = perm_for_set(id_);
  ds.shm_perm.uid = uid;
  ds.shm_perm.gid = gid;
  set_perm(id_, ds);
}

void SharedMemory::set_mode(mode_t mode) const {
  check_mode("shmctl(IPC_SET)", id_object(id_), mode);
  struct shmid_ds ds = perm_for_set(id_);
  ds.shm_perm.mode = static_cast<decltype(ds.shm_perm.mode)>(mode);
  set_perm(id_, ds);
}

void SharedMemory::remove() const {
  internal::remove_id(Kind::shm, id_);  // marks it: destroyed at the last detach
}

}  // namespace ipckit::sysv
