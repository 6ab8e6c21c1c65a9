// Unit tests for the shared-memory ring (include/ipckit/ring.hpp): the layout check, messages
// of every size in order across many laps (padding at the lap's end), full and too large,
// the zero-copy forms, a writer and a reader on two threads, and a ring shared by two
// processes through a MAP_SHARED mapping. Hostile segments: ring_hostile_test.cpp.

#include "ipckit/ring.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace ipckit::ring {
namespace {

// A 64-byte-aligned segment on the heap.
struct Segment {
  explicit Segment(std::uint64_t capacity, std::uint64_t key = 0x1234'5678'9abc'def0ULL)
      : size(segment_size(capacity)),
        memory(static_cast<std::byte*>(std::aligned_alloc(kCacheLine, size))) {
    EXPECT_TRUE(initialise(span(), capacity, key));
  }
  [[nodiscard]] std::span<std::byte> span() const { return {memory.get(), size}; }
  [[nodiscard]] Header& header() const { return *reinterpret_cast<Header*>(memory.get()); }
  std::size_t size;
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }  // NOLINT: aligned_alloc's pair
  };
  std::unique_ptr<std::byte, Free> memory;
};

// A fresh ring with its writer and reader attached.
struct AttachedRing {
  explicit AttachedRing(std::uint64_t capacity) : s(capacity) {
    EXPECT_EQ(w.attach(s.span()), Status::ok);
    EXPECT_EQ(r.attach(s.span()), Status::ok);
  }
  /// read_pos as the writer sees it: what the reader has published.
  [[nodiscard]] std::uint64_t read_pos() const { return std::atomic_ref<std::uint64_t>(s.header().read_pos).load(); }

  Segment s;
  Writer w;
  Reader r;
};

// Message `seq` of `size` bytes: its bytes follow from seq, so a reader can check them.
std::vector<std::byte> message(std::uint64_t seq, std::size_t size) {
  std::vector<std::byte> m(size);
  for (std::size_t i = 0; i < size; ++i) m[i] = static_cast<std::byte>((seq * 131 + i * 7) & 0xFF);
  return m;
}

bool is_message(std::span<const std::byte> got, std::uint64_t seq, std::size_t size) {
  if (got.size() != size) return false;
  auto want = message(seq, size);
  return std::equal(got.begin(), got.end(), want.begin());
}

TEST(Ring, InitialiseRefusesBadCapacitiesAndSegments) {
  Segment s(4096);
  EXPECT_FALSE(initialise(s.span(), 4095, 1)) << "not a power of two";
  EXPECT_FALSE(initialise(s.span(), 2048, 1)) << "below the minimum";
  EXPECT_FALSE(initialise(s.span().first(s.size - 1), 4096, 1)) << "segment too small";
  EXPECT_FALSE(initialise(s.span().subspan(8), 2048 * 2, 1)) << "misaligned";
  EXPECT_TRUE(valid_capacity(1 << 20));
  EXPECT_EQ(max_message_for(4096), 2048U - kRecordHeader);
}

TEST(Ring, CheckNamesWhatIsWrongWithASegment) {
  Segment s(4096);
  EXPECT_EQ(check(s.span()).status, Status::ok);
  EXPECT_EQ(check(s.span().first(100)).status, Status::corrupt);
  EXPECT_EQ(check(s.span().first(s.size - 1)).status, Status::corrupt);
  s.header().version = 2;
  EXPECT_STREQ(check(s.span()).why, "a ring of another ipckit version (layout version differs)");
  s.header().version = kVersion;
  s.header().header_size = 256;
  EXPECT_EQ(check(s.span()).status, Status::corrupt);
  s.header().header_size = sizeof(Header);
  s.header().capacity = 4097;
  EXPECT_EQ(check(s.span()).status, Status::corrupt);
  s.header().capacity = 4096;
  s.header().magic = 0;
  EXPECT_STREQ(check(s.span()).why, "not an ipckit ring (wrong magic)");
  s.header().magic = kMagic;
  s.header().ready = 0;
  EXPECT_EQ(check(s.span()).status, Status::empty) << "still being initialised";
  Writer w;
  EXPECT_EQ(w.attach(s.span()), Status::empty) << "not ready yet: attach again later";
}

