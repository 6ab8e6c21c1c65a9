#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

// ipckit::Region: checked access to a piece of memory shared with other processes (a
// Mapping, a System V Attachment). It does not own the memory; the types that do derive from
// it. Every accessor checks bounds and alignment and throws ipckit::Error instead of letting
// a bad offset become a segmentation fault (seed M12):
//
//   auto& header = region.as<Header>(0);
//   std::span<std::uint32_t> slots = region.array<std::uint32_t>(64, 100);
//
// Only trivially copyable types belong in shared memory: no pointers, no vtables.

namespace ipckit {

class Region {
 public:
  [[nodiscard]] bool valid() const noexcept { return address_ != nullptr; }
  [[nodiscard]] std::size_t size() const noexcept { return length_; }
  /// False for read-only mappings and attachments: writing through them is a crash.
  [[nodiscard]] bool writable() const noexcept { return writable_; }

  [[nodiscard]] std::span<std::byte> bytes() noexcept { return {static_cast<std::byte*>(address_), length_}; }
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return {static_cast<const std::byte*>(address_), length_};
  }

  /// `length` bytes at `offset`; throws Error (ERANGE) naming the region's size when the
  /// range does not fit.
  [[nodiscard]] std::span<std::byte> subspan(std::size_t offset, std::size_t length);
  [[nodiscard]] std::span<const std::byte> subspan(std::size_t offset, std::size_t length) const;

  /// The T living at `offset`: throws Error when it does not fit or `offset` is not aligned
  /// for T.
  template <class T>
  [[nodiscard]] T& as(std::size_t offset = 0) {
    static_assert(std::is_trivially_copyable_v<T>, "only trivially copyable types belong in shared memory");
    check_object(offset, 1, sizeof(T), alignof(T));
    return *static_cast<T*>(static_cast<void*>(bytes().data() + offset));
  }
  template <class T>
  [[nodiscard]] const T& as(std::size_t offset = 0) const {
    static_assert(std::is_trivially_copyable_v<T>, "only trivially copyable types belong in shared memory");
    check_object(offset, 1, sizeof(T), alignof(T));
    return *static_cast<const T*>(static_cast<const void*>(bytes().data() + offset));
  }

  /// `count` consecutive T starting at `offset`, checked as as<T>().
  template <class T>
  [[nodiscard]] std::span<T> array(std::size_t offset, std::size_t count) {
    static_assert(std::is_trivially_copyable_v<T>, "only trivially copyable types belong in shared memory");
    check_object(offset, count, sizeof(T), alignof(T));
    return {static_cast<T*>(static_cast<void*>(bytes().data() + offset)), count};
  }

 protected:
  Region() noexcept = default;
  Region(void* address, std::size_t length, bool writable) noexcept
      : address_(address), length_(length), writable_(writable) {}
  ~Region() = default;
  Region(const Region&) = default;
  Region& operator=(const Region&) = default;

  /// Throws Error unless `count` objects of `size` bytes fit at `offset` with `alignment`.
  void check_object(std::size_t offset, std::size_t count, std::size_t size, std::size_t alignment) const;

  void* address_ = nullptr;
  std::size_t length_ = 0;
  bool writable_ = false;
};

}  // namespace ipckit
