#pragma once

// Shared by the shm:// channel tests (channel_shm_test, channel_shm_stress_test,
// channel_shm_crash_test): a channel name whose segment is removed whatever happens, and
// self-checking messages whose receiver verifies every byte, and the segment mapped by the test
// itself, to play a peer that misbehaves or to read a counter the ends keep there.
//
//   test::ShmName name;
//   test::CheckedMessages messages(16000, 54);
//   std::vector<std::byte> message(messages.max_size());
//   tx.send(std::span{message}.first(messages.make(message, sender, seq)), deadline);
//   ASSERT_TRUE(messages.is_next(std::span{buffer}.first(r.bytes), next));

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ipckit/fd.hpp"
#include "ipckit/mapping.hpp"
#include "test_util.hpp"

namespace ipckit::test {

/// A unique channel name; its segment "/ipckit-ch-NAME" is removed at the end, whatever
/// happened (a listener removes it when it closes, a killed one cannot; this also covers a
/// test that fails first).
class ShmName {
 public:
  ShmName() : name_(unique_name()) {}
  ShmName(const ShmName&) = delete;
  ShmName& operator=(const ShmName&) = delete;
  ~ShmName() { (void)::shm_unlink(object().c_str()); }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::string url() const { return "shm://" + name_; }
  [[nodiscard]] std::string object() const { return "/ipckit-ch-" + name_; }
  [[nodiscard]] std::filesystem::path path() const { return "/dev/shm" + object(); }

 private:
  std::string name_;
};

/// The segment of a channel a listener made, mapped read-write (MAP_SHARED) by the test, as a
/// peer maps it: to do what a sender killed half-way would have done, or to read a word the
/// ends keep there. Offsets are the documented layout's (src/channel/shm_layout.hpp).
class MappedSegment {
 public:
  explicit MappedSegment(const ShmName& name) {
    const int fd = ::shm_open(name.object().c_str(), O_RDWR | O_CLOEXEC, 0);
    if (fd == -1) {
      ADD_FAILURE() << name.object() << ": " << std::strerror(errno);
      return;
    }
    fd_ = Fd{fd};
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0 || st.st_size <= 0) {
      ADD_FAILURE() << name.object() << ": no size";
      return;
    }
    mapping_ = Mapping::map_fd(fd_, {.length = static_cast<std::size_t>(st.st_size)});
  }
  MappedSegment(const MappedSegment&) = delete;
  MappedSegment& operator=(const MappedSegment&) = delete;

  /// The 32-bit word at `offset`, used atomically as the ends use it. Throws Error (Region's
  /// check) when the offset is outside the segment or misaligned.
  [[nodiscard]] std::atomic_ref<std::uint32_t> word(std::size_t offset) {
    return std::atomic_ref<std::uint32_t>(mapping_.as<std::uint32_t>(offset));
  }

 private:
  Fd fd_;
  Mapping mapping_;
};

/// splitmix64's finaliser.
[[nodiscard]] inline std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// --- The messages ---------------------------------------------------------------------------
//
// Message (sender, seq): a 16-byte header (sender: 4, checksum: 4, seq: 8, in host order),
// then a payload whose length and bytes a xorshift generator seeded by (sender, seq) gives.
// The receiver draws them again and compares every byte (one memcmp: the check must cost
// little next to the channel, even in a sanitized -O0 build), and the checksum in the header
// (over sender, seq and the payload) catches a torn or misplaced header.
//
// Payloads are 0..300 bytes; one message in 2^(64 - big_one_in_shift) is bigger, 301 up to
// big_payload bytes (which must be above 300).

/// Makes and checks messages (sender, seq). It keeps a scratch buffer, so use one per thread
/// (a forked child has its own copy).
class CheckedMessages {
 public:
  static constexpr std::size_t kHeaderSize = 16;

  CheckedMessages(std::size_t big_payload, int big_one_in_shift)
      : big_payload_(big_payload),
        big_one_in_shift_(big_one_in_shift),
        words_((big_payload + 7) / 8) {}

  /// The longest message: the room make() needs.
  [[nodiscard]] std::size_t max_size() const noexcept { return kHeaderSize + big_payload_; }

