// libFuzzer target for include/ipckit/ring.hpp: a ring segment whose bytes a hostile peer
// chose. The input is a capacity, a key, then a script of operations: an honest writer's
// try_write and reserve/commit, an honest reader's peek/release and try_read, re-attaching
// either side (the reader publishing per message or per batch), and the hostile peer's moves: raw bytes anywhere in the segment, any header
// field, and forged records whose tag matches ((position + 1) XOR key) at positions near
// either side's. Every call must return a Status it may return, stay inside the segment
// (ASan: the segment is allocated exactly, with no slack), and stop: a reader on a segment
// nobody writes runs dry within one lap. While nobody has corrupted anything, the reader
// must get exactly what the writer wrote, in order, and an empty ring must take any message
// up to max_message().
//
// Build: make fuzz (clang, -fsanitize=fuzzer,address,undefined), or by hand:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I include
//     tests/fuzz/ring_fuzz.cpp -o ring_fuzz && ./ring_fuzz -max_total_time=60
// ctest replays the checked-in corpus (tests/fuzz/corpus/ring_fuzz) through replay_main.cpp.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <new>
#include <span>
#include <vector>

#include "fuzz_input.hpp"
#include "ipckit/ring.hpp"

namespace {

namespace ring = ipckit::ring;
using ring::Status;

[[noreturn]] void fail(const char* what) { ipckit::fuzz::fail("ring_fuzz", what); }

void expect(bool condition, const char* what) {
  if (!condition) fail(what);
}

using ipckit::fuzz::Input;

// A 64-byte-aligned allocation of exactly `size` bytes: one byte past it is an ASan report.
struct Segment {
  explicit Segment(std::size_t n)
      : size(n), bytes(static_cast<std::byte*>(::operator new (n, std::align_val_t{64}))) {}
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment() { ::operator delete (bytes, std::align_val_t{64}); }
  [[nodiscard]] std::span<std::byte> span() const { return {bytes, size}; }
  [[nodiscard]] ring::Header& header() const { return *reinterpret_cast<ring::Header*>(bytes); }
  std::size_t size;
  std::byte* bytes;
};

std::byte pattern(std::uint64_t seq, std::size_t i) {
  return static_cast<std::byte>((seq * 131 + i * 7 + 1) & 0xFF);
}

struct Sent {
  std::uint64_t seq;
  std::size_t size;
};

class Harness {
 public:
  Harness(Segment& segment, std::uint64_t capacity, bool honest)
      : seg_(segment), capacity_(capacity), clean_(honest) {}

  void attach_writer() {
    const Status s = writer_.attach(seg_.span());
    // empty: the ready word is 0, a ring still being initialised.
    expect(s == Status::ok || s == Status::corrupt || s == Status::empty,
           "Writer::attach returned neither ok, empty nor corrupt");
    if (clean_) expect(s == Status::ok, "Writer::attach refused an honest ring");
    writer_ok_ = s == Status::ok;
  }

  void attach_reader() {
    const Status s = reader_.attach(seg_.span());
    // empty: the ready word is 0, a ring still being initialised.
    expect(s == Status::ok || s == Status::corrupt || s == Status::empty,
           "Reader::attach returned neither ok, empty nor corrupt");
    if (clean_) expect(s == Status::ok, "Reader::attach refused an honest ring");
    reader_ok_ = s == Status::ok;
  }

  void run(Input& in) {
    for (int steps = 0; steps < 4096 && !in.done(); ++steps) {
      switch (in.take<std::uint8_t>() % 10) {
        case 0:
          try_write(in);
          break;
        case 1:
          reserve_commit(in);
          break;
        case 2:
          peek(in);
          break;
        case 3:
          try_read(in);
          break;
        case 4:
          poke_bytes(in);
          break;
        case 5:
          forge_record(in);
          break;
        case 6:
          set_header_field(in);
          break;
        case 7:
          attach_writer();
          break;
        case 8:
          // A reader that hands the ring over publishes first (Reader::publish): the next one
          // starts at the published position.
          if (reader_ok_) reader_.publish();
          attach_reader();
          // Publishing read_pos per message or per batch (Reader::set_release_batch).
          reader_.set_release_batch(std::uint64_t{in.take<std::uint8_t>()} % 4 * capacity_ / 8);
          break;
        default:
          drain();
          break;
      }
    }
    drain();
  }

