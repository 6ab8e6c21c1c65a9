// Hostile segments for include/ipckit/ring.hpp: many trials of a live ring (an honest writer
// has written, an honest reader has read part of it) whose bytes a peer then corrupts: random
// bytes anywhere, records forged with the right tag (the key is in the header, so a peer can
// compute (position + 1) XOR key), header fields, and the reader's position as the writer sees
// it. Each call must return a status it may return, a message must lie inside the data area,
// and a reader on a segment nobody writes runs dry within a lap. The segment is allocated
// exactly, so a byte past it is an ASan report. The untrusted-peer rules: ring.hpp's banner.
//
// Seeds are fixed; a failure names its seed, and IPCKIT_RING_SEED=<seed> runs that one trial.
// tests/fuzz/ring_fuzz.cpp is the same idea under libFuzzer (`make fuzz`).

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "ipckit/ring.hpp"

namespace ipckit::ring {
namespace {

constexpr int kTrials = 600;

// A 64-byte-aligned allocation of exactly segment_size(capacity) bytes, initialised.
class Segment {
 public:
  Segment(std::uint64_t capacity, std::uint64_t key)
      : size_(segment_size(capacity)),
        bytes_(static_cast<std::byte*>(::operator new (size_, std::align_val_t{kCacheLine}))) {
    EXPECT_TRUE(initialise(span(), capacity, key));
  }
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment() { ::operator delete (bytes_, std::align_val_t{kCacheLine}); }

  [[nodiscard]] std::span<std::byte> span() const { return {bytes_, size_}; }
  [[nodiscard]] Header& header() const { return *reinterpret_cast<Header*>(bytes_); }
  [[nodiscard]] std::byte* data() const { return bytes_ + sizeof(Header); }
  [[nodiscard]] std::size_t size() const { return size_; }

  /// Whether `s` lies inside the data area.
  [[nodiscard]] bool holds(std::span<const std::byte> s) const {
    const std::byte* end = bytes_ + size_;
    return s.data() >= data() && s.data() <= end &&
           s.size() <= static_cast<std::size_t>(end - s.data());
  }

 private:
  std::size_t size_;
  std::byte* bytes_;
};

std::byte pattern(std::uint64_t seq, std::size_t i) {
  return static_cast<std::byte>((seq * 131 + i * 7 + 1) & 0xFF);
}

std::vector<std::byte> message(std::uint64_t seq, std::size_t size) {
  std::vector<std::byte> m(size);
  for (std::size_t i = 0; i < size; ++i) m[i] = pattern(seq, i);
  return m;
}

// Each trial's seed: fixed, or the one IPCKIT_RING_SEED names.
std::vector<std::uint64_t> seeds(std::uint64_t base) {
  if (const char* one = std::getenv("IPCKIT_RING_SEED");
      one != nullptr && *one != '\0') {  // NOLINT(concurrency-mt-unsafe)
    return {std::strtoull(one, nullptr, 0)};
  }
  std::vector<std::uint64_t> all;
  for (int i = 0; i < kTrials; ++i) all.push_back(base + static_cast<std::uint64_t>(i));
  return all;
}

std::string replay(std::uint64_t seed) {
  return "seed " + std::to_string(seed) + " (replay: IPCKIT_RING_SEED=" + std::to_string(seed) +
         ")";
}

// A ring an honest writer and reader have used for a while: the writer somewhere in a lap,
// some messages unread. Positions vary with the seed, so corruption meets every offset.
struct LiveRing {
  explicit LiveRing(std::mt19937_64& rng)
      : capacity(kMinCapacity << (rng() % 3)), key(rng()), segment(capacity, key) {
    EXPECT_EQ(writer.attach(segment.span()), Status::ok);
    EXPECT_EQ(reader.attach(segment.span()), Status::ok);
    const int rounds = static_cast<int>(rng() % 40);
    for (int i = 0; i < rounds; ++i) {
      write_some(rng, 1 + static_cast<int>(rng() % 6));
      read_some(static_cast<int>(rng() % 6));
    }
    write_some(rng, static_cast<int>(rng() % 4));
  }