  /// Writes message (sender, seq) into `out` (room for max_size()); returns its length.
  std::size_t make(std::span<std::byte> out, std::uint32_t sender, std::uint64_t seq) noexcept {
    std::uint32_t sum = 0;
    const std::size_t length = payload_of(sender, seq, sum);
    std::memcpy(out.data(), &sender, 4);
    std::memcpy(out.data() + 4, &sum, 4);
    std::memcpy(out.data() + 8, &seq, 8);
    std::memcpy(out.data() + kHeaderSize, words_.data(), length);
    return kHeaderSize + length;
  }

  /// Checks `got` against the stream it claims to belong to: its sender must be below
  /// next.size(), its number the one due (next[sender], which it then advances), its length,
  /// checksum and every byte right.
  testing::AssertionResult is_next(std::span<const std::byte> got,
                                   std::vector<std::uint64_t>& next) {
    if (got.size() < kHeaderSize)
      return testing::AssertionFailure() << "a message of " << got.size() << " bytes (no header)";
    std::uint32_t sender = 0;
    std::uint32_t sum = 0;
    std::uint64_t seq = 0;
    std::memcpy(&sender, got.data(), 4);
    std::memcpy(&sum, got.data() + 4, 4);
    std::memcpy(&seq, got.data() + 8, 8);
    if (sender >= next.size())
      return testing::AssertionFailure() << "a message names sender " << sender;
    if (seq != next[sender]) {
      return testing::AssertionFailure()
             << "sender " << sender << ": message " << seq << " arrived where " << next[sender]
             << " was due (" << (seq < next[sender] ? "a duplicate or reordering" : "a gap")
             << ")";
    }
    std::uint32_t want_sum = 0;
    const std::size_t length = payload_of(sender, seq, want_sum);
    if (got.size() != kHeaderSize + length) {
      return testing::AssertionFailure() << "sender " << sender << ", message " << seq << ": "
                                         << got.size() << " bytes, not " << kHeaderSize + length;
    }
    if (std::memcmp(got.data() + kHeaderSize, words_.data(), length) != 0) {
      const auto* want = reinterpret_cast<const std::byte*>(words_.data());
      std::size_t at = 0;
      while (got[kHeaderSize + at] == want[at]) ++at;
      return testing::AssertionFailure() << "sender " << sender << ", message " << seq
                                         << ": payload byte " << at << " is wrong";
    }
    // The bytes are right, so the checksum of what arrived is want_sum.
    if (sum != want_sum) {
      return testing::AssertionFailure() << "sender " << sender << ", message " << seq
                                         << ": the header's checksum does not match the payload";
    }
    ++next[sender];
    return testing::AssertionSuccess();
  }

 private:
  // The payload of message (sender, seq) into words_ as 64-bit words (the bytes past its end
  // zero) and its checksum; returns its length in bytes.
  std::size_t payload_of(std::uint32_t sender, std::uint64_t seq, std::uint32_t& sum) noexcept {
    const std::uint64_t seed = mix((std::uint64_t{sender} << 56) ^ seq);
    const std::size_t length = (seed >> big_one_in_shift_) == 0
                                   ? 301 + (seed >> 8) % (big_payload_ - 300)
                                   : seed % 301;
    const std::size_t count = (length + 7) / 8;
    std::uint64_t x = seed | 1;  // xorshift64*: eight bytes a step
    std::uint64_t h = mix(sender ^ (seq << 20) ^ (std::uint64_t{length} << 4));
    for (std::size_t i = 0; i < count; ++i) {
      x ^= x >> 12;
      x ^= x << 25;
      x ^= x >> 27;
      std::uint64_t w = x * 0x2545f4914f6cdd1dULL;
      if (i + 1 == count && length % 8 != 0) w &= (std::uint64_t{1} << (8 * (length % 8))) - 1;
      words_[i] = w;
      h = (h ^ w) * 0x100000001b3ULL;  // FNV-1a's prime, a word at a time
    }
    sum = static_cast<std::uint32_t>(mix(h) >> 32);
    return length;
  }

  std::size_t big_payload_;
  int big_one_in_shift_;
  std::vector<std::uint64_t> words_;
};

}  // namespace ipckit::test
