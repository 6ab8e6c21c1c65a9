#pragma once

// Private: where the mqueue filesystem is mounted, looked up in one place for both
// MessageQueue's EACCES hints (src/mqueue.cpp) and the listing of queues
// (src/inspect/ipc_objects.cpp). The public face is mqueue_mount_point() and
// mqueue_mount_hint() in ipckit/inspect.hpp, defined in src/mqueue_mount.cpp.

#include <optional>
#include <string>
#include <string_view>

namespace ipckit::detail {

/// The command that mounts the mqueue filesystem where ipckit looks first (as root).
inline constexpr std::string_view kMqueueMountCommand =
    "mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue";

/// As mqueue_mount_point(), for hints: nothing when /proc/self/mountinfo cannot be read
/// (a hint must not hide the error it explains). Keeps errno.
std::optional<std::string> try_mqueue_mount_point() noexcept;

}  // namespace ipckit::detail
