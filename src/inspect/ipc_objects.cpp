// The IPC objects that exist on this host: System V shared memory segments, message queues
// and semaphore sets, read from /proc/sysvipc/{shm,msg,sem} (what ipcs and lsipc read);
// POSIX shared memory objects, the regular files of /dev/shm; POSIX message queues, the
// files of the mqueue filesystem wherever it is mounted; shm:// channels, the /dev/shm objects
// ipckit-ch-NAME, whose liveness is the open-file-description locks their ends hold, and the
// memfd ones (shm://@NAME), found among the descriptors in /proc/PID/fd.

#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/fd.hpp"
#include "channel/shm_layout.hpp"
#include "channel/shm_segment.hpp"
#include "ipckit/inspect.hpp"
#include "ipckit/shm.hpp"
#include "sys.hpp"
#include "sysvipc_table.hpp"

namespace ipckit {
namespace {

constexpr const char* kSysvShmPath = "/proc/sysvipc/shm";
constexpr const char* kSysvMsgPath = "/proc/sysvipc/msg";
constexpr const char* kSysvSemPath = "/proc/sysvipc/sem";
constexpr const char* kDevShm = "/dev/shm";

// Mode bits the kernel keeps next to the permission bits of a segment (linux/shm.h).
constexpr unsigned kShmDest = 01000;  // SHM_DEST: marked for removal, destroyed at last detach

// Names looked up once per listing: a host has few owners and many objects.
class UserNames {
 public:
  const std::string& operator()(uid_t uid) {
    auto it = names_.find(uid);
    if (it == names_.end()) it = names_.emplace(uid, user_name(uid)).first;
    return it->second;
  }

 private:
  std::map<uid_t, std::string> names_;
};

template <class Info>
void sort_by_id(std::vector<Info>& objects) {
  std::sort(objects.begin(), objects.end(), [](const Info& a, const Info& b) { return a.id < b.id; });
}

struct DirCloser {
  void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};

// Where reading a folder failed: the call and its errno (call null: it did not).
struct DirError {
  const char* call = nullptr;
  int err = 0;
};

// Calls visit(dir_fd, name) for each entry but "." and ".." of the folder `name` under `dir_fd`
// (AT_FDCWD: a path); the open, fdopendir or readdir that failed, if one did.
DirError for_each_name_in(int dir_fd, const char* name, const std::function<void(int, const char*)>& visit) {
  Fd fd{sys::retry_eintr([&] { return ::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC); })};
  if (!fd) return {"open", errno};
  std::unique_ptr<DIR, DirCloser> stream{::fdopendir(fd.get())};
  if (!stream) return {"fdopendir", errno};
  const int dfd = fd.release();  // closedir closes it
  for (;;) {
    errno = 0;
    // readdir is safe here: the stream is this call's own (glibc locks per stream).
    const dirent* entry = ::readdir(stream.get());  // NOLINT(concurrency-mt-unsafe)
    if (entry == nullptr) return errno != 0 ? DirError{"readdir", errno} : DirError{};
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) visit(dfd, entry->d_name);
  }
}

// Calls `visit(dir_fd, file, stat)` for each entry of `dir` but "." and "..", as lstat sees
// it; entries removed between readdir and lstat are skipped. Throws Error.
void for_each_entry(const std::string& dir, const std::string& open_hint,
                    const std::function<void(int, const std::string&, const struct stat&)>& visit) {
  const DirError failed = for_each_name_in(AT_FDCWD, dir.c_str(), [&](int dfd, const char* entry) {
    const std::string file = entry;
    struct stat st {};
    if (::fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) == -1) {
      if (errno == ENOENT) return;  // removed since readdir saw it
      sys::fail("fstatat", dir + "/" + file, errno);
    }
    visit(dfd, file, st);
  });
  if (failed.call != nullptr) {
    sys::fail(failed.call, dir, failed.err, std::string_view(failed.call) == "open" ? open_hint : std::string{});
  }
}

