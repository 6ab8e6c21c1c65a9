#pragma once

// Private helpers of POSIX shared memory (src/shm.cpp), shared with the shm:// channel.

#include <cstddef>
#include <string>
#include <string_view>

#include "ipckit/fd.hpp"

namespace ipckit::detail {

/// "/dev/shm has N bytes free of M": for ENOSPC hints.
[[nodiscard]] std::string dev_shm_space();

/// fstat's size of `fd`. Throws Error naming `object`.
[[nodiscard]] std::size_t fd_size(const Fd& fd, std::string_view object);

/// Sets the size (ftruncate) and reserves the pages (posix_fallocate), so running out of
/// space fails here and not with SIGBUS when a page is first touched. Throws Error naming
/// `object`; ENOSPC carries `enospc_hint` (what ran out of room, and what to do).
void size_and_reserve(const Fd& fd, std::size_t size, std::string_view object, const std::string& enospc_hint);

}  // namespace ipckit::detail
