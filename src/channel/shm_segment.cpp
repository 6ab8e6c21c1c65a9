// A shared-memory segment's life: see shm_segment.hpp.

#include "shm_segment.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "../shm_util.hpp"
#include "../sys.hpp"
#include "undo.hpp"

namespace ipckit::detail {
namespace {

flock lock_of(short type, std::uint64_t start, std::uint64_t len) noexcept {
  flock l{};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = static_cast<off_t>(start);
  l.l_len = static_cast<off_t>(len);
  l.l_pid = 0;  // required for OFD locks
  return l;
}

constexpr std::string_view kMemfdPrefix = "memfd:";

}  // namespace

bool try_lock_byte(int fd, std::uint64_t byte, std::string_view object) {
  flock l = lock_of(F_WRLCK, byte, 1);
  if (sys::retry_eintr([&] { return ::fcntl(fd, F_OFD_SETLK, &l); }) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  sys::fail("fcntl(F_OFD_SETLK)", object, errno, "taking the liveness lock on byte " + std::to_string(byte));
}

void unlock_byte(int fd, std::uint64_t byte) noexcept {
  flock l = lock_of(F_UNLCK, byte, 1);
  (void)::fcntl(fd, F_OFD_SETLK, &l);
}

std::optional<bool> lock_held(int fd, std::uint64_t start, std::uint64_t len) noexcept {
  // F_OFD_GETLK with a write lock reports any lock at all.
  flock l = lock_of(F_WRLCK, start, len);
  if (::fcntl(fd, F_OFD_GETLK, &l) == -1) return std::nullopt;
  return l.l_type != F_UNLCK;
}

Fd create_segment(const NewSegment& s, const std::function<void()>& taken) {
  const int raw = s.memfd ? ::memfd_create(s.name.c_str() + kMemfdPrefix.size(), MFD_CLOEXEC | MFD_ALLOW_SEALING)
                          : ::shm_open(s.name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (raw == -1) {
    const int err = errno;
    if (err == EEXIST) taken();
    sys::fail(s.memfd ? "memfd_create" : "shm_open", s.name, err,
              (err == EMFILE || err == ENFILE ? sys::descriptor_limit_hint(err) + "; " : std::string{}) +
                  "creating the segment of " + s.url);
  }
  Fd fd{raw};
  UndoUnlessDone unlink([&] {
    if (!s.memfd) (void)::shm_unlink(s.name.c_str());
  });
  // The maker's lock first, before the object has a size: a second maker that finds the name
  // taken sees it held (a window of one syscall remains, where it looks stale).
  if (!try_lock_byte(fd.get(), s.lock_byte, s.name)) {
    sys::fail("fcntl(F_OFD_SETLK)", s.name, EAGAIN, "someone locked the new segment of " + s.url + " before its maker");
  }
  // The umask may have taken bits away; the mode is exactly owner read-write either way.
  sys::check(::fchmod(fd.get(), 0600), "fchmod", s.name);
  size_and_reserve(fd, s.size, s.name, s.enospc_hint);
  if (s.memfd) {
    // Its size for good: no peer can shrink it under the others' mappings (SIGBUS).
    sys::check(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), "fcntl(F_ADD_SEALS)",
               s.name, "sealing the size of the segment of " + s.url);
  }
  unlink.done();
  return fd;
}

std::optional<Fd> open_named_segment(const std::string& name, const std::string& url, std::string& problem) {
  const int raw = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (raw != -1) return Fd{raw};
  const int err = errno;
  if (err == ENOENT) {
    problem = "there is no segment " + name;
    return std::nullopt;
  }
  sys::fail("shm_open", name, err,
            err == EACCES ? sys::owner_and_mode("/dev/shm" + name, "the segment") + "; this is " + url
                          : "opening the segment of " + url);
}

struct stat check_segment_object(int fd, const std::string& name, const std::string& url, bool named,
                                 const std::string& remove_it) {
  struct stat st {};
  sys::check(::fstat(fd, &st), "fstat", name);
  if (!S_ISREG(st.st_mode)) sys::fail("Channel::connect", name, EINVAL, "the segment of " + url + " is not a regular object");
  if (st.st_uid != ::geteuid()) {
    sys::fail("Channel::connect", name, EACCES,
              "the segment of " + url + " belongs to " + sys::user_text(st.st_uid) + ", not to this process's user (" +
                  sys::user_text(::geteuid()) +
                  "): a shm:// channel joins only processes of the user who listens; " + remove_it +
                  " if it is not yours to use");
  }
  // A memfd has no name to be opened by: its mode does not matter.
  if (named && (st.st_mode & 077) != 0) {
    sys::fail("Channel::connect", name, EACCES,
              "the segment of " + url + " has mode " + sys::mode_text(st.st_mode & 07777) +
                  "; a channel's segment must be 0600 (other users could read or write it): refusing it; " +
                  remove_it + " and listen again");
  }
  return st;
}

int unlink_if_names(const std::string& object, int fd) noexcept {
  struct stat ours {};
  struct stat named {};
  const std::string path = "/dev/shm" + object;
  if (::fstat(fd, &ours) == -1) return errno;
  if (::lstat(path.c_str(), &named) == -1) return errno;
  if (ours.st_dev != named.st_dev || ours.st_ino != named.st_ino) return ENOENT;
  return ::shm_unlink(object.c_str()) == 0 ? 0 : errno;
}

}  // namespace ipckit::detail
