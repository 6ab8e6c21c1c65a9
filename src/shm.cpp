#include "ipckit/shm.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <limits>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fd_util.hpp"
#include "shm_util.hpp"
#include "sys.hpp"

namespace ipckit {

using detail::dev_shm_space;
using detail::fd_size;
using detail::size_and_reserve;

namespace {

// "the object belongs to root (uid 0) and has mode 0600": who may open a POSIX shm object.
std::string owner_and_mode(std::string_view name) {
  return sys::owner_and_mode("/dev/shm" + std::string(name), "the object");
}

MapFdOptions capped(MapFdOptions options, Access access) {
  if (access == Access::read_only) options.access = Access::read_only;
  return options;
}

}  // namespace

namespace detail {

std::string dev_shm_space() {
  struct statvfs vfs {};
  if (::statvfs("/dev/shm", &vfs) == -1) return "/dev/shm's free space cannot be read";
  return "/dev/shm has " + std::to_string(static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize) +
         " bytes free of " + std::to_string(static_cast<unsigned long long>(vfs.f_blocks) * vfs.f_frsize);
}

std::size_t fd_size(const Fd& fd, std::string_view object) {
  struct stat st {};
  sys::check(::fstat(fd.get(), &st), "fstat", object);
  return static_cast<std::size_t>(st.st_size);
}

void size_and_reserve(const Fd& fd, std::size_t size, std::string_view object, const std::string& enospc_hint) {
  sys::check(::ftruncate(fd.get(), static_cast<off_t>(size)), "ftruncate", object);
  int rc = ::posix_fallocate(fd.get(), 0, static_cast<off_t>(size));
  if (rc != 0) {
    sys::fail("posix_fallocate", object, rc,
              rc == ENOSPC ? enospc_hint : std::string{});
  }
}

}  // namespace detail

// --- SharedMemory -----------------------------------------------------------------------

SharedMemory SharedMemory::create(const ShmOptions& o) {
  validate_posix_name(o.name);
  if (o.size == 0) sys::fail("shm_open", o.name, EINVAL, "size is 0; give the segment's size in bytes");
  if (o.size > static_cast<std::size_t>(std::numeric_limits<off_t>::max()))
    sys::fail("shm_open", o.name, EFBIG, "size " + std::to_string(o.size) + " is larger than a file can be");
  // Try to create it; when that is not required, fall back to the existing object.
  int fd = ::shm_open(o.name.c_str(), O_RDWR | O_CREAT | O_EXCL, o.mode);
  bool created = fd != -1;
  if (!created && errno == EEXIST && !o.exclusive) fd = ::shm_open(o.name.c_str(), O_RDWR, 0);
  if (fd == -1) {
    int err = errno;
    std::string hint;
    if (err == EEXIST)
      hint = "the name is taken; open it instead, or remove it with `ipckit rm --shm " + o.name + "`";
    else if (err == EACCES)
      hint = owner_and_mode(o.name);
    else if (err == EMFILE || err == ENFILE)
      hint = sys::descriptor_limit_hint(err);
    sys::fail("shm_open", o.name, err, hint);
  }
  Fd owned{fd};
  try {
    // Grow, never shrink, even when we created it: a non-exclusive opener may have grown
    // and mapped it between our O_EXCL create and this line.
    if (fd_size(owned, o.name) < o.size) {
      size_and_reserve(owned, o.size, o.name,
                       "not enough room for " + std::to_string(o.size) + " bytes: " + dev_shm_space());
    }
  } catch (...) {
    if (created) ::shm_unlink(o.name.c_str());  // ours and unusable: leave nothing behind
    throw;
  }
  return SharedMemory{o.name, std::move(owned), Access::read_write};
}

SharedMemory SharedMemory::open(std::string_view name, Access access) {
  validate_posix_name(name);
  const std::string n(name);
  int fd = ::shm_open(n.c_str(), access == Access::read_only ? O_RDONLY : O_RDWR, 0);
  if (fd == -1) {
    int err = errno;
    std::string hint;
    if (err == ENOENT)
      hint = "no such shared memory object; create it first (`ipckit ls --posix` lists them)";
    else if (err == EACCES)
      hint = owner_and_mode(name) + (access == Access::read_write ? "; try Access::read_only" : "");
    sys::fail("shm_open", name, err, hint);
  }
  return SharedMemory{n, Fd{fd}, access};
}

bool SharedMemory::remove(std::string_view name) {
  validate_posix_name(name, "shm_unlink");
  // sem_open("/x") keeps its semaphore in /dev/shm/sem.x, and shm_unlink("/sem.x") would
  // delete that semaphore: it is not shared memory.
  if (name.starts_with("/sem.")) {
    sys::fail("shm_unlink", name, EINVAL,
              "this names the file of a POSIX named semaphore (sem_open(\"/" + std::string(name.substr(5)) +
                  "\") keeps it as /dev/shm" + std::string(name) +
                  "), not a shared memory object; not removed (NamedSemaphore::remove removes a semaphore)");
  }
  const std::string n(name);
  if (::shm_unlink(n.c_str()) == 0) return true;
  int err = errno;
  if (err == ENOENT) return false;
  sys::fail("shm_unlink", name, err, err == EACCES ? owner_and_mode(name) : std::string{});
}

std::size_t SharedMemory::size() const { return fd_size(fd_, name_); }

Mapping SharedMemory::map(MapFdOptions options) const {
  return Mapping::map_fd(fd_, capped(options, access_));
}

// --- Memfd ------------------------------------------------------------------------------

Memfd Memfd::create(const MemfdOptions& o) {
  const std::string object = "memfd:" + o.name;
  if (o.size == 0) sys::fail("memfd_create", object, EINVAL, "size is 0; give the segment's size in bytes");
  if (o.size > static_cast<std::size_t>(std::numeric_limits<off_t>::max()))
    sys::fail("memfd_create", object, EFBIG, "size " + std::to_string(o.size) + " is larger than a file can be");
  unsigned flags = MFD_CLOEXEC | (o.allow_sealing ? MFD_ALLOW_SEALING : 0U);
  Fd fd{sys::check(::memfd_create(o.name.c_str(), flags), "memfd_create", object,
                   o.name.size() > 249 ? "the name is longer than 249 bytes" : std::string{})};
  size_and_reserve(fd, o.size, object,
                   "not enough room for " + std::to_string(o.size) +
                       " bytes: memfd pages come from memory (and swap), not from /dev/shm; free some memory");
  return Memfd{std::move(fd)};
}

Memfd Memfd::adopt(Fd fd) {
  const std::string link = "/proc/self/fd/" + std::to_string(fd.get());
  char target[256];
  ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
  if (n < 0) sys::fail("readlink", link, errno, "is the descriptor open?");
  std::string_view what(target, static_cast<std::size_t>(n));
  if (what.rfind("/memfd:", 0) != 0)
    sys::fail("Memfd::adopt", std::string(what), EINVAL, "the descriptor is not a memfd");
  return Memfd{std::move(fd)};
}

std::size_t Memfd::size() const { return fd_size(fd_, detail::describe_fd(fd_.get())); }

void Memfd::seal_size() const {
  if (::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1) {
    int err = errno;
    sys::fail("fcntl(F_ADD_SEALS)", detail::describe_fd(fd_.get()), err,
              err == EPERM ? "sealing is not allowed: the memfd was made without "
                             "MFD_ALLOW_SEALING, or it is already sealed against new seals"
                           : std::string{});
  }
}

bool Memfd::size_sealed() const {
  int seals = sys::check(::fcntl(fd_.get(), F_GET_SEALS), "fcntl(F_GET_SEALS)", detail::describe_fd(fd_.get()));
  return (seals & F_SEAL_SHRINK) != 0 && (seals & F_SEAL_GROW) != 0;
}

Mapping Memfd::map(MapFdOptions options) const { return Mapping::map_fd(fd_, options); }

}  // namespace ipckit
