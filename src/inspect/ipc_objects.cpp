// The IPC objects that exist on this host: System V shared memory segments, message queues
// and semaphore sets, read from /proc/sysvipc/{shm,msg,sem} (what ipcs and lsipc read);
// POSIX shared memory objects, the regular files of /dev/shm; POSIX message queues, the
// files of the mqueue filesystem wherever it is mounted.

#include <dirent.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/fd.hpp"
#include "ipckit/inspect.hpp"
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

// Calls `visit(dir_fd, file, stat)` for each entry of `dir` but "." and "..", as lstat sees
// it; entries removed between readdir and lstat are skipped. Throws Error.
void for_each_entry(const std::string& dir, const std::string& open_hint,
                    const std::function<void(int, const std::string&, const struct stat&)>& visit) {
  Fd dir_fd{sys::retry_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); })};
  if (!dir_fd) sys::fail("open", dir, errno, open_hint);
  // fdopendir owns the descriptor from here; closedir closes it.
  std::unique_ptr<DIR, DirCloser> stream{::fdopendir(dir_fd.get())};
  if (!stream) sys::fail("fdopendir", dir, errno);
  const int dfd = dir_fd.release();
  for (;;) {
    errno = 0;
    // readdir is safe here: the stream is this call's own (glibc locks per stream).
    const dirent* entry = ::readdir(stream.get());  // NOLINT(concurrency-mt-unsafe)
    if (entry == nullptr) {
      if (errno != 0) sys::fail("readdir", dir, errno);
      return;
    }
    const std::string file = entry->d_name;
    if (file == "." || file == "..") continue;
    struct stat st {};
    if (::fstatat(dfd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
      if (errno == ENOENT) continue;  // removed since readdir saw it
      sys::fail("fstatat", dir + "/" + file, errno);
    }
    visit(dfd, file, st);
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

}  // namespace ipckit
