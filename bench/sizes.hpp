#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "message.hpp"

// Message sizes as people write them: `64`, `4K`, `4KiB`, `1M`, `1MiB` (units are powers of
// 1024; a trailing B is allowed, case does not matter):
//
//   auto sizes = ipckit::bench::parse_sizes("64,4K,1MiB");   // {64, 4096, 1048576}
//   ipckit::bench::format_size(4096);                          // "4 KiB"

namespace ipckit::bench {

/// The smallest message: the header (sequence number, flags, phase).
inline constexpr std::size_t kMinMessageSize = kHeaderSize;
/// The largest message the bench sends (each process holds two buffers of it).
inline constexpr std::size_t kMaxMessageSize = std::size_t{64} << 20;

/// Parses one size. Throws std::invalid_argument with a message that shows the accepted
/// forms, or says the size is below kMinMessageSize or above kMaxMessageSize.
[[nodiscard]] std::size_t parse_size(std::string_view text);

/// Parses a comma-separated list of sizes (duplicates dropped, order kept). Throws
/// std::invalid_argument as parse_size, or for an empty list or item.
[[nodiscard]] std::vector<std::size_t> parse_sizes(std::string_view list);

/// "64 B", "4 KiB", "1 MiB"; "1500 B" when not a whole number of KiB or MiB.
[[nodiscard]] std::string format_size(std::size_t bytes);

}  // namespace ipckit::bench