// The number after "QSIZE:" in the text an mqueue file reads as
// ("QSIZE:129        NOTIFY:0     SIGNO:0     NOTIFY_PID:0"), or 0 when it has none.
std::uint64_t qsize_of(std::string_view text) {
  const auto at = text.find("QSIZE:");
  if (at == std::string_view::npos) return 0;
  const char* begin = text.data() + at + 6;
  std::uint64_t value = 0;
  std::from_chars(begin, text.data() + text.size(), value);
  return value;
}

// What one queue's file gives, through a read-only open of the file itself: its QSIZE text
// and mq_getattr (the descriptor is an mqd_t, as mq_open's would be; nothing is received).
// Opening the file of the mount that is listed, rather than mq_open(name), reads that very
// queue even when the mount belongs to another IPC namespace. false: removed since readdir.
bool read_queue(int dir_fd, const std::string& file, const std::string& path, PosixMqInfo& info) {
  Fd fd{sys::retry_eintr(
      [&] { return ::openat(dir_fd, file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK); })};
  if (!fd) {
    if (errno == ENOENT) return false;
    if (errno == EACCES) {  // not readable by us: owner and mode are still true
      info.readable = false;
      return true;
    }
    sys::fail("open", path, errno);
  }
  char text[256];
  const ssize_t n = sys::retry_eintr([&] { return ::read(fd.get(), text, sizeof text - 1); });
  if (n < 0) sys::fail("read", path, errno);
  info.bytes = qsize_of(std::string_view(text, static_cast<std::size_t>(n)));
  struct mq_attr attr {};
  if (::mq_getattr(fd.get(), &attr) == -1) sys::fail("mq_getattr", path, errno);
  info.messages = static_cast<std::uint64_t>(attr.mq_curmsgs);
  info.msg_max = static_cast<std::uint64_t>(attr.mq_maxmsg);
  info.msgsize_max = static_cast<std::uint64_t>(attr.mq_msgsize);
  return true;
}


// --- shm:// channels ------------------------------------------------------------------------

namespace sc = detail::shm_channel;
using detail::byte_locked;
using detail::lock_held;

// The channel objects' file names in /dev/shm: sc::kObjectPrefix without its '/'.
constexpr std::string_view kChannelFilePrefix = std::string_view(sc::kObjectPrefix).substr(1);

// How long an empty, unlocked channel object may be taken for one being created. listen()
// creates the object (O_EXCL) and takes its lock with the next syscall, before it gives the
// object a size: an empty object nobody locks is either in that one-syscall window or left
// by a listener that died there; only its age tells them apart.
constexpr std::chrono::seconds kCreationGrace{10};

// Reads up to `n` bytes at `offset`: how many it got (fewer when the object shrank).
// pread, not a mapping: a peer that shrinks the object under us cannot raise SIGBUS here.
std::size_t read_at(int fd, void* buffer, std::size_t n, std::uint64_t offset) noexcept {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = sys::retry_eintr([&] {
      return ::pread(fd, static_cast<char*>(buffer) + got, n - got, static_cast<off_t>(offset + got));
    });
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

// Seconds since the object's last modification (creation, for one never written).
std::int64_t age_seconds(const struct stat& st) noexcept {
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) - static_cast<std::int64_t>(st.st_mtim.tv_sec);
}

// An object without a complete header: being created by a listener that holds its lock, or
// left by one that died before finishing.
void judge_unfinished(const struct stat& st, bool locked, ChannelInfo& info) {
  if (locked) {
    info.stale = false;
    info.note = "being created: its listener has not finished the header";
  } else if (st.st_size > 0) {
    // listen() locks before it sizes the object: sized and unlocked, its listener is dead.
    info.stale = true;
    info.note = "its listener died while creating it";
  } else if (age_seconds(st) >= kCreationGrace.count()) {
    info.stale = true;
    info.note = "empty and unlocked: its listener died while creating it";
  } else {
    info.note = "empty and unlocked: being created this instant, or its listener died creating it (stale once " +
                std::to_string(kCreationGrace.count()) + " s old)";
  }
}

