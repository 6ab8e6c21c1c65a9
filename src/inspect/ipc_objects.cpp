// The IPC objects that exist on this host: System V shared memory segments, read from
// /proc/sysvipc/shm (what ipcs -m and lsipc -m read), and POSIX shared memory objects, the
// regular files of /dev/shm. Message queues, semaphores and channels join here, one function
// each, as their mechanisms land.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "ipckit/fd.hpp"
#include "ipckit/inspect.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

constexpr const char* kSysvShmPath = "/proc/sysvipc/shm";
constexpr const char* kDevShm = "/dev/shm";

// Mode bits the kernel keeps next to the permission bits of a segment (linux/shm.h).
constexpr unsigned kShmDest = 01000;  // SHM_DEST: marked for removal, destroyed at last detach

std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

// A whole word as a number in `base`, or nothing.
template <class T>
std::optional<T> parse_number(std::string_view word, int base = 10) {
  T value{};
  auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value, base);
  if (ec != std::errc{} || end != word.data() + word.size()) return std::nullopt;
  return value;
}

std::string octal_perms(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 0777U);
  return text;
}

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

// The columns of /proc/sysvipc/shm, found by the names of its header line: the kernel has
// added columns over time (rss, swap), so positions are not a contract, names are.
class SysvShmColumns {
 public:
  explicit SysvShmColumns(std::string_view header) {
    auto names = split_whitespace(header);
    count_ = names.size();
    for (std::size_t i = 0; i < names.size(); ++i) index_.emplace(std::string(names[i]), i);
    for (const char* needed : {"key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid"}) {
      if (!index_.contains(needed)) {
        sys::fail("parse", kSysvShmPath, 0,
                  "the header line has no \"" + std::string(needed) + "\" column: \"" +
                      std::string(header) + "\"");
      }
    }
  }

  [[nodiscard]] std::size_t count() const noexcept { return count_; }

  /// The word of `row` in column `name`, or nothing when the kernel has no such column.
  [[nodiscard]] std::optional<std::string_view> get(const std::vector<std::string_view>& row,
                                                    const char* name) const {
    auto it = index_.find(name);
    if (it == index_.end()) return std::nullopt;
    return row.at(it->second);
  }

 private:
  std::map<std::string, std::size_t, std::less<>> index_;
  std::size_t count_ = 0;
};

[[noreturn]] void bad_row(std::string_view line, const std::string& why) {
  sys::fail("parse", kSysvShmPath, 0, why + " in line \"" + std::string(line) + "\"");
}

template <class T>
T number_in(const SysvShmColumns& columns, const std::vector<std::string_view>& row,
            const char* name, std::string_view line, int base = 10) {
  auto word = columns.get(row, name);
  if (!word) return T{};  // an optional column this kernel lacks (the times)
  auto value = parse_number<T>(*word, base);
  if (!value) {
    bad_row(line,
            "column " + std::string(name) + " is not a number (\"" + std::string(*word) + "\")");
  }
  return *value;
}

SysvShmInfo parse_sysv_shm_row(const SysvShmColumns& columns, std::string_view line,
                               UserNames& names) {
  auto row = split_whitespace(line);
  if (row.size() != columns.count()) {
    bad_row(line, std::to_string(row.size()) + " columns where the header has " +
                      std::to_string(columns.count()));
  }
  SysvShmInfo info;
  // The kernel prints the key as a signed int (%d): keys above 0x7fffffff come out negative.
  const auto key = number_in<std::int32_t>(columns, row, "key", line);
  char key_text[16];
  std::snprintf(key_text, sizeof key_text, "0x%08x", static_cast<std::uint32_t>(key));
  info.key = key_text;
  info.id = number_in<int>(columns, row, "shmid", line);
  // perms is printed in octal (%4o), with SHM_DEST and SHM_LOCKED above the 9 permission bits.
  const auto mode = number_in<unsigned>(columns, row, "perms", line, 8);
  info.perms = octal_perms(mode);
  info.status = (mode & kShmDest) != 0 ? "dest" : "";
  info.size = number_in<std::uint64_t>(columns, row, "size", line);
  info.cpid = number_in<pid_t>(columns, row, "cpid", line);
  info.lpid = number_in<pid_t>(columns, row, "lpid", line);
  info.nattch = number_in<std::uint64_t>(columns, row, "nattch", line);
  info.uid = number_in<uid_t>(columns, row, "uid", line);
  info.owner = names(info.uid);
  info.atime = number_in<std::int64_t>(columns, row, "atime", line);
  info.dtime = number_in<std::int64_t>(columns, row, "dtime", line);
  info.ctime = number_in<std::int64_t>(columns, row, "ctime", line);
  return info;
}