TEST(Ring, MessagesOfEverySizeComeOutWholeAndInOrderAcrossManyLaps) {
  AttachedRing ring(4096);
  auto& [s, w, r] = ring;
  std::vector<std::byte> out(r.max_message());
  std::mt19937_64 rng(7);
  std::uint64_t written = 0;
  std::uint64_t read = 0;
  // Sizes from 0 to the maximum: the ring wraps hundreds of times, with padding.
  while (read < 20000) {
    std::size_t size = written % 97 == 0 ? w.max_message() : static_cast<std::size_t>(rng() % 300);
    if (written % 89 == 0) size = 0;
    Status ws = w.try_write(message(written, size));
    if (ws == Status::ok) {
      ++written;
      continue;
    }
    ASSERT_EQ(ws, Status::full);
    // Drain a little, so both sides meet the lap's end at every offset.
    for (int i = 0; i < 3; ++i) {
      std::size_t n = 0;
      Status rs = r.try_read(out, n);
      if (rs == Status::empty) break;
      ASSERT_EQ(rs, Status::ok);
      ASSERT_TRUE(is_message(std::span(out).first(n), read, n)) << "message " << read;
      ++read;
    }
  }
  std::size_t n = 0;
  while (r.try_read(out, n) == Status::ok) ++read;
  EXPECT_EQ(read, written);
  EXPECT_EQ(r.peek().status, Status::empty);
}

TEST(Ring, FullUntilTheReaderReleasesAndTooLargeWritesNothing) {
  AttachedRing ring(4096);
  auto& [s, w, r] = ring;
  EXPECT_EQ(w.try_write(message(0, w.max_message() + 1)), Status::too_large);
  EXPECT_EQ(r.peek().status, Status::empty) << "too_large wrote nothing";
  int count = 0;
  while (w.try_write(message(count, 100)) == Status::ok) ++count;
  EXPECT_EQ(count, 4096 / 128) << "a 100-byte message takes a 128-byte record";
  Peeked p = r.peek();
  ASSERT_EQ(p.status, Status::ok);
  EXPECT_EQ(w.try_write(message(count, 100)), Status::full) << "peeked is not released";
  r.release();
  EXPECT_EQ(w.try_write(message(count, 100)), Status::ok);
}

TEST(Ring, ABatchingReaderPublishesOncePerBatchWhileMoreMessagesFollow) {
  AttachedRing ring(4096);
  auto& [s, w, r] = ring;
  r.set_release_batch(1024);
  int written = 0;
  while (w.try_write(message(written, 100)) == Status::ok) ++written;  // 128-byte records
  ASSERT_EQ(written, 32);

  std::vector<std::byte> out(r.max_message());
  std::size_t n = 0;
  int read = 0;
  for (; read < 7; ++read) {
    ASSERT_EQ(r.try_read(out, n), Status::ok);
    ASSERT_TRUE(is_message(std::span(out).first(n), read, 100));
  }
  EXPECT_EQ(ring.read_pos(), 0u) << "896 bytes released, under the batch: nothing published yet";
  EXPECT_EQ(w.try_write(message(written, 100)), Status::full) << "the writer sees only what is published";
  ASSERT_EQ(r.try_read(out, n), Status::ok);
  ++read;
  EXPECT_EQ(ring.read_pos(), 1024u) << "the eighth message completes the batch";
  for (int i = 0; i < 8; ++i, ++written) ASSERT_EQ(w.try_write(message(written, 100)), Status::ok) << i;
  EXPECT_EQ(w.try_write(message(written, 100)), Status::full);

  for (; read < written; ++read) {  // the 32 left
    ASSERT_EQ(r.try_read(out, n), Status::ok);
    ASSERT_TRUE(is_message(std::span(out).first(n), read, 100));
  }
  EXPECT_EQ(ring.read_pos(), 5120u) << "published at 2048, 3072, 4096 and 5120";
}

