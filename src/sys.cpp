#include "sys.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <string>
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

}  // namespace ipckit::sys