// Fills `info` from the object open on `fd` (fstat gave `st`): the header and slot table
// checked against the size, then the locks. Every value from the segment is checked before
// it is used as a size or count; the pids are only shown.
void examine_channel(int fd, const struct stat& st, ChannelInfo& info) {
  info.size = static_cast<std::uint64_t>(st.st_size);
  const std::optional<bool> any_lock = lock_held(fd, 0, 0);
  if (!any_lock) {
    info.note = std::string("its locks cannot be read (fcntl F_OFD_GETLK: ") + std::strerror(errno) + ")";
    return;
  }

  sc::ChannelHeader h{};
  const std::size_t got =
      info.size >= sizeof h ? read_at(fd, &h, sizeof h, 0) : 0;  // a short read: it shrank since fstat
  if (got < sizeof h) {
    if (st.st_size == 0 || *any_lock) {
      judge_unfinished(st, *any_lock, info);
    } else {
      info.note = "too small to be a channel (" + std::to_string(st.st_size) + " bytes): not made by ipckit";
    }
    return;
  }
  const sc::HeaderCheck check = sc::check_header(h, info.size);
  using Verdict = sc::HeaderCheck::Verdict;
  if (check.verdict == Verdict::foreign) {
    info.note = "not an ipckit channel (wrong magic)";
    return;
  }
  if (check.verdict == Verdict::other_version) {
    info.note = "layout version " + std::to_string(h.version) + "; this ipckit reads version " +
                std::to_string(sc::kVersion) + " (another build of ipckit made it)";
    return;
  }
  // From here the object speaks this version's lock protocol: a lock is a live end, and no
  // lock at all means every end is dead.
  info.stale = !*any_lock;
  info.reader_alive = *any_lock && byte_locked(fd, sc::kReceiverLockByte);
  if (check.verdict == Verdict::unfinished) {
    judge_unfinished(st, *any_lock, info);
    return;
  }
  if (check.verdict == Verdict::corrupt) {
    info.note = "corrupt header: it " + check.why + (info.stale == true ? "; nobody holds it" : "");
    return;
  }
  const sc::Geometry* geometry = &check.geometry;
  info.capacity = geometry->ring_capacity;
  info.slots = geometry->slot_count;
  if (info.reader_alive && h.receiver_pid > 0) info.reader_pid = h.receiver_pid;
  sc::SlotEntry slots[sc::kMaxSlots]{};
  const std::size_t table = sizeof(sc::SlotEntry) * geometry->slot_count;
  const bool table_read = read_at(fd, slots, table, sizeof(sc::ChannelHeader)) == table;
  for (std::uint32_t i = 0; i < geometry->slot_count; ++i) {
    if (!lock_held(fd, sc::sender_lock_byte(i), 1).value_or(false)) continue;
    ++info.writers;
    if (table_read && slots[i].sender_pid > 0) info.writer_pids.push_back(slots[i].sender_pid);
  }
  if (!info.writer_pids.empty()) info.writer_pid = info.writer_pids.front();

  if (info.stale == true) {
    info.note = "every end is gone" +
                (h.receiver_pid > 0 ? " (its listener was pid " + std::to_string(h.receiver_pid) + ")" : std::string{});
  } else if (!info.reader_alive) {
    info.note = "its listener is gone; " + std::to_string(info.writers) + " sender(s) still attached";
  } else if (h.receiver_closed != 0) {
    info.note = "its listener is closing";
  }
}