struct DirCloser {
  void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};

}  // namespace

std::string user_name(uid_t uid) { return sys::user_name(uid); }

std::vector<SysvShmInfo> list_sysv_shm() {
  const std::string text = sys::read_text_file(kSysvShmPath);
  std::string_view rest = text;
  auto next_line = [&rest]() -> std::optional<std::string_view> {
    if (rest.empty()) return std::nullopt;
    auto end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    return line;
  };

  auto header = next_line();
  if (!header) sys::fail("parse", kSysvShmPath, 0, "the file is empty; expected a header line");
  const SysvShmColumns columns(*header);

  UserNames names;
  std::vector<SysvShmInfo> segments;
  while (auto line = next_line()) {
    if (split_whitespace(*line).empty()) continue;
    segments.push_back(parse_sysv_shm_row(columns, *line, names));
  }
  std::sort(segments.begin(), segments.end(),
            [](const SysvShmInfo& a, const SysvShmInfo& b) { return a.id < b.id; });
  return segments;
}

std::vector<PosixShmInfo> list_posix_shm() {
  Fd dir_fd{sys::retry_eintr([] { return ::open(kDevShm, O_RDONLY | O_DIRECTORY | O_CLOEXEC); })};
  if (!dir_fd) sys::fail("open", kDevShm, errno, "is tmpfs mounted on /dev/shm?");
  // fdopendir owns the descriptor from here; closedir closes it.
  std::unique_ptr<DIR, DirCloser> dir{::fdopendir(dir_fd.get())};
  if (!dir) sys::fail("fdopendir", kDevShm, errno);
  const int dfd = dir_fd.release();

  UserNames names;
  std::vector<PosixShmInfo> objects;
  for (;;) {
    errno = 0;
    // readdir is safe here: the stream is this call's own (glibc locks per stream).
    const dirent* entry = ::readdir(dir.get());  // NOLINT(concurrency-mt-unsafe)
    if (entry == nullptr) {
      if (errno != 0) sys::fail("readdir", kDevShm, errno);
      break;
    }
    const std::string_view file = entry->d_name;
    if (file == "." || file == "..") continue;
    // sem_open("/x") keeps its semaphore in /dev/shm/sem.x: a semaphore, not shared memory.
    if (file.starts_with("sem.")) continue;
    struct stat st {};
    if (::fstatat(dfd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
      if (errno == ENOENT) continue;  // removed since readdir saw it
      sys::fail("fstatat", std::string(kDevShm) + "/" + std::string(file), errno);
    }
    if (!S_ISREG(st.st_mode)) continue;  // symlinks, folders, sockets: not shm_open objects
    PosixShmInfo info;
    info.name = "/" + std::string(file);
    info.size = static_cast<std::uint64_t>(st.st_size);
    info.uid = st.st_uid;
    info.owner = names(st.st_uid);
    info.perms = octal_perms(static_cast<unsigned>(st.st_mode));
    objects.push_back(std::move(info));
  }
  std::sort(objects.begin(), objects.end(),
            [](const PosixShmInfo& a, const PosixShmInfo& b) { return a.name < b.name; });
  return objects;
}

}  // namespace ipckit