TEST(Ring, ABatchingReaderPublishesWhenItCatchesUpAndPastPaddingItSkipped) {
  AttachedRing ring(4096);
  auto& [s, w, r] = ring;
  r.set_release_batch(4096);  // never reached here: only catching up publishes
  for (int i = 0; i < 3; ++i) ASSERT_EQ(w.try_write(message(i, 1000)), Status::ok);  // 1024-byte records
  std::vector<std::byte> out(r.max_message());
  std::size_t n = 0;
  ASSERT_EQ(r.try_read(out, n), Status::ok);
  ASSERT_EQ(r.try_read(out, n), Status::ok);
  EXPECT_EQ(ring.read_pos(), 0u) << "a committed record follows: nothing published yet";
  ASSERT_EQ(r.try_read(out, n), Status::ok);
  EXPECT_EQ(ring.read_pos(), 3072u) << "nothing follows the third: published as it is released";

  // A reservation that does not fit before the lap's end commits padding over 3072..4096; its
  // message is not committed yet. The reader skips the padding, finds nothing, publishes.
  std::span<std::byte> room;
  ASSERT_EQ(w.reserve(1500, room), Status::ok);
  EXPECT_EQ(r.peek().status, Status::empty);
  EXPECT_EQ(ring.read_pos(), 4096u) << "the padding skipped is published as the reader finds the ring empty";
  w.commit(1500);
  ASSERT_EQ(r.try_read(out, n), Status::ok);
  EXPECT_EQ(n, 1500u);
  EXPECT_EQ(ring.read_pos(), 4096u + 1520u);
}

TEST(Ring, ABatchingReaderPublishesWhenOnlyAnAbandonedReservationsPaddingFollows) {
  AttachedRing ring(4096);
  auto& [s, w, r] = ring;
  r.set_release_batch(2048);
  std::vector<std::byte> out(r.max_message());
  std::size_t n = 0;
  for (int i = 0; i < 2; ++i) ASSERT_EQ(w.try_write(message(i, 1500)), Status::ok);  // 1520-byte records
  for (int i = 0; i < 2; ++i) ASSERT_EQ(r.try_read(out, n), Status::ok);
  ASSERT_EQ(ring.read_pos(), 3040u);
  ASSERT_EQ(w.try_write(message(2, 500)), Status::ok);  // 528 bytes: up to 3568
  // A reservation that wraps commits padding over 3568..4096; its message is never committed.
  std::span<std::byte> room;
  ASSERT_EQ(w.reserve(1500, room), Status::ok);
  ASSERT_EQ(r.try_read(out, n), Status::ok);
  EXPECT_EQ(ring.read_pos(), 3568u) << "only padding follows the last message: nothing more to read, so it is published";
}

TEST(Ring, ReserveCommitAndPeekReleaseWorkInPlace) {
  AttachedRing ring(8192);
  auto& [s, w, r] = ring;
  std::span<std::byte> room;
  ASSERT_EQ(w.reserve(1000, room), Status::ok);
  ASSERT_EQ(room.size(), 1000U);
  auto m = message(42, 600);
  std::copy(m.begin(), m.end(), room.begin());
  EXPECT_EQ(r.peek().status, Status::empty) << "nothing before commit";
  w.commit(600);  // less than reserved
  Peeked p = r.peek();
  ASSERT_EQ(p.status, Status::ok);
  EXPECT_TRUE(is_message(p.message, 42, 600));
  EXPECT_GE(p.message.data(), s.memory.get() + sizeof(Header)) << "a view into the ring, no copy";
  r.release();
  EXPECT_EQ(r.peek().status, Status::empty);
  EXPECT_EQ(s.header().read_pos, s.header().write_pos);
}

TEST(Ring, AWriterThatAttachesAfterAnAbandonedReservationStartsPastItsPadding) {
  Segment s(4096);
  Reader r;
  ASSERT_EQ(r.attach(s.span()), Status::ok);
  std::vector<std::byte> out(r.max_message());
  {
    Writer first;
    ASSERT_EQ(first.attach(s.span()), Status::ok);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(first.try_write(message(i, 1000)), Status::ok);
    std::size_t n = 0;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(r.try_read(out, n), Status::ok);
    std::span<std::byte> room;
    ASSERT_EQ(first.reserve(1500, room), Status::ok) << "needs padding to the lap's end";
    // ...and goes away without committing.
  }
  EXPECT_EQ(r.peek().status, Status::empty) << "the reader steps over the padding and waits";
  Writer second;
  ASSERT_EQ(second.attach(s.span()), Status::ok);
  ASSERT_EQ(second.try_write(message(7, 10)), Status::ok);
  std::size_t n = 0;
  ASSERT_EQ(r.try_read(out, n), Status::ok) << "the new writer's message is where the reader waits";
  EXPECT_TRUE(is_message(std::span(out).first(n), 7, 10));
}