// What one /dev/shm entry `file` ("ipckit-ch-NAME") shows, opened through `dir_fd`; `st` is
// its lstat. Nothing when it is not a channel object (any more). The open descriptor is left
// in `fd` for a caller that acts on the very object it examined.
std::optional<ChannelInfo> inspect_channel(int dir_fd, const std::string& file, const struct stat& st, Fd& fd,
                                           UserNames& names) {
  if (!S_ISREG(st.st_mode)) return std::nullopt;  // symlinks, folders: not shm_open objects
  ChannelInfo info;
  info.name = file.substr(kChannelFilePrefix.size());
  info.object = "/" + file;
  info.uid = st.st_uid;
  info.owner = names(st.st_uid);
  info.perms = detail::perms_text(static_cast<unsigned>(st.st_mode));
  info.size = static_cast<std::uint64_t>(st.st_size);
  // O_NONBLOCK: a FIFO swapped in since lstat must not block the listing.
  fd.reset(sys::retry_eintr(
      [&] { return ::openat(dir_fd, file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK); }));
  if (!fd) {
    const int err = errno;
    if (err == ENOENT || err == ELOOP) return std::nullopt;  // removed, or a symlink now
    if (err == EACCES || err == EPERM) {
      info.note = "not readable by this user (owner " + info.owner + ", mode " + info.perms +
                  "): whether it is stale is unknown; its owner or root can tell";
    } else {
      info.note = std::string("cannot be opened: ") + std::strerror(err);
    }
    return info;
  }
  struct stat now {};
  if (::fstat(fd.get(), &now) == -1 || !S_ISREG(now.st_mode)) return std::nullopt;
  info.uid = now.st_uid;
  info.owner = names(now.st_uid);
  info.perms = detail::perms_text(static_cast<unsigned>(now.st_mode));
  examine_channel(fd.get(), now, info);
  return info;
}

// --- memfd channels (shm://@NAME) ------------------------------------------------------------

// The NAME of a descriptor whose link reads "/memfd:ipckit-ch-NAME (deleted)"; "" for any other.
std::string memfd_channel_name(std::string_view link) {
  constexpr std::string_view kDeleted = " (deleted)";
  const std::string prefix = std::string("/") + sc::kMemfdPrefix;
  if (!link.starts_with(prefix) || !link.ends_with(kDeleted)) return {};
  link.remove_prefix(prefix.size());
  link.remove_suffix(kDeleted.size());
  return std::string(link);
}

// The mount id ("mnt_id:" in /proc/.../fdinfo/N) of descriptor `name` of the fdinfo folder
// open on `fdinfo`; -1 when it cannot be read. Reading fdinfo asks procfs, never the file's
// own filesystem, so it cannot block on a FUSE server.
long mount_id(int fdinfo, const char* name) {
  Fd fd{sys::retry_eintr([&] { return ::openat(fdinfo, name, O_RDONLY | O_CLOEXEC); })};
  if (!fd) return -1;
  char text[512];
  const ssize_t n = sys::retry_eintr([&] { return ::read(fd.get(), text, sizeof text - 1); });
  if (n <= 0) return -1;
  const std::string_view view(text, static_cast<std::size_t>(n));
  const auto at = view.find("mnt_id:");
  if (at == std::string_view::npos) return -1;
  std::size_t begin = at + 7;
  while (begin < view.size() && (view[begin] == ' ' || view[begin] == '\t')) ++begin;
  long id = -1;
  std::from_chars(view.data() + begin, view.data() + view.size(), id);
  return id;
}

// The mount every memfd lives on (the kernel's internal shmem mount): the mount id of a memfd
// of our own; -1 when none can be made.
long memfd_mount_id(int self_fdinfo) {
  const Fd probe{::memfd_create("ipckit-ls-probe", MFD_CLOEXEC)};
  if (!probe) return -1;
  return mount_id(self_fdinfo, std::to_string(probe.get()).c_str());
}

std::string pids_text(const std::vector<pid_t>& pids) {
  std::string text;
  for (const pid_t pid : pids) text += (text.empty() ? "" : ", ") + std::to_string(pid);
  return text;
}

