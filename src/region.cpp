#include "ipckit/region.hpp"

#include <cerrno>
#include <cstdint>
#include <string>

#include "sys.hpp"

// The checks are a few comparisons and allocate nothing; only a failing check builds its
// message (in the cold functions below), so as<T>() and subspan() stay cheap enough for
// code that touches shared memory often.

namespace ipckit {
namespace {

bool fits(std::size_t offset, std::size_t bytes, std::size_t length) noexcept {
  // Never forms offset + bytes, which could wrap.
  return offset <= length && bytes <= length - offset;
}

// Names the region in messages by its size: the memory may be a file mapping, anonymous
// memory or a System V segment, and Region does not know which.
[[noreturn]] void out_of_range(const char* step, std::size_t length, std::string hint) {
  sys::fail(step, "region of " + std::to_string(length) + " bytes", ERANGE, std::move(hint));
}

// `what` names the payload: "length 200", "1 object of 8 bytes",
// "25 objects of 4 bytes (100 bytes)".
[[noreturn]] [[gnu::cold]] void range_error(const char* step, std::size_t offset, std::size_t bytes,
                                            std::size_t length, const std::string& what, bool plural) {
  std::string hint = "offset " + std::to_string(offset) + " + " + what;
  std::size_t end = 0;
  if (__builtin_add_overflow(offset, bytes, &end)) {
    hint += " overflows size_t; the region's size is " + std::to_string(length);
  } else {
    hint += " ends at " + std::to_string(end) + ", past the region's size " + std::to_string(length);
  }
  if (bytes <= length) {
    hint += std::string("; the last offset where ") + (plural ? "they fit" : "it fits") + " is " +
            std::to_string(length - bytes);
  } else {
    hint += std::string("; ") + (plural ? "they are" : "it is") + " larger than the whole region";
  }
  out_of_range(step, length, std::move(hint));
}

std::string objects(std::size_t count, std::size_t size) {
  return std::to_string(count) + (count == 1 ? " object" : " objects") + " of " + std::to_string(size) +
         " bytes";
}

[[noreturn]] [[gnu::cold]] void subspan_error(std::size_t offset, std::size_t bytes, std::size_t length) {
  range_error("Region::subspan", offset, bytes, length, "length " + std::to_string(bytes), false);
}

[[noreturn]] [[gnu::cold]] void object_error(std::size_t offset, std::size_t count, std::size_t size,
                                             std::size_t length, bool overflow) {
  constexpr const char* kStep = "Region::as/array";
  if (overflow) {
    out_of_range(kStep, length,
                 "offset " + std::to_string(offset) + " + " + objects(count, size) +
                     ": the byte count overflows size_t; the region's size is " + std::to_string(length));
  }
  const std::size_t total = count * size;
  range_error(kStep, offset, total, length,
              count == 1 ? objects(count, size) : objects(count, size) + " (" + std::to_string(total) + " bytes)",
              count != 1);
}

[[noreturn]] [[gnu::cold]] void alignment_error(std::size_t offset, std::size_t count, std::size_t size,
                                                std::size_t alignment, std::size_t length,
                                                std::size_t misalignment) {
  // Regions start page-aligned, so multiples of `alignment` are the answer; the arithmetic
  // also holds for a region that starts anywhere. The range check passed, so nothing wraps.
  const std::size_t above = offset + (alignment - misalignment);
  std::string nearest = offset >= misalignment
                            ? "the nearest aligned offsets are " + std::to_string(offset - misalignment) +
                                  " and " + std::to_string(above)
                            : "the nearest aligned offset is " + std::to_string(above);
  out_of_range("Region::as/array", length,
               "offset " + std::to_string(offset) + " is not aligned for " + objects(count, size) +
                   (count == 1 ? ": it needs" : ": they need") + " an alignment of " + std::to_string(alignment) + " bytes; " + nearest);
}

}  // namespace

std::span<std::byte> Region::subspan(std::size_t offset, std::size_t length) {
  if (!fits(offset, length, length_)) subspan_error(offset, length, length_);
  return bytes().subspan(offset, length);
}

std::span<const std::byte> Region::subspan(std::size_t offset, std::size_t length) const {
  if (!fits(offset, length, length_)) subspan_error(offset, length, length_);
  return bytes().subspan(offset, length);
}

void Region::check_object(std::size_t offset, std::size_t count, std::size_t size,
                          std::size_t alignment) const {
  std::size_t total = 0;
  if (__builtin_mul_overflow(count, size, &total)) object_error(offset, count, size, length_, true);
  if (!fits(offset, total, length_)) object_error(offset, count, size, length_, false);
  if (alignment > 1 && address_ != nullptr) {
    const std::size_t misalignment = (reinterpret_cast<std::uintptr_t>(address_) + offset) % alignment;
    if (misalignment != 0) alignment_error(offset, count, size, alignment, length_, misalignment);
  }
}

}  // namespace ipckit
