#include "ipckit/mapping.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd_util.hpp"
#include "sys.hpp"

// Every pitfall of the seed's Q&A on mmap is checked here before mmap(2) runs, and reported as
// an Error whose hint says what was wrong and what would be right. The checks use errno values
// the kernel itself gives for the same mistake (EINVAL, EACCES), so a caller that switches on
// errnum() sees what a raw mmap would have said, only earlier and in words.

namespace ipckit {
namespace {

constexpr const char* kAnonymousObject = "anonymous shared memory";

std::string num(std::size_t n) { return std::to_string(n); }

int prot_for(Access access) {
  return access == Access::read_write ? PROT_READ | PROT_WRITE : PROT_READ;
}

int flags_for(Sharing sharing) { return sharing == Sharing::shared ? MAP_SHARED : MAP_PRIVATE; }

// "PROT_READ|PROT_WRITE, MAP_SHARED (Access::read_write, Sharing::shared)"
std::string describe_request(Access access, Sharing sharing) {
  std::string s = access == Access::read_write ? "PROT_READ|PROT_WRITE" : "PROT_READ";
  s += sharing == Sharing::shared ? ", MAP_SHARED" : ", MAP_PRIVATE";
  s += access == Access::read_write ? " (Access::read_write" : " (Access::read_only";
  s += sharing == Sharing::shared ? ", Sharing::shared)" : ", Sharing::private_copy)";
  return s;
}

std::string describe_open_mode(int flags) {
  switch (flags & O_ACCMODE) {
    case O_RDONLY: return "O_RDONLY";
    case O_WRONLY: return "O_WRONLY";
    case O_RDWR: return "O_RDWR";
    default: return "access mode " + std::to_string(flags & O_ACCMODE);
  }
}

// The argument checks that need no file: length 0 (M5) and an offset that is not a multiple
// of the page size (M9). map_file runs them before it opens (or creates) anything.
void check_arguments(const std::string& object, std::size_t offset,
                     const std::optional<std::size_t>& length) {
  if (length && *length == 0) {
    sys::fail("mmap", object, EINVAL,
              "length 0: a mapping needs at least 1 byte; give the number of bytes to map, or "
              "leave .length empty to map the rest of the file from the offset");
  }
  const std::size_t page = page_size();
  if (offset % page != 0) {
    const std::size_t below = offset - offset % page;
    sys::fail("mmap", object, EINVAL,
              "offset " + num(offset) + " is not a multiple of the page size " + num(page) +
                  "; the nearest valid offsets are " + num(below) + " and " + num(below + page) +
                  " (map from " + num(below) + " and skip " + num(offset - below) +
                  " bytes in the mapping)");
  }
  if (offset > static_cast<std::size_t>(INT64_MAX)) {
    sys::fail("mmap", object, EOVERFLOW,
              "offset " + num(offset) + " does not fit in off_t (at most " +
                  std::to_string(INT64_MAX) + ")");
  }
}

// M6: the descriptor's open mode must allow what the mapping asks.
void check_open_mode(int fd, const std::string& object, Access access, Sharing sharing) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags == -1) {
    int err = errno;
    sys::fail("fcntl(F_GETFL)", object, err,
              err == EBADF ? "the descriptor is not open; map an open file" : std::string{});
  }
  const std::string asked = describe_request(access, sharing);
  const std::string mode = describe_open_mode(flags);
#ifdef O_PATH
  if ((flags & O_PATH) != 0) {
    sys::fail("mmap", object, EBADF,
              "the descriptor was opened with O_PATH, which gives no access to the file's "
              "data; open it O_RDONLY or O_RDWR to map it");
  }
#endif
  if ((flags & O_ACCMODE) == O_WRONLY) {
    sys::fail("mmap", object, EACCES,
              "the mapping asks " + asked + ", but the file is open O_WRONLY: every mapping "
              "reads the file, so a write-only descriptor cannot be mapped at all; open it "
              "O_RDWR (or O_RDONLY with Access::read_only)");
  }
  if (access == Access::read_write && sharing == Sharing::shared) {
    if ((flags & O_ACCMODE) != O_RDWR) {
      sys::fail("mmap", object, EACCES,
                "the mapping asks " + asked + ", but the file is open " + mode +
                    ": writes to a shared mapping go to the file, so it must be open O_RDWR; "
                    "open it O_RDWR, or ask Access::read_only, or Sharing::private_copy for a "
                    "private copy-on-write copy that leaves the file unchanged");
    }
  }
}