  [[nodiscard]] std::size_t random_size(std::mt19937_64& rng) const {
    const std::size_t max = writer.max_message();
    switch (rng() % 4) {
      case 0:
        return max - rng() % 32;
      case 1:
        return rng() % (max + 1);
      default:
        return rng() % 200;
    }
  }

  void write_some(std::mt19937_64& rng, int n) {
    for (int i = 0; i < n; ++i) {
      const std::size_t size = random_size(rng);
      const Status s = writer.try_write(message(seq, size));
      if (s == Status::full) return;
      EXPECT_EQ(s, Status::ok);
      sent.push_back(size);
      ++seq;
    }
  }

  void read_some(int n) {
    std::vector<std::byte> out(reader.max_message());
    for (int i = 0; i < n && !sent.empty(); ++i) {
      std::size_t size = 0;
      EXPECT_EQ(reader.try_read(out, size), Status::ok);
      EXPECT_EQ(size, sent.front());
      sent.pop_front();
      ++read;
    }
  }

  std::uint64_t capacity;
  std::uint64_t key;
  Segment segment;
  Writer writer;
  Reader reader;
  std::deque<std::size_t> sent;  // sizes written, not read yet
  std::uint64_t seq = 0;
  std::uint64_t read = 0;
};

// Reads until the reader stops. Every ok message must lie in the data area and be at most
// max_message(); the calls must end with empty or corrupt within a lap (nobody writes now, and
// a tag matches only one position per offset). Returns the last status.
Status drain(Reader& reader, const Segment& segment, std::uint64_t capacity) {
  const std::uint64_t bound = capacity / kRecordAlign + 2;
  for (std::uint64_t i = 0; i <= bound; ++i) {
    const Peeked p = reader.peek();
    if (p.status != Status::ok) {
      EXPECT_TRUE(p.status == Status::empty || p.status == Status::corrupt)
          << static_cast<int>(p.status);
      EXPECT_TRUE(p.message.empty());
      return p.status;
    }
    EXPECT_TRUE(segment.holds(p.message)) << "a message outside the data area";
    EXPECT_LE(p.message.size(), reader.max_message());
    if (!segment.holds(p.message)) return Status::corrupt;
    unsigned sum = 0;
    for (std::byte b : p.message) sum += static_cast<unsigned>(b);  // ASan checks each byte
    (void)sum;
    reader.release();
  }
  ADD_FAILURE() << "the reader read more than a lap of messages that nobody wrote";
  return Status::ok;
}

// The honest writer goes on writing on a segment that may be corrupt: ok, full, too_large or
// corrupt, room always inside the data area. Stops at the first status other than ok.
Status write_on(Writer& writer, const Segment& segment, std::mt19937_64& rng, int n) {
  for (int i = 0; i < n; ++i) {
    const std::size_t size = rng() % (writer.max_message() + 2);
    std::span<std::byte> room;
    const Status s = writer.reserve(size, room);
    EXPECT_TRUE(s == Status::ok || s == Status::full || s == Status::too_large ||
                s == Status::corrupt)
        << static_cast<int>(s);
    EXPECT_EQ(s == Status::too_large, size > writer.max_message());
    if (s != Status::ok) return s;
    EXPECT_TRUE(segment.holds(room)) << "room outside the data area";
    if (!segment.holds(room)) return Status::corrupt;
    std::memset(room.data(), 0x5a, room.size());  // ASan checks each byte
    writer.commit(size);
  }
  return Status::ok;
}

// The control: the same driver with nobody corrupting anything reads back exactly what was
// written and never says corrupt, so the tests below can tell a hostile peer from a bug.
TEST(RingHostile, AnHonestRingUnderTheSameDriverReadsBackEverything) {
  for (std::uint64_t seed : seeds(1000)) {
    SCOPED_TRACE(replay(seed));
    std::mt19937_64 rng(seed);
    LiveRing ring(rng);
    const std::uint64_t first_unread = ring.read;
    std::uint64_t i = first_unread;
    for (;;) {
      const Peeked p = ring.reader.peek();
      if (p.status == Status::empty) break;
      ASSERT_EQ(p.status, Status::ok);
      ASSERT_FALSE(ring.sent.empty());
      ASSERT_EQ(p.message.size(), ring.sent.front());
      const std::vector<std::byte> want = message(i, p.message.size());
      ASSERT_TRUE(want.empty() || std::memcmp(p.message.data(), want.data(), want.size()) == 0)
          << "message " << i << " has other bytes";
      ring.reader.release();
      ring.sent.pop_front();
      ++i;
    }
    EXPECT_TRUE(ring.sent.empty());
    EXPECT_EQ(write_on(ring.writer, ring.segment, rng, 1), Status::ok)
        << "an empty ring takes any message";
  }
}

TEST(RingHostile, RandomBytesAnywhereGiveOkEmptyOrCorruptWithinALap) {
  for (std::uint64_t seed : seeds(2000)) {
    SCOPED_TRACE(replay(seed));
    std::mt19937_64 rng(seed);
    LiveRing ring(rng);
    const Segment& seg = ring.segment;
    const int pokes = 1 + static_cast<int>(rng() % 16);
    for (int i = 0; i < pokes; ++i) {
      // Mostly the data area near the unread records, sometimes anywhere, header included.
      std::size_t at = 0;
      if (rng() % 4 == 0) {
        at = rng() % seg.size();
      } else {
        at = sizeof(Header) + ((seg.header().read_pos + rng() % 512) & (ring.capacity - 1));
      }
      seg.span()[at] = static_cast<std::byte>(rng());
    }
    // The live reader, and a fresh one that attaches to what is there now.
    drain(ring.reader, seg, ring.capacity);
    Reader fresh;
    if (fresh.attach(seg.span()) == Status::ok) drain(fresh, seg, ring.capacity);
    write_on(ring.writer, seg, rng, 8);
    drain(ring.reader, seg, ring.capacity);
  }
}

TEST(RingHostile, ForgedRecordsWithTheRightTagStayInsideTheDataArea) {
  for (std::uint64_t seed : seeds(3000)) {
    SCOPED_TRACE(replay(seed));
    std::mt19937_64 rng(seed);
    LiveRing ring(rng);
    const Segment& seg = ring.segment;
    const Header& h = seg.header();
    const std::uint64_t max = max_message_for(ring.capacity);
    const int forged = 1 + static_cast<int>(rng() % 4);
    std::uint64_t pos = h.read_pos;  // the next record the reader reads
    for (int i = 0; i < forged; ++i) {
      if (rng() % 3 == 0) pos += (rng() % 64) * kRecordAlign;  // or one further on
      const std::uint64_t offset = pos & (ring.capacity - 1);
      std::uint32_t length = 0;
      switch (rng() % 6) {
        case 0:
          length = static_cast<std::uint32_t>(rng());
          break;
        case 1:
          length = static_cast<std::uint32_t>(rng() % (max + 1));
          break;
        case 2:
          length = static_cast<std::uint32_t>(max + 1 + rng() % 64);
          break;
        case 3:
          length = static_cast<std::uint32_t>(ring.capacity - offset - kRecordHeader);
          break;  // padding's size
        case 4:
          length =
              static_cast<std::uint32_t>(ring.capacity - offset - kRecordHeader + 1 + rng() % 32);
          break;
        default:
          length = static_cast<std::uint32_t>(rng() % 64);
          break;
      }
      const std::uint32_t kind = rng() % 4 == 0 ? static_cast<std::uint32_t>(rng())
                                                : static_cast<std::uint32_t>(rng() % 2);
      const std::uint64_t tag = (pos + 1) ^ h.key;
      std::byte* record = seg.data() + offset;
      std::memcpy(record, &tag, 8);
      std::memcpy(record + 8, &length, 4);
      std::memcpy(record + 12, &kind, 4);
      pos += detail::record_size(length % (max + 1));
    }
    Reader fresh;
    ASSERT_EQ(fresh.attach(seg.span()), Status::ok) << "the header is untouched";
    drain(fresh, seg, ring.capacity);
    drain(ring.reader, seg, ring.capacity);
    write_on(ring.writer, seg, rng, 8);
    drain(ring.reader, seg, ring.capacity);
  }
}

TEST(RingHostile, AForgedRecordIsCorruptWhenItsLengthOrKindIsImpossible) {
  Segment seg(4096, 77);
  Reader reader;
  ASSERT_EQ(reader.attach(seg.span()), Status::ok);
  const std::uint64_t key = seg.header().key;
  auto forge = [&](std::uint64_t pos, std::uint32_t length, std::uint32_t kind) {
    const std::uint64_t tag = (pos + 1) ^ key;
    std::byte* record = seg.data() + (pos & 4095);
    std::memcpy(record, &tag, 8);
    std::memcpy(record + 8, &length, 4);
    std::memcpy(record + 12, &kind, 4);
  };
  forge(0, 2048 - 16 + 1, 0);
  EXPECT_EQ(reader.peek().status, Status::corrupt) << "above max_message()";
  forge(0, 0xFFFFFFFF, 0);
  EXPECT_EQ(reader.peek().status, Status::corrupt) << "far above max_message()";
  forge(0, 10, 2);
  EXPECT_EQ(reader.peek().status, Status::corrupt) << "an unknown kind";
  forge(0, 100, 1);
  EXPECT_EQ(reader.peek().status, Status::corrupt) << "padding that does not reach the lap's end";
  forge(0, 10, 0);
  const Peeked p = reader.peek();
  ASSERT_EQ(p.status, Status::ok)
      << "a well-formed forged record is a message: the tag is all the reader has";
  EXPECT_EQ(p.message.size(), 10U);
  EXPECT_TRUE(seg.holds(p.message));

  // From position 2048: padding to the lap's end, then a whole lap of padding at offset 0.
  seg.header().read_pos = 2048;
  Reader at_2048;
  ASSERT_EQ(at_2048.attach(seg.span()), Status::ok);
  forge(2048, 2048 - 16, 1);
  forge(4096, 4096 - 16, 1);
  EXPECT_EQ(at_2048.peek().status, Status::corrupt) << "padding after padding";
}

TEST(RingHostile, HeaderFieldsThatFailTheCheckMakeAttachRefuse) {
  for (std::uint64_t seed : seeds(4000)) {
    SCOPED_TRACE(replay(seed));
    std::mt19937_64 rng(seed);
    LiveRing ring(rng);
    Header& h = ring.segment.header();
    const std::uint64_t value = rng();
    switch (rng() % 6) {
      case 0:
        h.magic ^= std::uint64_t{1} << (value % 64);
        break;
      case 1:
        h.version = static_cast<std::uint32_t>(value % 4);
        break;
      case 2:
        h.header_size = static_cast<std::uint32_t>(value % 1024);
        break;
      case 3:
        h.capacity = value % 2 == 0 ? value : std::uint64_t{1} << (value % 48);
        break;
      case 4:
        h.ready = static_cast<std::uint32_t>(value % 3);
        break;
      default:
        h.key = value;
        break;
    }
    const bool accepted = check(ring.segment.span()).status == Status::ok;
    Writer writer;
    Reader reader;
    const Status ws = writer.attach(ring.segment.span());
    const Status rs = reader.attach(ring.segment.span());
    if (!accepted) {
      // attach says what check says: empty for a ring still being initialised (ready 0),
      // corrupt for anything no creator writes.
      const Status want = h.ready == 0 ? Status::empty : Status::corrupt;
      EXPECT_EQ(ws, want);
      EXPECT_EQ(rs, want);
      continue;
    }
    // Still a valid header (a smaller power of two, another key, or the same value): the
    // sides work inside the segment, whatever they find.
    EXPECT_LE(segment_size(h.capacity), ring.segment.size());
    if (rs == Status::ok) drain(reader, ring.segment, h.capacity);
    if (ws == Status::ok) write_on(writer, ring.segment, rng, 8);
    if (rs == Status::ok) drain(reader, ring.segment, h.capacity);
  }
}

TEST(RingHostile, AReaderPositionFromTheSegmentNeverTakesTheReaderOutside) {
  for (std::uint64_t seed : seeds(5000)) {
    SCOPED_TRACE(replay(seed));
    std::mt19937_64 rng(seed);
    LiveRing ring(rng);
    Header& h = ring.segment.header();
    switch (rng() % 3) {
      case 0:
        h.read_pos = rng();
        break;
      case 1:
        h.read_pos = h.write_pos + (rng() % 64) * kRecordAlign;
        break;
      default:
        h.read_pos = h.read_pos - (rng() % 64) * kRecordAlign + (rng() % 2) * 8;
        break;
    }
    Reader reader;
    const Status s = reader.attach(ring.segment.span());
    EXPECT_EQ(s == Status::ok, h.read_pos % kRecordAlign == 0)
        << "an unaligned position is corrupt";
    if (s == Status::ok) drain(reader, ring.segment, ring.capacity);
  }
}

// The symmetric case: the reader's position is what a hostile reader wrote. The writer sees
// corrupt once it looks (when the ring seems full) if the position is behind what it saw
// before or past its own; it never writes outside the data area, and never overwrites a
// record the reader has not released (read_pos is the only word it trusts for that).
TEST(RingHostile, ACorruptedReaderPositionGivesTheWriterCorruptOrOkNeverOutside) {
  for (std::uint64_t seed : seeds(6000)) {
    SCOPED_TRACE(replay(seed));
    std::mt19937_64 rng(seed);
    LiveRing ring(rng);
    Header& h = ring.segment.header();
    const std::uint64_t writer_pos = h.write_pos;
    const std::uint64_t released = h.read_pos;
    enum { ahead, behind, anywhere, inside } how = static_cast<decltype(ahead)>(rng() % 4);
    switch (how) {
      // Further than the writer gets before it must look (a lap past what it last saw, which
      // is at most `released`): when it looks, the position is past its own.
      case ahead:
        h.read_pos = released + ring.capacity + 1 + rng() % (2 * ring.capacity);
        break;
      case behind:
        h.read_pos = released - 1 - rng() % (2 * ring.capacity);
        break;
      case anywhere:
        h.read_pos = rng();
        break;
      case inside:
        h.read_pos = released + rng() % (writer_pos - released + 1);
        break;
    }
    // Write until the writer stops: at most a lap of records, as read_pos stays put.
    const Status last = write_on(ring.writer, ring.segment, rng,
                                 static_cast<int>(ring.capacity / kRecordAlign) + 2);
    EXPECT_NE(last, Status::ok) << "the writer wrote more than a lap with read_pos standing still";
    if (how == ahead) {
      EXPECT_TRUE(last == Status::corrupt || last == Status::too_large) << static_cast<int>(last);
    }
    if (how == inside) {
      EXPECT_NE(last, Status::corrupt)
          << "a position between the released one and the writer's is honest";
    }
    // A writer attaching now checks the distance between the two positions.
    Writer fresh;
    const Status fs = fresh.attach(ring.segment.span());
    const std::uint64_t now = h.write_pos;
    if (h.read_pos > now || now - h.read_pos > ring.capacity) {
      EXPECT_EQ(fs, Status::corrupt)
          << "write_pos " << now << " read_pos " << h.read_pos << " capacity " << ring.capacity
          << " case " << how << " last " << static_cast<int>(last);
    }
  }
}

// A reader position "just below zero" is a lap or less behind the writer in modular
// arithmetic, but past it as a number: no honest reader gets there (positions never wrap).
TEST(RingHostile, AReaderPositionPastTheWriterIsCorruptAtAttachEvenAcrossZero) {
  Segment seg(4096, 5);
  Writer honest;
  ASSERT_EQ(honest.attach(seg.span()), Status::ok);
  ASSERT_EQ(honest.try_write(std::vector<std::byte>(100)), Status::ok);  // write_pos 128
  seg.header().read_pos = 256;
  Writer past;
  EXPECT_EQ(past.attach(seg.span()), Status::corrupt) << "past the writer";
  seg.header().read_pos = ~std::uint64_t{0} - 15;  // 2^64 - 16: "144 bytes behind" modulo 2^64
  Writer across_zero;
  EXPECT_EQ(across_zero.attach(seg.span()), Status::corrupt)
      << "past the writer, modulo 2^64 a lap behind it";
}

}  // namespace
}  // namespace ipckit::ring
