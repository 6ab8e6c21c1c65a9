#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>

#include "ipckit/fd.hpp"
#include "ipckit/region.hpp"

// ipckit::Mapping: memory mapped with mmap(2), owned by one move-only object that keeps the
// address and length mmap gave, so munmap always gets them back (the seed's `ptr++` then
// munmap mistake cannot be written). Every pitfall of the seed's Q&A is a clear Error before
// mmap runs: length 0, an offset that is not a multiple of the page size, a protection the
// file's open mode does not allow, an empty file or a range past its end (no SIGBUS later).
//
//   auto m = ipckit::Mapping::map_file({.path = "/tmp/data", .create_size = 4096});
//   auto& counter = m.as<std::uint64_t>(0);     // bounds- and alignment-checked (Region)
//   counter += 1;                               // MAP_SHARED: the file changes (M1)
//   m.sync();                                   // msync(MS_SYNC)
//
//   auto shared = ipckit::Mapping::anonymous_shared(4096);   // parent and child after fork (M2)

namespace ipckit {

/// Whether writes reach the file and other processes.
enum class Sharing : unsigned char {
  shared,        ///< MAP_SHARED: writes change the file; other mappings see them (M1, M3)
  private_copy,  ///< MAP_PRIVATE: copy-on-write; the file never changes (M7)
};

struct MapFileOptions {
  std::filesystem::path path{};
  Access access = Access::read_write;
  Sharing sharing = Sharing::shared;
  /// Where the mapping starts in the file: a multiple of the page size (M9).
  std::size_t offset = 0;
  /// How many bytes to map; the rest of the file from `offset` when empty. Must be > 0 (M5)
  /// and end within the file (M8).
  std::optional<std::size_t> length{};
  /// Create the file (mode 0600, O_NOFOLLOW) when missing and extend it with ftruncate to at
  /// least this size before mapping (M8). Never shrinks a file.
  std::optional<std::size_t> create_size{};
};

struct MapFdOptions {
  Access access = Access::read_write;
  Sharing sharing = Sharing::shared;
  std::size_t offset = 0;
  /// Bytes to map; the rest of the object from `offset` when empty.
  std::optional<std::size_t> length{};
};

/// How msync waits.
enum class SyncMode : unsigned char {
  wait,      ///< MS_SYNC: returns once the data is written
  schedule,  ///< MS_ASYNC: starts the write-back and returns
};

class Mapping : public Region {
 public:
  /// Maps a file by path. The descriptor is closed before returning: the mapping stays
  /// valid without it (M11). Throws Error for every pitfall named above, naming the path
  /// and what would be right.
  [[nodiscard]] static Mapping map_file(const MapFileOptions& options);

  /// Maps an open descriptor (a file, POSIX shm, a memfd). Checks its open mode against the
  /// access asked (M6) and its size against the range (M8) first. The caller keeps the Fd.
  [[nodiscard]] static Mapping map_fd(const Fd& fd, const MapFdOptions& options);

  /// A zero-filled MAP_SHARED | MAP_ANONYMOUS mapping: no file at all; made before fork, it is
  /// shared by the parent and its children (M2). Throws Error for length 0.
  [[nodiscard]] static Mapping anonymous_shared(std::size_t length);

  Mapping() noexcept = default;
  Mapping(Mapping&& other) noexcept : Region(other) { other.forget(); }
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  /// munmap with the address and length mmap gave (M10).
  ~Mapping();

  /// msync(2) the whole mapping. Throws Error.
  void sync(SyncMode mode = SyncMode::wait) const;

 private:
  Mapping(void* address, std::size_t length, bool writable) noexcept
      : Region(address, length, writable) {}
  void forget() noexcept { address_ = nullptr; length_ = 0; writable_ = false; }
  void unmap() noexcept;
};

/// The page size (sysconf(_SC_PAGESIZE)): offsets must be multiples of it.
[[nodiscard]] std::size_t page_size() noexcept;

}  // namespace ipckit
