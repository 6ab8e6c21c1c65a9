#pragma once

// Private syscall checkers: the one place where a syscall's result becomes an ipckit::Error.
// Three conventions, three checkers: "-1 and errno", "returns the errno" (pthread, posix_spawn),
// and MAP_FAILED. The caller names the object and may give a hint; both are built before the
// checker reads errno, so whatever builds them must keep errno (detail::describe_fd does).

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/mman.h>
#include <sys/types.h>
#include <utility>

#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"

namespace ipckit::sys {

/// Throws Error{syscall, object, errnum, hint}.
[[noreturn]] void fail(std::string_view syscall, std::string_view object, int errnum,
                       std::string hint = {});

/// For calls that return -1 and set errno: returns rc, or throws naming syscall and object.
template <class T>
T check(T rc, std::string_view syscall, std::string_view object, std::string hint = {}) {
  if (rc == static_cast<T>(-1)) fail(syscall, object, errno, std::move(hint));
  return rc;
}

/// For calls that return 0 or an errno value (pthread_*, posix_spawn).
inline void check_errno(int rc, std::string_view syscall, std::string_view object,
                        std::string hint = {}) {
  if (rc != 0) fail(syscall, object, rc, std::move(hint));
}

/// For mmap: MAP_FAILED becomes an Error, never a pointer that leaks out.
inline void* check_map(void* p, std::string_view object, std::string hint = {}) {
  if (p == MAP_FAILED) fail("mmap", object, errno, std::move(hint));
  return p;
}

/// Calls f() again while it fails with EINTR. Only for calls that are safe to repeat
/// (read, write, open, waitpid...), never close.
template <class F>
auto retry_eintr(F&& f) {
  for (;;) {
    auto rc = f();
    if (rc != -1 || errno != EINTR) return rc;
  }
}

/// Reads a whole small file such as /proc/sys/fs/pipe-max-size. Throws Error.
std::string read_text_file(const std::string& path);
/// Reads a file holding one unsigned integer (trailing whitespace allowed). Throws Error.
unsigned long long read_ull_file(const std::string& path);

/// As read_ull_file, for hints: nothing instead of an Error (a hint must not hide the error
/// it explains).
std::optional<unsigned long long> try_read_ull_file(const std::string& path) noexcept;

/// The hint for EMFILE or ENFILE from a call that makes a descriptor: "this process has
/// reached its descriptor limit (RLIMIT_NOFILE 1024); close descriptors or raise it with
/// `ulimit -n`", or the system-wide /proc/sys/fs/file-max. Empty for other errors.
std::string descriptor_limit_hint(int err);

/// A user's name ("root"), or the uid as text when the user database has none.
std::string user_name(uid_t uid);
/// "root (uid 0)", or "uid 1234" when the user has no name.
std::string user_text(uid_t uid);
/// "0600": permission bits (and set-id/sticky bits) in octal.
std::string mode_text(unsigned mode);
/// For EACCES hints about a named object backed by a file (/dev/shm/NAME, /dev/mqueue/NAME,
/// /dev/shm/sem.NAME): "the queue belongs to root (uid 0) and has mode 0600", with `noun` =
/// "the queue"; "its owner and mode cannot be read from PATH" when lstat fails. Keeps errno.
std::string owner_and_mode(const std::string& path, std::string_view noun);

/// "a regular file", "a directory", "a symbolic link"...: the kind of file a mode says.
std::string describe_file_type(mode_t mode);

/// Quotes an object name for messages: "/tmp/x".
std::string quoted(std::string_view object);

/// 64 random bits from getrandom(2). Never fails: without an entropy source yet, the clock
/// and the pid are mixed in (still different per process and per call, which is what the
/// callers need: ring keys, doorbell tokens).
std::uint64_t random_u64() noexcept;

/// A new open file description of what descriptor `fd` refers to, opened through
/// /proc/self/fd/N with `flags` (O_CLOEXEC is added): its own file offset, status flags and
/// open-file-description locks, where dup(2) would share them. Throws Error naming `object`,
/// with `purpose` in the hint.
Fd reopen(int fd, int flags, std::string_view object, std::string_view purpose);

}  // namespace ipckit::sys