// Every memfd channel held by a process whose descriptors this user may read: each memfd
// (device and inode) once, with the processes that hold it. Nothing is asked of a file that is
// not a memfd: a descriptor whose link reads "/memfd:ipckit-ch-NAME (deleted)" is opened with
// O_PATH (no open of the file itself; the holder may have reused the number meanwhile), that
// descriptor of ours must be on the memfds' mount (a file of that name elsewhere, on a FUSE
// mount say, could block a stat or an open) and a regular file, and only then is it reopened
// read-only through it, so the file opened is the one checked.
void add_memfd_channels(UserNames& names, std::vector<ChannelInfo>& channels) {
  struct Found {
    ChannelInfo info;
    dev_t dev;
    ino_t ino;
  };
  std::vector<Found> found;
  // Without /proc (or a memfd of our own to compare with) no memfd channel can be found.
  Fd self_fdinfo{sys::retry_eintr([] { return ::open("/proc/thread-self/fdinfo", O_RDONLY | O_DIRECTORY | O_CLOEXEC); })};
  const long memfd_mount = self_fdinfo ? memfd_mount_id(self_fdinfo.get()) : -1;
  if (memfd_mount < 0) return;
  (void)for_each_name_in(AT_FDCWD, "/proc", [&](int proc_fd, const char* entry) {
    pid_t pid = 0;
    const std::string_view digits(entry);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), pid).ptr != digits.data() + digits.size() ||
        pid <= 0) {
      return;  // not a process
    }
    (void)for_each_name_in(proc_fd, (std::string(entry) + "/fd").c_str(), [&](int fds, const char* fd_name) {
      char link[512];
      const ssize_t n = ::readlinkat(fds, fd_name, link, sizeof link);
      if (n <= 0 || static_cast<std::size_t>(n) == sizeof link) return;
      const std::string name = memfd_channel_name(std::string_view(link, static_cast<std::size_t>(n)));
      if (name.empty()) return;
      // O_PATH through the magic link: no call into the file's filesystem. The descriptor is
      // ours, so what it names cannot change while its mount and type are checked.
      Fd path{sys::retry_eintr([&] { return ::openat(fds, fd_name, O_PATH | O_CLOEXEC); })};
      if (!path || mount_id(self_fdinfo.get(), std::to_string(path.get()).c_str()) != memfd_mount) return;
      struct stat st {};
      if (::fstat(path.get(), &st) == -1 || !S_ISREG(st.st_mode)) return;
      for (Found& f : found) {
        if (f.dev == st.st_dev && f.ino == st.st_ino) {
          f.info.holders.push_back(pid);  // sorted and made unique at the end
          return;
        }
      }
      const std::string reopen = "/proc/thread-self/fd/" + std::to_string(path.get());
      Fd fd{sys::retry_eintr([&] { return ::open(reopen.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK); })};
      struct stat now {};
      if (!fd || ::fstat(fd.get(), &now) == -1 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) return;
      ChannelInfo info;
      info.name = "@" + name;
      info.object = sc::kMemfdPrefix + name;
      info.memfd = true;
      info.uid = now.st_uid;
      info.owner = names(now.st_uid);
      info.perms = detail::perms_text(static_cast<unsigned>(now.st_mode));
      examine_channel(fd.get(), now, info);
      info.holders.push_back(pid);
      found.push_back({std::move(info), st.st_dev, st.st_ino});
    });
  });
  for (Found& f : found) {
    ChannelInfo& info = f.info;
    std::sort(info.holders.begin(), info.holders.end());
    info.holders.erase(std::unique(info.holders.begin(), info.holders.end()), info.holders.end());
    if (info.stale == true) {
      // No end holds a lock, yet a process holds the memfd (a sender before it locks its
      // slot, a descriptor passed on): nothing to remove, the kernel frees it with them.
      info.stale.reset();
      info.note = "no end holds a lock; held by pid " + pids_text(info.holders) +
                  ", and freed by the kernel when they close it";
    }
    channels.push_back(std::move(info));
  }
}

}  // namespace

std::string user_name(uid_t uid) { return sys::user_name(uid); }

