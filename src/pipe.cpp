#include "ipckit/pipe.hpp"

#include <cerrno>
#include <climits>
#include <optional>
#include <fcntl.h>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

#include "fd_util.hpp"
#include "sys.hpp"

namespace ipckit {

static_assert(kPipeAtomicWrite == PIPE_BUF, "PIPE_BUF differs from what ipckit documents");

namespace {

constexpr const char* kPipeMaxSizePath = "/proc/sys/fs/pipe-max-size";

}  // namespace

Pipe Pipe::create(PipeOptions options) {
  int fds[2];
  int flags = O_CLOEXEC | (options.nonblocking ? O_NONBLOCK : 0);
  if (::pipe2(fds, flags) == -1) {
    int err = errno;
    sys::fail("pipe2", "pipe", err, sys::descriptor_limit_hint(err));
  }
  return Pipe{Fd{fds[0]}, Fd{fds[1]}};
}

std::size_t pipe_capacity(const Fd& end) {
  int rc = ::fcntl(end.get(), F_GETPIPE_SZ);
  if (rc == -1) {
    int err = errno;
    // The kernel answers EBADF both for a closed descriptor and for one that is not a pipe.
    bool open = ::fcntl(end.get(), F_GETFD) != -1;
    sys::fail("fcntl(F_GETPIPE_SZ)", detail::describe_fd(end.get()), err,
              open ? "the descriptor is not a pipe or FIFO" : "the descriptor is not open");
  }
  return static_cast<std::size_t>(rc);
}

std::size_t pipe_max_size() { return sys::read_ull_file(kPipeMaxSizePath); }

std::size_t set_pipe_capacity(const Fd& end, std::size_t bytes) {
  const std::string object = detail::describe_fd(end.get());
  // The kernel decides (a process with CAP_SYS_RESOURCE may pass pipe-max-size); the limit is
  // read only to explain a refusal.
  const int asked = bytes > static_cast<std::size_t>(INT_MAX) ? INT_MAX : static_cast<int>(bytes);
  const int rc = ::fcntl(end.get(), F_SETPIPE_SZ, asked);
  if (rc == -1) {
    const int err = errno;
    const std::optional<unsigned long long> limit = sys::try_read_ull_file(kPipeMaxSizePath);
    const bool above_limit = limit && bytes > *limit;
    std::string hint;
    if (err == EBUSY) {
      hint = "the pipe holds more than " + std::to_string(bytes) +
             " bytes; read them first or ask for more";
    } else if (err == EPERM && above_limit) {
      hint = "asked " + std::to_string(bytes) + " bytes, more than " + std::string(kPipeMaxSizePath) + " (" +
             std::to_string(*limit) +
             "), which only a process with CAP_SYS_RESOURCE may pass; ask at most that, or raise it "
             "with `sysctl fs.pipe-max-size=N` (root)";
    } else if (err == EPERM) {
      hint = "this user has used up its pipe pages (/proc/sys/fs/pipe-user-pages-soft and "
             "pipe-user-pages-hard); close other pipes or raise those limits";
    } else if (err == EINVAL && bytes > static_cast<std::size_t>(INT_MAX)) {
      hint = "asked " + std::to_string(bytes) + " bytes; a pipe holds at most 2 GiB";
    } else if (err == EBADF) {
      hint = "the descriptor is not a pipe or FIFO";
    }
    sys::fail("fcntl(F_SETPIPE_SZ)", object, err, hint);
  }
  return static_cast<std::size_t>(rc);
}

}  // namespace ipckit