 private:
  [[nodiscard]] std::byte* data_begin() const { return seg_.bytes + sizeof(ring::Header); }
  [[nodiscard]] std::byte* segment_end() const { return seg_.bytes + seg_.size; }
  [[nodiscard]] bool inside_data(std::span<const std::byte> s) const {
    return s.data() >= data_begin() && s.data() <= segment_end() &&
           s.size() <= static_cast<std::size_t>(segment_end() - s.data());
  }

  std::size_t message_size(Input& in) {
    const std::uint64_t max = writer_.max_message();
    const auto raw = in.take<std::uint16_t>();
    switch (raw & 3) {
      case 0:
        return raw >> 2 & 0xFF;  // small
      case 1:
        return static_cast<std::size_t>(max - (raw >> 2 & 0x3F));  // near the largest
      case 2:
        return static_cast<std::size_t>(max + (raw >> 2 & 0x3));  // around the limit
      default:
        return static_cast<std::size_t>((raw >> 2) % (max + 1));
    }
  }

  // The honest writer's result, judged by what it may return.
  void judge_write(Status s, std::size_t size) {
    expect(s == Status::ok || s == Status::full || s == Status::too_large || s == Status::corrupt,
           "the writer returned a status it never returns");
    expect((s == Status::too_large) == (size > writer_.max_message()),
           "too_large does not match max_message()");
    if (!clean_) return;
    expect(s != Status::corrupt, "the writer called an honest ring corrupt");
    if (sent_.empty() && size <= writer_.max_message())
      expect(s == Status::ok, "an empty honest ring is full");
  }

  void try_write(Input& in) {
    if (!writer_ok_) return;
    const std::size_t size = message_size(in);
    std::vector<std::byte> m(size);
    for (std::size_t i = 0; i < size; ++i) m[i] = pattern(seq_, i);
    const Status s = writer_.try_write(m);
    judge_write(s, size);
    if (s == Status::ok) sent_.push_back({seq_++, size});
  }

  void reserve_commit(Input& in) {
    if (!writer_ok_) return;
    const std::size_t size = message_size(in);
    const auto how = in.take<std::uint8_t>();
    std::span<std::byte> room;
    const Status s = writer_.reserve(size, room);
    judge_write(s, size);
    if (s != Status::ok) return;
    expect(room.size() == size && inside_data(room), "reserve gave room outside the data area");
    const std::size_t used = (how & 1) != 0 ? size : size * (how >> 1) / 127 % (size + 1);
    for (std::size_t i = 0; i < room.size(); ++i) room[i] = pattern(seq_, i);  // touch all of it
    if ((how & 0x80) != 0 && (how & 1) == 0) {
      return;  // abandoned: never committed (a writer that gives up, or dies here)
    }
    writer_.commit(used);
    sent_.push_back({seq_++, used});
  }

  // Checks a message the reader returned and, on an honest ring, that it is the next one.
  // `in_ring`: a peek()'s view, which must lie in the data area (try_read's is a copy).
  void judge_message(std::span<const std::byte> m, bool in_ring) {
    if (in_ring) expect(inside_data(m), "the reader returned a message outside the data area");
    expect(m.size() <= reader_.max_message(), "the reader returned a message above max_message()");
    unsigned sum = 0;
    for (std::byte b : m) sum += static_cast<unsigned>(b);  // ASan checks every byte
    (void)sum;
    if (!clean_) return;
    expect(!sent_.empty(), "the reader got a message nobody wrote");
    const Sent want = sent_.front();
    expect(m.size() == want.size, "the reader got a message of another size");
    for (std::size_t i = 0; i < m.size(); ++i) {
      if (m[i] != pattern(want.seq, i)) fail("the reader got other bytes than were written");
    }
  }

