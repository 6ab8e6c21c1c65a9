// Where the mqueue filesystem is mounted: the mounts of type "mqueue" in
// /proc/self/mountinfo, "/dev/mqueue" first when there are several. The one lookup behind
// mqueue_mount_point(), list_posix_mq() and MessageQueue's EACCES hints.

#include "mqueue_mount.hpp"

#include <cerrno>
#include <charconv>
#include <string>
#include <string_view>
#include <system_error>

#include "ipckit/error.hpp"
#include "ipckit/mqueue.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

constexpr const char* kMountInfo = "/proc/self/mountinfo";

// One field of /proc/self/mountinfo, with the kernel's octal escapes (\040 for a blank,
// \011, \012, \134) undone.
std::string unescape_mount_field(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      unsigned value = 0;
      auto [end, ec] = std::from_chars(field.data() + i + 1, field.data() + i + 4, value, 8);
      if (ec == std::errc{} && end == field.data() + i + 4 && value < 256) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

}  // namespace

std::string mqueue_mount_point() {
  const std::string text = sys::read_text_file(kMountInfo);
  std::string first;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    // "36 35 0:19 / /dev/mqueue rw,relatime shared:9 - mqueue mqueue rw": the fifth field
    // is the mount point; the first after the lone "-" is the filesystem type.
    const auto dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    const std::string_view after = line.substr(dash + 3);
    if (after.substr(0, after.find(' ')) != "mqueue") continue;
    std::string_view fields = line.substr(0, dash);
    for (int skip = 0; skip < 4; ++skip) {
      const auto blank = fields.find(' ');
      fields = blank == std::string_view::npos ? std::string_view{} : fields.substr(blank + 1);
    }
    const std::string point = unescape_mount_field(fields.substr(0, fields.find(' ')));
    if (point.empty()) continue;
    if (point == "/dev/mqueue") return point;  // the usual place, when it is one of several
    if (first.empty()) first = point;
  }
  return first;
}

std::string mqueue_mount_hint() {
  return "the mqueue filesystem is not mounted, and POSIX message queues can be listed only "
         "through it (mq_open works without it); to mount it, as root: `" +
         std::string(detail::kMqueueMountCommand) + "`";
}

namespace detail {

std::optional<std::string> try_mqueue_mount_point() noexcept {
  const int saved = errno;
  std::optional<std::string> point;
  try {
    point = mqueue_mount_point();
  } catch (...) {
    point.reset();
  }
  errno = saved;
  return point;
}

}  // namespace detail
}  // namespace ipckit
