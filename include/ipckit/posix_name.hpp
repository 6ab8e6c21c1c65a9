#pragma once

#include <string_view>

// The rules of a POSIX IPC object's name, shared by shared memory (shm_open), message queues
// (mq_open) and named semaphores (sem_open): one '/' first, then 1 to NAME_MAX bytes with no
// other '/', not "." or "..", no NUL.
//
//   ipckit::validate_posix_name("/orders", "mq_open");   // fine
//   ipckit::validate_posix_name("orders", "mq_open");    // Error: the name must start with '/'

namespace ipckit {

/// Checks a POSIX IPC name; throws Error (EINVAL) naming `what` (the call it is for), the
/// name and the rule broken.
void validate_posix_name(std::string_view name, std::string_view what = "shm_open");

}  // namespace ipckit