  void judge_read(Status s) {
    if (clean_) {
      expect(s != Status::corrupt, "the reader called an honest ring corrupt");
      expect((s == Status::empty) == sent_.empty(),
             "the reader's empty does not match what was written");
    }
  }

  void peek(Input& in) {
    if (!reader_ok_) return;
    const ring::Peeked p = reader_.peek();
    expect(p.status == Status::ok || p.status == Status::empty || p.status == Status::corrupt,
           "peek returned a status it never returns");
    judge_read(p.status);
    if (p.status != Status::ok) {
      expect(p.message.empty(), "peek returned a view with a status other than ok");
      return;
    }
    judge_message(p.message, true);
    if ((in.take<std::uint8_t>() & 3) != 0) {
      reader_.release();
      if (clean_) sent_.pop_front();
    }
  }

  void try_read(Input& in) {
    if (!reader_ok_) return;
    const auto raw = in.take<std::uint16_t>();
    const std::size_t room =
        (raw & 1) != 0 ? reader_.max_message() : (raw >> 1) % (reader_.max_message() + 1);
    std::vector<std::byte> out(room);  // exactly `room`: a longer copy is an ASan report
    std::size_t n = 0xdead;
    const Status s = reader_.try_read(out, n);
    expect(s == Status::ok || s == Status::empty || s == Status::corrupt || s == Status::too_large,
           "try_read returned a status it never returns");
    if (s == Status::too_large) {
      if (clean_)
        expect(!sent_.empty() && sent_.front().size > room,
               "try_read: too_large for a message that fits");
      return;
    }
    judge_read(s);
    if (s != Status::ok) return;
    expect(n <= room, "try_read reported more bytes than fit");
    judge_message(std::span(out).first(n), false);
    if (clean_) sent_.pop_front();
  }

  // Reads until the ring runs dry: on a segment nobody writes to, a lap at most.
  void drain() {
    if (!reader_ok_) return;
    const std::uint64_t bound = capacity_ / ring::kRecordAlign + 2;
    for (std::uint64_t i = 0;; ++i) {
      const ring::Peeked p = reader_.peek();
      expect(p.status == Status::ok || p.status == Status::empty || p.status == Status::corrupt,
             "peek returned a status it never returns");
      judge_read(p.status);
      if (p.status != Status::ok) return;
      if (i > bound) fail("the reader reads more than a lap of messages that nobody writes");
      judge_message(p.message, true);
      reader_.release();
      if (clean_) sent_.pop_front();
    }
  }

  // The hostile peer: any bytes anywhere in the segment.
  void poke_bytes(Input& in) {
    clean_ = false;
    const std::size_t at = in.take<std::uint32_t>() % seg_.size;
    const std::size_t n = 1 + in.take<std::uint8_t>() % 8;
    for (std::size_t i = 0; i < n && at + i < seg_.size; ++i)
      seg_.bytes[at + i] = std::byte{in.take<std::uint8_t>()};
  }

