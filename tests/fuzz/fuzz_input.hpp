#pragma once

// What every libFuzzer target here shares: the input read from the front as a script, and a
// failure that names the target and stops the run (libFuzzer then writes the input).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace ipckit::fuzz {

/// The fuzzer's bytes, taken from the front; past the end everything reads as zero.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  [[nodiscard]] bool done() const { return size_ == 0; }
  template <class T>
  T take() {
    T value{};
    const std::size_t n = size_ < sizeof(T) ? size_ : sizeof(T);
    if (n != 0) std::memcpy(&value, data_, n);
    data_ += n;
    size_ -= n;
    return value;
  }
  /// The next `n` bytes (fewer at the end), as they are.
  std::string bytes(std::size_t n) {
    n = n < size_ ? n : size_;
    std::string out(reinterpret_cast<const char*>(data_), n);
    data_ += n;
    size_ -= n;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

/// "TARGET: what" on stderr, then abort: libFuzzer keeps the input as a crash.
[[noreturn]] inline void fail(std::string_view target, const std::string& what) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(target.size()), target.data(), what.c_str());
  std::abort();
}

}  // namespace ipckit::fuzz