TEST(Ring, AReaderTooSmallBufferLeavesTheMessage) {
  AttachedRing ring(4096);
  auto& [s, w, r] = ring;
  ASSERT_EQ(w.try_write(message(1, 50)), Status::ok);
  std::vector<std::byte> small(10);
  std::size_t n = 0;
  EXPECT_EQ(r.try_read(small, n), Status::too_large);
  std::vector<std::byte> big(50);
  ASSERT_EQ(r.try_read(big, n), Status::ok);
  EXPECT_TRUE(is_message(big, 1, 50));
}

TEST(Ring, ABackwardsReaderPositionIsCorruptForTheWriter) {
  AttachedRing ring(4096);
  auto& [s, w, r] = ring;
  while (w.try_write(message(0, 200)) == Status::ok) {
  }
  s.header().read_pos = 1ULL << 40;  // past the writer: no honest reader gets there
  EXPECT_EQ(w.try_write(message(0, 200)), Status::corrupt);
}

// A writer and a reader on two threads, the reader publishing per message (batch 0) or once
// per `batch` bytes released.
class RingThreads : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(RingThreads, AWriterAndAReaderLoseNothing) {
  AttachedRing ring(1 << 16);
  auto& [s, w, r] = ring;
  r.set_release_batch(GetParam());
  constexpr std::uint64_t kCount = 200000;
  std::thread writer([&] {
    std::mt19937_64 rng(11);
    auto m = message(0, static_cast<std::size_t>(rng() % 512));
    for (std::uint64_t i = 0; i < kCount;) {
      Status st = w.try_write(m);
      if (st == Status::ok) {
        if (++i < kCount) m = message(i, static_cast<std::size_t>(rng() % 512));
      } else if (st == Status::full) {
        std::this_thread::yield();  // the other thread may share this core
      } else {
        ADD_FAILURE() << "writer got status " << static_cast<int>(st);
        return;
      }
    }
  });
  std::mt19937_64 rng(11);
  std::vector<std::byte> out(r.max_message());
  std::uint64_t bad = 0;
  for (std::uint64_t i = 0; i < kCount;) {
    std::size_t n = 0;
    Status st = r.try_read(out, n);
    if (st == Status::empty) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ(st, Status::ok);
    if (!is_message(std::span(out).first(n), i, static_cast<std::size_t>(rng() % 512))) ++bad;
    ++i;
  }
  writer.join();
  EXPECT_EQ(bad, 0U);
  EXPECT_EQ(r.peek().status, Status::empty);
}

INSTANTIATE_TEST_SUITE_P(Ring, RingThreads, ::testing::Values(0, 8192),
                         [](const auto& info) { return info.param == 0 ? std::string("PerMessage") : "Batched"; });

TEST(Ring, TwoProcessesShareARingThroughAMapping) {
  const std::uint64_t capacity = 1 << 16;
  const std::size_t size = segment_size(capacity);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  std::span<std::byte> seg(static_cast<std::byte*>(p), size);
  ASSERT_TRUE(initialise(seg, capacity, 99));
  constexpr std::uint64_t kCount = 50000;
  test::Forked child([&] {
    Writer w;
    if (w.attach(seg) != Status::ok) return 1;
    for (std::uint64_t i = 0; i < kCount;) {
      Status st = w.try_write(message(i, static_cast<std::size_t>(i % 700)));
      if (st == Status::ok) ++i;
      else if (st != Status::full) return 2;
      else std::this_thread::yield();
    }
    return 0;
  });
  Reader r;
  ASSERT_EQ(r.attach(seg), Status::ok);
  std::uint64_t got = 0;
  while (got < kCount) {
    Peeked m = r.peek();
    if (m.status == Status::empty) {
      std::this_thread::yield();
      continue;
    }
    ASSERT_EQ(m.status, Status::ok);
    ASSERT_TRUE(is_message(m.message, got, static_cast<std::size_t>(got % 700))) << "message " << got;
    r.release();
    ++got;
  }
  EXPECT_TRUE(child.wait().success());
  ::munmap(p, size);
}

}  // namespace
}  // namespace ipckit::ring