// M8 and M5: works out the length to map and checks that [offset, offset + length) lies
// within the object, so no page of the mapping is past the end of the file (no SIGBUS later).
std::size_t checked_length(int fd, const std::string& object, std::size_t offset,
                           const std::optional<std::size_t>& length) {
  struct stat st {};
  if (::fstat(fd, &st) == -1) sys::fail("fstat", object, errno);
  if (!S_ISREG(st.st_mode)) {
    // Devices, pipes and sockets have no size to check: mmap decides (a pipe: ENODEV).
    if (!length) {
      sys::fail("mmap", object, EINVAL,
                "the descriptor is " + sys::describe_file_type(st.st_mode) +
                    ", which has no file size to map; give .length");
    }
    return *length;
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    sys::fail("mmap", object, EINVAL,
              "the file is empty (size 0): touching its pages would raise SIGBUS; extend it "
              "first (MapFileOptions::create_size, or ftruncate) to the size you want to map");
  }
  if (offset >= size) {
    sys::fail("mmap", object, EINVAL,
              "offset " + num(offset) + " is at or past the end of the file (size " + num(size) +
                  "); map from an offset below " + num(size) + ", or extend the file first");
  }
  if (!length) return size - offset;
  if (*length > size - offset) {
    std::size_t end = 0;
    const bool wraps = __builtin_add_overflow(offset, *length, &end);
    sys::fail("mmap", object, EINVAL,
              "offset " + num(offset) + " + length " + num(*length) +
                  (wraps ? " overflows size_t" : " ends at " + num(end)) +
                  ", past the end of the file (size " + num(size) +
                  "): touching those pages would raise SIGBUS; map at most " +
                  num(size - offset) + " bytes, or extend the file first (create_size, "
                  "ftruncate)");
  }
  return *length;
}

std::string mmap_hint(int err) {
  switch (err) {
    case ENODEV:
      return "this kind of file cannot be mapped (pipes, sockets, directories, most character "
             "devices); map a regular file, POSIX shared memory or a memfd";
    case ENOMEM:
      return "no room for the mapping: the length is larger than the free address space, or "
             "the process reached RLIMIT_AS, RLIMIT_DATA or vm.max_map_count";
    case EPERM:
      return "the file is sealed against writing (F_SEAL_WRITE / F_SEAL_FUTURE_WRITE) or the "
             "operation is not permitted; map it Access::read_only";
    case EACCES:
      return "the file does not allow the protection asked (an append-only or immutable file, "
             "`chattr +a`/`+i`, cannot be mapped shared and writable; nor can a file on a "
             "noexec mount be mapped executable)";
    case EAGAIN:
      return "the file is locked, or too much memory is locked (RLIMIT_MEMLOCK)";
    case EINVAL:
      return "the kernel refused the length or offset (a hugetlbfs file needs multiples of the "
             "huge page size)";
    case EOVERFLOW:
      return "offset + length goes past what the file offset type can hold";
    case ENFILE:
      return "the system-wide file limit is reached (/proc/sys/fs/file-max)";
    default:
      return {};
  }
}

// mmap, with MAP_FAILED turned into an Error whose hint fits the errno (M13).
void* map_or_throw(std::size_t length, int prot, int flags, int fd, std::size_t offset,
                   const std::string& object) {
  void* p = ::mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) {
    const int err = errno;
    std::string hint = mmap_hint(err);
    if (err == ENOMEM) hint += " (asked " + num(length) + " bytes)";
    errno = err;  // building the hint may allocate; check_map reads errno
    sys::check_map(p, object, std::move(hint));
  }
  return p;
}

std::string open_hint(int err, const std::filesystem::path& path, bool creating, bool needs_write) {
  switch (err) {
    case ENOENT:
      return creating ? "the folder " + sys::quoted(path.parent_path().string()) +
                            " does not exist; create it first"
                      : "no such file; check the path, or set .create_size to create it";
    case ELOOP:
      return "the path is a symbolic link, which ipckit does not follow (O_NOFOLLOW): a link "
             "in a shared folder could point anywhere; give the link's target instead";
    case EACCES: {
      std::string hint = "this user may not open the file ";
      hint += needs_write ? "for reading and writing (O_RDWR)" : "for reading (O_RDONLY)";
      hint += "; " + sys::owner_and_mode(path.string(), "the file");
      if (needs_write) {
        hint += "; a read-only mapping (Access::read_only or Sharing::private_copy) needs only "
                "read permission";
      }
      return hint;
    }
    case EISDIR:
      return "the path is a directory; map a regular file";
    case EROFS:
      return "the file system is read-only; map with Access::read_only";
    case ETXTBSY:
      return "the file is a running program; map it read-only";
    case EMFILE:
    case ENFILE:
      return sys::descriptor_limit_hint(err);
    default:
      return {};
  }
}

}  // namespace

std::size_t page_size() noexcept {
  // sysconf cannot fail for _SC_PAGESIZE on Linux; 4096 is a guard, never expected.
  static const std::size_t cached = [] {
    long page = ::sysconf(_SC_PAGESIZE);
    return page > 0 ? static_cast<std::size_t>(page) : std::size_t{4096};
  }();
  return cached;
}

