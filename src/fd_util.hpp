#pragma once

#include <string>

namespace ipckit::detail {

/// "fd 5 pipe:[1234]" or "fd 5 /tmp/x": names a descriptor in error messages. Keeps errno.
std::string describe_fd(int fd);

}  // namespace ipckit::detail