  // The hostile peer forges a record that the reader will believe is committed: the right
  // tag for a position near where either side is, with a length and kind of its choice.
  void forge_record(Input& in) {
    clean_ = false;
    const ring::Header& h = seg_.header();
    const auto sel = in.take<std::uint8_t>();
    std::uint64_t pos = (sel & 1) != 0 ? h.read_pos : h.write_pos;
    pos &= ~std::uint64_t{ring::kRecordAlign - 1};
    pos += static_cast<std::uint64_t>(static_cast<std::int64_t>(in.take<std::int8_t>()) * 16);
    pos += static_cast<std::uint64_t>(static_cast<std::int64_t>((sel >> 1) % 3) - 1) *
           capacity_;  // lap before, this, after
    const std::uint64_t offset = pos & (capacity_ - 1);
    const std::uint64_t max = ring::max_message_for(capacity_);
    std::uint32_t length = 0;
    switch ((sel >> 3) % 6) {
      case 0:
        length = in.take<std::uint32_t>();
        break;
      case 1:
        length = static_cast<std::uint32_t>(in.take<std::uint16_t>() % (max + 1));
        break;
      case 2:
        length = static_cast<std::uint32_t>(capacity_ - offset - ring::kRecordHeader);
        break;  // exact padding
      case 3:
        length = static_cast<std::uint32_t>(capacity_ - offset - ring::kRecordHeader +
                                            in.take<std::int8_t>());
        break;
      case 4:
        length = static_cast<std::uint32_t>(max + in.take<std::int8_t>());
        break;
      default:
        length = in.take<std::uint8_t>();
        break;
    }
    const std::uint32_t kind = (sel & 0x40) != 0 ? in.take<std::uint32_t>() : (sel >> 7);
    if (sizeof(ring::Header) + offset + ring::kRecordHeader > seg_.size)
      return;  // a truncated segment
    std::byte* record = data_begin() + offset;
    const std::uint64_t tag = (pos + 1) ^ h.key;
    std::memcpy(record, &tag, 8);
    std::memcpy(record + 8, &length, 4);
    std::memcpy(record + 12, &kind, 4);
  }

  // The hostile peer rewrites a header field: random, or near a value that passes a check.
  void set_header_field(Input& in) {
    clean_ = false;
    ring::Header& h = seg_.header();
    const auto sel = in.take<std::uint8_t>();
    const auto raw = in.take<std::uint64_t>();
    const auto delta =
        static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int16_t>(raw)));
    switch (sel % 9) {
      case 0:
        h.magic = (sel & 0x80) != 0 ? raw : ring::kMagic;
        break;
      case 1:
        h.version = static_cast<std::uint32_t>(raw % 3);
        break;
      case 2:
        h.header_size = (sel & 0x80) != 0 ? static_cast<std::uint32_t>(raw) : sizeof(ring::Header);
        break;
      case 3:
        h.capacity = (sel & 0x80) != 0 ? raw : std::uint64_t{1} << (raw % 48);
        break;
      case 4:
        h.key = raw;
        break;
      case 5:
        h.ready = static_cast<std::uint32_t>(raw % 3);
        break;
      case 6:
        h.write_pos = (sel & 0x80) != 0 ? raw : h.read_pos + delta;
        break;
      case 7:
        h.read_pos = (sel & 0x80) != 0 ? raw : h.write_pos + delta;
        break;
      default:
        h.read_pos = (sel & 0x80) != 0 ? h.read_pos + delta : h.read_pos - (raw & 0xFFF0);
        break;
    }
  }

  Segment& seg_;
  std::uint64_t capacity_;
  ring::Writer writer_;
  ring::Reader reader_;
  bool clean_;  // nothing but the honest sides has touched the segment
  bool writer_ok_ = false;
  bool reader_ok_ = false;
  std::deque<Sent> sent_;
  std::uint64_t seq_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  const auto first = in.take<std::uint8_t>();
  const std::uint64_t capacity = ring::kMinCapacity << (first % 4);  // 4 KiB to 32 KiB
  const std::uint64_t key = in.take<std::uint64_t>();
  const std::size_t full = ring::segment_size(capacity);
  // Now and then a segment shorter than its header says (a peer that lies about the size).
  std::size_t size_used = full;
  if ((first >> 2) % 8 == 7) size_used = sizeof(ring::Header) + in.take<std::uint16_t>() % capacity;
  Segment made(full);
  if (!ring::initialise(made.span(), capacity, key)) fail("initialise refused a valid capacity");
  Segment seg(size_used);
  std::memcpy(seg.bytes, made.bytes, size_used);
  Harness harness(seg, capacity, size_used == full);
  harness.attach_writer();
  harness.attach_reader();
  harness.run(in);
  return 0;
}
