#include "ipckit/fifo.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "backoff.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

[[noreturn]] void fail_not_fifo(std::string_view step, const std::string& path, mode_t mode) {
  sys::fail(step, path, 0,
            std::string("the path is ") + sys::describe_file_type(mode) +
                (S_ISLNK(mode) ? " (ipckit does not follow symlinks for FIFOs)" : "") +
                ", not a FIFO; pick another path or remove what is there");
}

// Refuses anything at `path` that is not a FIFO, before open(2) could have side effects on
// it (a device) or follow it (a symlink). Missing paths pass; open reports them.
void refuse_non_fifo(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISFIFO(st.st_mode)) fail_not_fifo("open", path, st.st_mode);
}

std::string open_hint(int err, bool writer) {
  switch (err) {
    case ENOENT: return "no FIFO at this path; create it first (ipckit::create_fifo or mkfifo)";
    case ELOOP: return "the path is a symbolic link; ipckit does not follow symlinks for FIFOs";
    case EACCES: return "permission denied: check the FIFO's mode and owner (ls -l)";
    case ENXIO:
      return writer ? "no process has the FIFO open for reading; start the reader first, or open "
                      "with a deadline to wait for one"
                    : std::string{};
    default: return {};
  }
}

// Opens `path` with O_NOFOLLOW | O_CLOEXEC and checks it is a FIFO. Returns -1 with errno
// set on failure (the caller decides whether to retry).
int open_checked(const std::string& path, int flags) {
  int fd = sys::retry_eintr([&] { return ::open(path.c_str(), flags | O_NOFOLLOW | O_CLOEXEC); });
  if (fd == -1) return -1;
  struct stat st {};
  if (::fstat(fd, &st) == -1 || !S_ISFIFO(st.st_mode)) {
    Fd owner{fd};
    fail_not_fifo("open", path, st.st_mode);
  }
  return fd;
}

Fd open_or_throw(const std::string& path, int flags, bool writer) {
  refuse_non_fifo(path);
  int fd = open_checked(path, flags);
  if (fd == -1) {
    int err = errno;
    sys::fail("open", path, err, open_hint(err, writer));
  }
  return Fd{fd};
}

}  // namespace

void create_fifo(const FifoOptions& options) {
  const std::string path = options.path.string();
  if (::mkfifo(path.c_str(), options.mode) == 0) return;
  int err = errno;
  if (err == EEXIST) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && !S_ISFIFO(st.st_mode)) fail_not_fifo("mkfifo", path, st.st_mode);
    if (!options.exclusive) return;
    sys::fail("mkfifo", path, err,
              "a FIFO already exists here; open it, remove it first, or create with "
              ".exclusive = false");
  }
  std::string hint;
  if (err == ENOENT) hint = "the folder " + options.path.parent_path().string() + " does not exist";
  if (err == EACCES) hint = "no write permission on the folder " + options.path.parent_path().string();
  sys::fail("mkfifo", path, err, hint);
}

bool remove_fifo(const std::filesystem::path& path) {
  const std::string p = path.string();
  struct stat st {};
  if (::lstat(p.c_str(), &st) == -1) {
    if (errno == ENOENT) return false;
    sys::fail("lstat", p, errno);
  }
  if (!S_ISFIFO(st.st_mode)) fail_not_fifo("unlink", p, st.st_mode);
  if (::unlink(p.c_str()) == -1) {
    if (errno == ENOENT) return false;
    sys::fail("unlink", p, errno);
  }
  return true;
}

Fd open_fifo_reader(const std::filesystem::path& path, Deadline deadline) {
  const std::string p = path.string();
  if (deadline.is_never()) return open_or_throw(p, O_RDONLY, false);
  // A non-blocking open for reading succeeds at once; then wait for a writer's first data or
  // its hang-up. (Linux does not report POLLHUP to a reader that has never had a writer.)
  Fd fd = open_or_throw(p, O_RDONLY | O_NONBLOCK, false);
  if (deadline.is_now()) return fd;
  if (!fd.wait_readable(deadline)) {
    sys::fail("open", p, ETIMEDOUT, "no writer opened the FIFO and wrote before the deadline");
  }
  fd.set_nonblocking(false);
  return fd;
}

Fd open_fifo_writer(const std::filesystem::path& path, Deadline deadline) {
  const std::string p = path.string();
  if (deadline.is_never()) return open_or_throw(p, O_WRONLY, true);
  if (deadline.is_now()) return open_or_throw(p, O_WRONLY | O_NONBLOCK, true);
  refuse_non_fifo(p);
  // The kernel has no event for "a reader opened this FIFO" (inotify's IN_OPEN comes only
  // after a blocking reader's open returns, which needs us), so retry the non-blocking open,
  // backing off from 100 µs to 10 ms, until a reader is there or the deadline passes.
  for (detail::Backoff backoff = detail::kPollBackoff;;) {
    int fd = open_checked(p, O_WRONLY | O_NONBLOCK);
    if (fd != -1) {
      Fd owned{fd};
      owned.set_nonblocking(false);
      return owned;
    }
    int err = errno;
    if (err != ENXIO) sys::fail("open", p, err, open_hint(err, true));
    if (deadline.expired()) {
      sys::fail("open", p, ETIMEDOUT,
                "no process opened the FIFO for reading before the deadline; start the reader");
    }
    (void)backoff.sleep(deadline);
  }
}

}  // namespace ipckit
