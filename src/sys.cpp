#include "sys.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <pwd.h>
#include <vector>
#include <fcntl.h>
#include <string>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ipckit/fd.hpp"

namespace ipckit::sys {

std::string read_text_file(const std::string& path) {
  Fd fd{retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); })};
  if (!fd) fail("open", path, errno);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::read(fd.get(), buf, sizeof buf); });
    if (n < 0) fail("read", path, errno);
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

unsigned long long read_ull_file(const std::string& path) {
  std::string text = read_text_file(path);
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(begin, &end, 10);
  while (*end == ' ' || *end == '\n' || *end == '\t') ++end;
  if (end == begin || *end != '\0' || errno != 0 || text.find('-') != std::string::npos)
    fail("parse", path, 0, "expected one unsigned integer, found \"" + text + "\"");
  return value;
}

// The user database's name for a uid, or the number as text.
std::string user_name(uid_t uid) {
  long suggested = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(suggested > 0 ? static_cast<std::size_t>(suggested) : 1024);
  for (;;) {
    struct passwd entry {};
    struct passwd* found = nullptr;
    int rc = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
    if (rc == ERANGE && buffer.size() < (1U << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    // No entry, or no way to read the user database: the number is still a true answer.
    if (rc != 0 || found == nullptr || found->pw_name == nullptr || found->pw_name[0] == '\0')
      return std::to_string(uid);
    return found->pw_name;
  }
}

std::string describe_file_type(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a pipe or FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "an object of unknown type";
}

std::optional<unsigned long long> try_read_ull_file(const std::string& path) noexcept {
  try {
    return read_ull_file(path);
  } catch (...) {
    return std::nullopt;
  }
}

std::string descriptor_limit_hint(int err) {
  if (err == EMFILE) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      return "this process has reached its descriptor limit (RLIMIT_NOFILE " +
             std::to_string(rl.rlim_cur) + "); close descriptors or raise it with `ulimit -n`";
    return "this process has reached its descriptor limit (RLIMIT_NOFILE); close descriptors "
           "or raise it with `ulimit -n`";
  }
  if (err == ENFILE) return "the system-wide file limit is reached (/proc/sys/fs/file-max)";
  return {};
}

std::string user_text(uid_t uid) {
  const std::string number = std::to_string(uid);
  const std::string name = user_name(uid);
  return name == number ? "uid " + number : name + " (uid " + number + ")";
}

std::string mode_text(unsigned mode) {
  char text[16];
  std::snprintf(text, sizeof text, "%04o", mode & 07777U);
  return text;
}

std::string owner_and_mode(const std::string& path, std::string_view noun) {
  const int saved = errno;
  struct stat st {};
  std::string text = ::lstat(path.c_str(), &st) == -1
                         ? "its owner and mode cannot be read from " + path
                         : std::string(noun) + " belongs to " + user_text(st.st_uid) +
                               " and has mode " + mode_text(st.st_mode);
  errno = saved;
  return text;
}

std::uint64_t random_u64() noexcept {
  std::uint64_t value = 0;
  std::size_t got = 0;
  while (got < sizeof value) {
    const ssize_t n = ::getrandom(reinterpret_cast<char*>(&value) + got, sizeof value - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n == -1 && errno != EINTR) {
      static std::atomic<std::uint64_t> calls{0};  // no entropy source: differ per call and process
      value ^= static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (static_cast<std::uint64_t>(::getpid()) << 40) ^ (calls.fetch_add(1, std::memory_order_relaxed) << 20);
      break;
    }
  }
  return value;
}

Fd reopen(int fd, int flags, std::string_view object, std::string_view purpose) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  Fd fresh{retry_eintr([&] { return ::open(self.c_str(), flags | O_CLOEXEC); })};
  if (!fresh) {
    const int err = errno;
    fail("open", object, err, std::string(purpose) + ", through " + self + " (is /proc mounted?)");
  }
  return fresh;
}

}  // namespace ipckit::sys
