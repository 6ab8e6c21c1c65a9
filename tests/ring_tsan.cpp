// ThreadSanitizer stress of include/ipckit/ring.hpp: one writer thread and one reader thread
// pass a million messages of random sizes through a small ring (so it wraps, pads and
// fills all the time), each carrying its sequence number and a checksum. Built on its own
// with -fsanitize=thread (tests/CMakeLists.txt: the rest of the tree may be built with ASan,
// which TSan cannot share a binary with) and run by ctest as ring.TsanStress, with
// TSAN_OPTIONS=halt_on_error=1:exitcode=66: any race TSan sees fails the test.
//
// Half the messages go through try_write/try_read, half through reserve/commit and
// peek/release, chosen by the sequence number on both sides. The reader publishes its
// position after every message for the first half, once per eighth of the ring for the second.
//
// Usage: ring_tsan [COUNT]   exit 0: every message arrived whole and in order.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "ipckit/ring.hpp"

namespace {

namespace ring = ipckit::ring;
using ring::Status;

constexpr std::uint64_t kCapacity = 1 << 14;  // 16 KiB: messages up to 8 KiB, many laps
constexpr std::size_t kHead = 16;             // sequence (8) + checksum (8)

// A tiny generator both threads run in step: message i's size and bytes follow from i.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::size_t size_of(std::uint64_t seq, std::size_t max) {
  const std::uint64_t r = mix(seq);
  // TSan checks every byte copied, so mostly small ones (a record is 32 to 144 bytes: the lap's
  // end falls at every 16-byte offset), and now and then any size up to the largest.
  if ((r & 1023) == 0) return max;
  if ((r & 255) == 1) return kHead + (r >> 16) % (max - kHead + 1);
  return kHead + (r >> 16) % 112;
}

// Word by word (TSan checks every access; bytes would be eight times slower), then the tail.
std::uint64_t checksum(std::span<const std::byte> body) {
  std::uint64_t h = 1469598103934665603ULL;
  std::size_t i = 0;
  for (; i + 8 <= body.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, body.data() + i, 8);
    h = (h ^ w) * 1099511628211ULL;
  }
  for (; i < body.size(); ++i) h = (h ^ static_cast<std::uint64_t>(body[i])) * 1099511628211ULL;
  return h;
}

void fill(std::span<std::byte> m, std::uint64_t seq) {
  std::uint64_t x = mix(seq ^ 0x5555);
  std::size_t i = kHead;
  for (; i + 8 <= m.size(); i += 8) {
    std::memcpy(m.data() + i, &x, 8);
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  for (; i < m.size(); ++i) m[i] = static_cast<std::byte>(x >> (8 * (i % 8)));
  const std::uint64_t sum = checksum(m.subspan(kHead));
  std::memcpy(m.data(), &seq, 8);
  std::memcpy(m.data() + 8, &sum, 8);
}

// Empty: "" ; else what is wrong with message `seq`.
const char* verify(std::span<const std::byte> m, std::uint64_t seq, std::size_t max) {
  if (m.size() != size_of(seq, max)) return "wrong size";
  std::uint64_t got_seq = 0;
  std::uint64_t got_sum = 0;
  std::memcpy(&got_seq, m.data(), 8);
  std::memcpy(&got_sum, m.data() + 8, 8);
  if (got_seq != seq) return "wrong sequence number (lost, duplicated or reordered)";
  if (got_sum != checksum(m.subspan(kHead))) return "wrong checksum (torn or overwritten)";
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const std::size_t size = ring::segment_size(kCapacity);
  auto* memory = static_cast<std::byte*>(std::aligned_alloc(ring::kCacheLine, size));
  if (memory == nullptr) return 2;
  std::span<std::byte> segment(memory, size);
  if (!ring::initialise(segment, kCapacity, 0x0123456789abcdefULL)) return 2;
  ring::Writer writer;
  ring::Reader reader;
  if (writer.attach(segment) != Status::ok || reader.attach(segment) != Status::ok) return 2;
  const std::size_t max = writer.max_message();

  std::atomic<bool> failed{false};
  std::uint64_t fulls = 0;
  std::thread producer([&] {
    std::vector<std::byte> m(max);
    for (std::uint64_t seq = 0; seq < count && !failed.load(std::memory_order_relaxed);) {
      const std::span<std::byte> msg = std::span(m).first(size_of(seq, max));
      Status s;
      if (seq % 2 == 0) {
        fill(msg, seq);
        s = writer.try_write(msg);
      } else {
        std::span<std::byte> room;
        s = writer.reserve(msg.size(), room);
        if (s == Status::ok) {
          fill(room, seq);  // in place
          writer.commit(room.size());
        }
      }
      if (s == Status::ok) {
        ++seq;
      } else if (s == Status::full) {
        ++fulls;
        std::this_thread::yield();  // two vCPUs: the reader may need this one
      } else {
        std::fprintf(stderr, "ring_tsan: the writer got status %d at message %llu\n",
                     static_cast<int>(s), static_cast<unsigned long long>(seq));
        failed = true;
      }
    }
  });

  std::vector<std::byte> out(max);
  std::uint64_t empties = 0;
  for (std::uint64_t seq = 0; seq < count && !failed.load(std::memory_order_relaxed);) {
    Status s;
    const char* wrong = "";
    if (seq % 3 == 0) {
      std::size_t n = 0;
      s = reader.try_read(out, n);
      if (s == Status::ok) wrong = verify(std::span(out).first(n), seq, max);
    } else {
      const ring::Peeked p = reader.peek();
      s = p.status;
      if (s == Status::ok) {
        wrong = verify(p.message, seq, max);
        reader.release();
      }
    }
    if (s == Status::ok && *wrong == '\0') {
      // The second half with read_pos published once per eighth of the ring (and when the
      // ring is empty): the writer then reuses bytes released long before it sees them go.
      if (++seq == count / 2) reader.set_release_batch(kCapacity / 8);
    } else if (s == Status::empty) {
      ++empties;
      std::this_thread::yield();
    } else {
      std::fprintf(stderr, "ring_tsan: message %llu: %s\n", static_cast<unsigned long long>(seq),
                   s == Status::ok ? wrong : "the reader got a status other than ok or empty");
      failed = true;
    }
  }
  producer.join();
  const bool drained = reader.peek().status == Status::empty;
  std::free(memory);
  if (failed) return 1;
  if (!drained) {
    std::fprintf(stderr, "ring_tsan: a message after the last one\n");
    return 1;
  }
  std::printf(
      "ring_tsan: %llu messages whole and in order (writer full %llu times, reader empty %llu "
      "times)\n",
      static_cast<unsigned long long>(count), static_cast<unsigned long long>(fulls),
      static_cast<unsigned long long>(empties));
  return 0;
}