std::vector<SysvShmInfo> list_sysv_shm() {
  const auto table = detail::SysvipcTable::read(
      kSysvShmPath, {"key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid"});
  UserNames names;
  std::vector<SysvShmInfo> segments;
  for (std::size_t row = 0; row < table.rows(); ++row) {
    SysvShmInfo info;
    info.key = detail::key_text(table.key(row));
    info.id = static_cast<int>(table.number(row, "shmid"));
    // perms carries SHM_DEST and SHM_LOCKED above the 9 permission bits.
    const unsigned mode = table.perms(row);
    info.perms = detail::perms_text(mode);
    info.status = (mode & kShmDest) != 0 ? "dest" : "";
    info.size = table.unsigned_number(row, "size");
    info.cpid = static_cast<pid_t>(table.number(row, "cpid"));
    info.lpid = static_cast<pid_t>(table.number(row, "lpid"));
    info.nattch = table.unsigned_number(row, "nattch");
    info.uid = static_cast<uid_t>(table.unsigned_number(row, "uid"));
    info.owner = names(info.uid);
    info.atime = table.number(row, "atime");
    info.dtime = table.number(row, "dtime");
    info.ctime = table.number(row, "ctime");
    segments.push_back(std::move(info));
  }
  sort_by_id(segments);
  return segments;
}

std::vector<SysvMsgInfo> list_sysv_msg() {
  const auto table = detail::SysvipcTable::read(
      kSysvMsgPath, {"key", "msqid", "perms", "cbytes", "qnum", "lspid", "lrpid", "uid"});
  UserNames names;
  std::vector<SysvMsgInfo> queues;
  for (std::size_t row = 0; row < table.rows(); ++row) {
    SysvMsgInfo info;
    info.key = detail::key_text(table.key(row));
    info.id = static_cast<int>(table.number(row, "msqid"));
    info.perms = detail::perms_text(table.perms(row));
    info.used_bytes = table.unsigned_number(row, "cbytes");
    info.messages = table.unsigned_number(row, "qnum");
    info.lspid = static_cast<pid_t>(table.number(row, "lspid"));
    info.lrpid = static_cast<pid_t>(table.number(row, "lrpid"));
    info.uid = static_cast<uid_t>(table.unsigned_number(row, "uid"));
    info.owner = names(info.uid);
    info.stime = table.number(row, "stime");
    info.rtime = table.number(row, "rtime");
    info.ctime = table.number(row, "ctime");
    queues.push_back(std::move(info));
  }
  sort_by_id(queues);
  return queues;
}

std::vector<SysvSemInfo> list_sysv_sem() {
  const auto table =
      detail::SysvipcTable::read(kSysvSemPath, {"key", "semid", "perms", "nsems", "uid"});
  UserNames names;
  std::vector<SysvSemInfo> sets;
  for (std::size_t row = 0; row < table.rows(); ++row) {
    SysvSemInfo info;
    info.key = detail::key_text(table.key(row));
    info.id = static_cast<int>(table.number(row, "semid"));
    info.perms = detail::perms_text(table.perms(row));
    info.nsems = table.unsigned_number(row, "nsems");
    info.uid = static_cast<uid_t>(table.unsigned_number(row, "uid"));
    info.owner = names(info.uid);
    info.otime = table.number(row, "otime");
    info.ctime = table.number(row, "ctime");
    sets.push_back(std::move(info));
  }
  sort_by_id(sets);
  return sets;
}

std::vector<PosixShmInfo> list_posix_shm() {
  UserNames names;
  std::vector<PosixShmInfo> objects;
  for_each_entry(kDevShm, "is tmpfs mounted on /dev/shm?",
                 [&](int /*dir_fd*/, const std::string& file, const struct stat& st) {
                   // sem_open("/x") keeps its semaphore in /dev/shm/sem.x: not shared memory.
                   if (file.starts_with("sem.")) return;
                   // Symlinks, folders, sockets: not shm_open objects.
                   if (!S_ISREG(st.st_mode)) return;
                   PosixShmInfo info;
                   info.name = "/" + file;
                   info.size = static_cast<std::uint64_t>(st.st_size);
                   info.uid = st.st_uid;
                   info.owner = names(st.st_uid);
                   info.perms = detail::perms_text(static_cast<unsigned>(st.st_mode));
                   objects.push_back(std::move(info));
                 });
  std::sort(objects.begin(), objects.end(),
            [](const PosixShmInfo& a, const PosixShmInfo& b) { return a.name < b.name; });
  return objects;
}