Mapping Mapping::map_file(const MapFileOptions& options) {
  const std::string object = options.path.string();
  if (options.path.empty())
    sys::fail("open", object, ENOENT, "the path is empty; give the file to map");
  check_arguments(object, options.offset, options.length);
  if (options.create_size && *options.create_size > static_cast<std::size_t>(INT64_MAX)) {
    sys::fail("ftruncate", object, EFBIG,
              "create_size " + num(*options.create_size) + " does not fit in off_t");
  }

  // A shared writable mapping needs a descriptor open for writing (M6), and so does
  // extending the file; everything else reads only. A private copy-on-write mapping writes
  // to its own pages, never to the file, so O_RDONLY is enough for it.
  const bool needs_write = (options.access == Access::read_write && options.sharing == Sharing::shared) ||
                           options.create_size.has_value();
  // O_NONBLOCK: opening a FIFO by mistake must not hang; it changes nothing for a regular file.
  int flags = (needs_write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  // With create_size, try O_EXCL first so we know whether the file is ours: a file we made
  // is removed again if anything below throws, so a failed call leaves nothing behind.
  bool created = false;
  Fd fd;
  if (options.create_size) {
    fd = Fd{sys::retry_eintr([&] { return ::open(options.path.c_str(), flags | O_CREAT | O_EXCL, 0600); })};
    created = fd.valid();
  }
  if (!fd) fd = Fd{sys::retry_eintr([&] { return ::open(options.path.c_str(), flags, 0600); })};
  struct RemoveIfCreated {
    const std::filesystem::path& path;
    bool armed;
    ~RemoveIfCreated() {
      if (armed) ::unlink(path.c_str());
    }
  } remove_on_failure{options.path, created};
  if (!fd) {
    int err = errno;
    sys::fail("open", object, err, open_hint(err, options.path, options.create_size.has_value(), needs_write));
  }

  struct stat st {};
  if (::fstat(fd.get(), &st) == -1) sys::fail("fstat", object, errno);
  if (!S_ISREG(st.st_mode)) {
    sys::fail("mmap", object, ENODEV,
              "the path is " + sys::describe_file_type(st.st_mode) +
                  ", not a regular file; map_file maps regular files (Mapping::map_fd maps "
                  "shared memory, memfds and devices)");
  }
  if (options.create_size && static_cast<std::size_t>(st.st_size) < *options.create_size) {
    // Grow only: ftruncate to a smaller size would cut off data other processes may use.
    if (::ftruncate(fd.get(), static_cast<off_t>(*options.create_size)) == -1) {
      int err = errno;
      std::string hint = "could not extend the file from " + num(static_cast<std::size_t>(st.st_size)) +
                         " to " + num(*options.create_size) + " bytes";
      if (err == EFBIG || err == EINVAL) hint += ": larger than the file system allows";
      if (err == ENOSPC) hint += ": the file system is full";
      if (err == EPERM) hint += ": the file is sealed or append-only";
      sys::fail("ftruncate", object, err, hint);
    }
  }

  check_open_mode(fd.get(), object, options.access, options.sharing);
  const std::size_t length = checked_length(fd.get(), object, options.offset, options.length);
  void* address = map_or_throw(length, prot_for(options.access), flags_for(options.sharing),
                               fd.get(), options.offset, object);
  remove_on_failure.armed = false;
  // `fd` closes here: the mapping holds its own reference to the file (M11).
  return Mapping{address, length, options.access == Access::read_write};
}

Mapping Mapping::map_fd(const Fd& fd, const MapFdOptions& options) {
  const std::string object = detail::describe_fd(fd.get());
  check_arguments(object, options.offset, options.length);
  check_open_mode(fd.get(), object, options.access, options.sharing);
  const std::size_t length = checked_length(fd.get(), object, options.offset, options.length);
  void* address = map_or_throw(length, prot_for(options.access), flags_for(options.sharing),
                               fd.get(), options.offset, object);
  return Mapping{address, length, options.access == Access::read_write};
}

Mapping Mapping::anonymous_shared(std::size_t length) {
  if (length == 0) {
    sys::fail("mmap", kAnonymousObject, EINVAL,
              "length 0: a mapping needs at least 1 byte; give the number of bytes to share");
  }
  void* address =
      map_or_throw(length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0, kAnonymousObject);
  return Mapping{address, length, true};
}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    unmap();  // the old mapping goes first, with its own address and length (M10)
    Region::operator=(other);
    other.forget();
  }
  return *this;
}

Mapping::~Mapping() { unmap(); }

void Mapping::unmap() noexcept {
  if (address_ != nullptr) {
    int saved = errno;
    // Exactly what mmap returned and was asked for: munmap rounds the length up to whole
    // pages as mmap did. It cannot fail for a range that mmap gave.
    ::munmap(address_, length_);
    errno = saved;
  }
  forget();
}

void Mapping::sync(SyncMode mode) const {
  if (address_ == nullptr) {
    sys::fail("msync", "empty mapping", EINVAL,
              "this Mapping holds no memory (default-constructed or moved from)");
  }
  const int flags = mode == SyncMode::wait ? MS_SYNC : MS_ASYNC;
  if (::msync(address_, length_, flags) == -1) {
    int err = errno;
    char where[64];
    std::snprintf(where, sizeof where, "mapping at %p, %zu bytes", address_, length_);
    sys::fail("msync", where, err,
              err == ENOMEM ? "the memory is no longer mapped" : std::string{});
  }
}

}  // namespace ipckit