std::vector<PosixMqInfo> list_posix_mq() { return list_posix_mq(mqueue_mount_point()); }

std::vector<PosixMqInfo> list_posix_mq(const std::string& mount) {
  if (mount.empty()) sys::fail("list POSIX message queues", "/dev/mqueue", 0, mqueue_mount_hint());
  UserNames names;
  std::vector<PosixMqInfo> queues;
  for_each_entry(mount, "the mqueue filesystem is mounted there but cannot be read",
                 [&](int dir_fd, const std::string& file, const struct stat& st) {
                   if (!S_ISREG(st.st_mode)) return;  // the mqueue filesystem holds only queues
                   PosixMqInfo info;
                   info.name = "/" + file;
                   info.uid = st.st_uid;
                   info.owner = names(st.st_uid);
                   info.perms = detail::perms_text(static_cast<unsigned>(st.st_mode));
                   if (!read_queue(dir_fd, file, mount + "/" + file, info)) return;
                   queues.push_back(std::move(info));
                 });
  std::sort(queues.begin(), queues.end(),
            [](const PosixMqInfo& a, const PosixMqInfo& b) { return a.name < b.name; });
  return queues;
}

std::vector<ChannelInfo> list_channels() {
  UserNames names;
  std::vector<ChannelInfo> channels;
  for_each_entry(kDevShm, "is tmpfs mounted on /dev/shm?",
                 [&](int dir_fd, const std::string& file, const struct stat& st) {
                   if (!file.starts_with(kChannelFilePrefix)) return;
                   Fd fd;
                   if (auto info = inspect_channel(dir_fd, file, st, fd, names)) channels.push_back(std::move(*info));
                 });
  add_memfd_channels(names, channels);
  std::sort(channels.begin(), channels.end(),
            [](const ChannelInfo& a, const ChannelInfo& b) { return a.name < b.name; });
  return channels;
}

StaleRemoval remove_stale_channel(const std::string& name) {
  const std::string object = sc::kObjectPrefix + name;
  validate_posix_name(object, "shm_unlink");
  const std::string file = object.substr(1);
  Fd dir{sys::retry_eintr([&] { return ::open(kDevShm, O_RDONLY | O_DIRECTORY | O_CLOEXEC); })};
  if (!dir) sys::fail("open", kDevShm, errno, "is tmpfs mounted on /dev/shm?");
  struct stat st {};
  if (::fstatat(dir.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == -1) {
    if (errno == ENOENT) return StaleRemoval::gone;
    sys::fail("fstatat", std::string(kDevShm) + object, errno);
  }
  // Look again now: the listing is a snapshot, and a sender may have joined since.
  UserNames names;
  Fd fd;
  const std::optional<ChannelInfo> info = inspect_channel(dir.get(), file, st, fd, names);
  if (!info) return StaleRemoval::gone;
  if (!info->stale) return StaleRemoval::unknown;
  if (!*info->stale) return StaleRemoval::not_stale;
  // Unlinked only while the name still names the object whose locks were just tested.
  if (const int err = detail::unlink_if_names(object, fd.get()); err != 0) {
    if (err == ENOENT) return StaleRemoval::gone;
    sys::fail("shm_unlink", object, err,
              err == EACCES || err == EPERM
                  ? sys::owner_and_mode(std::string(kDevShm) + object, "the stale channel shm://" + name) +
                        " in the sticky /dev/shm: only its owner or root may remove it"
                  : "removing the stale channel shm://" + name);
  }
  return StaleRemoval::removed;
}

}  // namespace ipckit
