#pragma once

#include <atomic>
#include <bit>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

// A single-producer single-consumer ring of variable-size messages in shared memory: the hot
// path of the shm:// channel. Header-only; no syscalls, no allocation, no virtual
// calls, no exceptions. Waiting (futex), liveness and several senders live in the channel
// layer above it; this file is the layout and the two views.
//
//   std::byte* mem = ...;  // ring::segment_size(capacity) bytes of a MAP_SHARED mapping
//   ring::initialise(std::span(mem, ring::segment_size(1 << 20)), 1 << 20, random_key);
//   ring::Writer w;  (void)w.attach(segment);   ring::Reader r;  (void)r.attach(segment);
//   w.try_write(bytes);                      // ok, full or too_large
//   ring::Peeked p = r.peek();               // ok with a view of the message, empty, corrupt
//   use(p.message); r.release();
//
// Layout (every field little-endian, fixed width; the same for 32- and 64-bit processes):
//
//   offset  size  field            written by       meaning
//   0       8     magic            creator          "IPCKRING" (0x474e49524b435049)
//   8       4     version          creator          1
//   12      4     header_size      creator          320: where the data area starts
//   16      8     capacity         creator          data bytes, a power of two, 4096..2^32
//   24      8     key              creator          a random value mixed into record tags
//   32      4     ready            creator          0 while initialising, then 1 (release)
//   64      8     write_pos        writer           bytes ever committed (diagnostics)
//   128     8     read_pos         reader           bytes released (at once, or per batch:
//                                                   Reader::set_release_batch): the writer
//                                                   may reuse what lies before it
//   192     4     reader_waiting   reader           1 while the reader sleeps (channel layer)
//   196     4     reader_wake      writer           futex word the reader sleeps on
//   256     4     writer_waiting   writer           1 while the writer sleeps (channel layer)
//   260     4     writer_wake      reader           futex word the writer sleeps on
//   320     capacity   data        writer           records
//
// A record starts on a 16-byte boundary and never wraps: 16 bytes of header, then the
// payload, padded to 16. Header: tag (8 bytes) = (position + 1) XOR key, written last with a
// release store, so the reader learns "committed" from the one cache line it reads anyway
// (no separate index to fetch); length (4); kind (4): 0 a message, 1 padding that fills the
// rest of the lap, so a message that does not fit before the end starts again at offset 0.
// The key makes stale bytes from an earlier lap (old payload at a header's place) miss.
//
// Untrusted peers: every value read from the segment is checked before it is used. A bad
// tag-matched record (length above the ring's maximum, past the end of the lap, an unknown
// kind, padding of the wrong size), or a read_pos that moves backwards or past the writer,
// gives Status::corrupt, never an access outside the segment or an endless loop.

namespace ipckit::ring {

inline constexpr std::uint64_t kMagic = 0x474e49524b435049ULL;  // "IPCKRING" read as LE
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kRecordHeader = 16;
inline constexpr std::size_t kRecordAlign = 16;
inline constexpr std::uint64_t kMinCapacity = 4096;
// A record's length field is 32 bits: the largest message, half the ring, must fit it.
inline constexpr std::uint64_t kMaxCapacity = std::uint64_t{1} << 32;

/// The header at offset 0 of a ring segment. Plain fixed-width fields; the atomics are
/// std::atomic_ref views made where they are used, so the layout is exactly this struct.
struct Header {
  alignas(kCacheLine) std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t header_size;
  std::uint64_t capacity;
  std::uint64_t key;
  std::uint32_t ready;
  alignas(kCacheLine) std::uint64_t write_pos;
  alignas(kCacheLine) std::uint64_t read_pos;
  alignas(kCacheLine) std::uint32_t reader_waiting;
  std::uint32_t reader_wake;
  alignas(kCacheLine) std::uint32_t writer_waiting;
  std::uint32_t writer_wake;
};  // padded to 320 bytes by its 64-byte alignment: the data area starts there

// The table above is a promise to readers in other languages and other builds: pin it.
static_assert(offsetof(Header, magic) == 0);
static_assert(offsetof(Header, version) == 8);
static_assert(offsetof(Header, header_size) == 12);
static_assert(offsetof(Header, capacity) == 16);
static_assert(offsetof(Header, key) == 24);
static_assert(offsetof(Header, ready) == 32);
static_assert(offsetof(Header, write_pos) == 64);
static_assert(offsetof(Header, read_pos) == 128);
static_assert(offsetof(Header, reader_waiting) == 192);
static_assert(offsetof(Header, reader_wake) == 196);
static_assert(offsetof(Header, writer_waiting) == 256);
static_assert(offsetof(Header, writer_wake) == 260);
static_assert(sizeof(Header) == 320);
static_assert(std::endian::native == std::endian::little, "the layout is little-endian");
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free, "64-bit atomics must not take a lock");
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

enum class RecordKind : std::uint32_t { message = 0, padding = 1 };

/// What a ring call did. Hot-path calls return it instead of throwing.
enum class Status : unsigned char {
  ok,
  empty,      ///< reader: no committed message now
  full,       ///< writer: no room now (the reader has not released enough)
  too_large,  ///< writer: the message is above max_message(); nothing was written
  corrupt,    ///< the segment holds values no honest peer writes (see the banner)
};

/// Bytes a segment needs for `capacity` data bytes.
[[nodiscard]] constexpr std::uint64_t segment_size(std::uint64_t capacity) noexcept {
  return sizeof(Header) + capacity;
}

/// The largest message a ring of `capacity` carries: half the ring, less a record header, so
/// a message always fits either before the lap's end or from its start.
[[nodiscard]] constexpr std::uint64_t max_message_for(std::uint64_t capacity) noexcept {
  return capacity / 2 - kRecordHeader;
}
static_assert(max_message_for(kMaxCapacity) + kRecordHeader <= UINT32_MAX, "lengths are 32-bit");

/// True for a capacity a ring can have: a power of two from kMinCapacity to kMaxCapacity.
[[nodiscard]] constexpr bool valid_capacity(std::uint64_t capacity) noexcept {
  return capacity >= kMinCapacity && capacity <= kMaxCapacity && std::has_single_bit(capacity);
}

namespace detail {

[[nodiscard]] constexpr std::uint64_t record_size(std::uint64_t payload) noexcept {
  return (kRecordHeader + payload + (kRecordAlign - 1)) & ~std::uint64_t{kRecordAlign - 1};
}

template <class T>
[[nodiscard]] std::atomic_ref<T> atomic(T& field) noexcept {
  return std::atomic_ref<T>(field);
}

}  // namespace detail

/// Lays out a fresh ring in `segment` (at least segment_size(capacity) bytes, 64-byte
/// aligned; it clears the data area, touching every page) and publishes it as ready last.
/// Only the creator calls it, before any peer can open the segment. `key` should be random;
/// its top bit is set here, so that zeroed memory never poses as a record. Returns false when
/// capacity is not valid_capacity() or the segment is too small or misaligned.
[[nodiscard]] inline bool initialise(std::span<std::byte> segment, std::uint64_t capacity, std::uint64_t key) noexcept {
  if (!valid_capacity(capacity) || segment.size() < segment_size(capacity)) return false;
  if (reinterpret_cast<std::uintptr_t>(segment.data()) % kCacheLine != 0) return false;
  std::memset(segment.data(), 0, sizeof(Header));
  auto* h = reinterpret_cast<Header*>(segment.data());
  h->magic = kMagic;
  h->version = kVersion;
  h->header_size = sizeof(Header);
  h->capacity = capacity;
  // With the top bit set, (position + 1) XOR key is never 0 for any position a ring reaches,
  // so the cleared data area holds no tag that matches.
  h->key = key | (std::uint64_t{1} << 63);
  std::memset(segment.data() + sizeof(Header), 0, capacity);
  // release: every field above is visible to a peer that sees ready == 1 with acquire.
  detail::atomic(h->ready).store(1, std::memory_order_release);
  return true;
}

/// Why a segment cannot be used, for the channel layer's error messages (a literal); when
/// ok, the capacity and key it checked (read once: a peer may change the header meanwhile,
/// so use these copies, never the header again).
struct Check {
  Status status = Status::ok;
  const char* why = "";
  std::uint64_t capacity = 0;
  std::uint64_t key = 0;
};

/// Checks a mapped segment before use: ready, magic, version, header size, a valid capacity
/// that fits `segment`. The peer may have written anything; nothing else is trusted.
[[nodiscard]] inline Check check(std::span<const std::byte> segment) noexcept {
  if (segment.size() < sizeof(Header)) return {Status::corrupt, "the segment is smaller than a ring header"};
  if (reinterpret_cast<std::uintptr_t>(segment.data()) % kCacheLine != 0) return {Status::corrupt, "misaligned"};
  auto* h = reinterpret_cast<Header*>(const_cast<std::byte*>(segment.data()));  // NOLINT: atomic_ref needs T&
  // acquire: pairs with initialise's release; the fields below were written before.
  const std::uint32_t ready = detail::atomic(h->ready).load(std::memory_order_acquire);
  if (ready == 0) return {Status::empty, "not initialised yet"};
  if (ready != 1) return {Status::corrupt, "the ready word holds a value no creator writes"};
  if (h->magic != kMagic) return {Status::corrupt, "not an ipckit ring (wrong magic)"};
  if (h->version != kVersion) return {Status::corrupt, "a ring of another ipckit version (layout version differs)"};
  if (h->header_size != sizeof(Header)) return {Status::corrupt, "a ring whose header has another size (another build)"};
  // relaxed: one read of each, checked and then used; the creator wrote them before ready.
  const std::uint64_t capacity = detail::atomic(h->capacity).load(std::memory_order_relaxed);
  const std::uint64_t key = detail::atomic(h->key).load(std::memory_order_relaxed);
  if (!valid_capacity(capacity)) return {Status::corrupt, "the capacity is not a power of two in range"};
  if (segment.size() < segment_size(capacity)) return {Status::corrupt, "the segment is smaller than its capacity says"};
  return {Status::ok, "", capacity, key};
}

/// A reader's view of a message: valid until release().
struct Peeked {
  Status status = Status::empty;
  std::span<const std::byte> message{};
};

namespace detail {

// What both ends keep of the segment after check(): where the header and data are, and the
// capacity and key read once.
class End {
 public:
  [[nodiscard]] Header* header() const noexcept { return header_; }

 protected:
  Status bind(std::span<std::byte> segment) noexcept {
    const Check c = check(segment);
    if (c.status != Status::ok) return c.status;
    header_ = reinterpret_cast<Header*>(segment.data());
    data_ = segment.data() + sizeof(Header);
    capacity_ = c.capacity;
    key_ = c.key;
    return Status::ok;
  }

  Header* header_ = nullptr;
  std::byte* data_ = nullptr;
  std::uint64_t capacity_ = 0;
  std::uint64_t key_ = 0;
};

}  // namespace detail

/// The writing side. Keeps its own position and a cached copy of the reader's, refreshed only
/// when the ring looks full. Not thread-safe: one writer per ring.
class Writer : public detail::End {
 public:
  /// Attaches to a segment: check()'s status (empty while it is not initialised yet), or
  /// corrupt when the positions in it are inconsistent. One writer for the ring's life.
  [[nodiscard]] Status attach(std::span<std::byte> segment) noexcept {
    if (Status s = bind(segment); s != Status::ok) return s;
    // acquire: the reader's releases before it published read_pos.
    read_pos_ = detail::atomic(header_->read_pos).load(std::memory_order_acquire);
    pos_ = detail::atomic(header_->write_pos).load(std::memory_order_relaxed);
    if (read_pos_ > pos_ || pos_ - read_pos_ > capacity_ || pos_ % kRecordAlign != 0) return Status::corrupt;
    return Status::ok;
  }

  [[nodiscard]] std::uint64_t max_message() const noexcept { return max_message_for(capacity_); }

  /// Room for a message of `size` bytes, to fill in place and then commit(size). full when
  /// the reader has not released enough yet; too_large above max_message(); corrupt when the
  /// reader's position is impossible.
  [[nodiscard]] Status reserve(std::size_t size, std::span<std::byte>& room) noexcept {
    if (size > max_message()) return Status::too_large;
    const std::uint64_t need = detail::record_size(size);
    std::uint64_t offset = pos_ & (capacity_ - 1);
    const std::uint64_t pad = offset + need > capacity_ ? capacity_ - offset : 0;
    if (Status s = make_room(pad + need); s != Status::ok) return s;
    if (pad != 0) {
      write_record(pos_, RecordKind::padding, static_cast<std::uint32_t>(pad - kRecordHeader));
      pos_ += pad;
      // The padding is committed: a writer attaching after this one must start past it.
      detail::atomic(header_->write_pos).store(pos_, std::memory_order_relaxed);
      offset = 0;
    }
    room = {data_ + offset + kRecordHeader, size};
    return Status::ok;
  }

  /// Publishes the message reserved last with `size` bytes (at most what was reserved).
  void commit(std::size_t size) noexcept {
    write_record(pos_, RecordKind::message, static_cast<std::uint32_t>(size));
    pos_ += detail::record_size(size);
    // relaxed: diagnostics only; the record's tag is what the reader waits on.
    detail::atomic(header_->write_pos).store(pos_, std::memory_order_relaxed);
  }

  /// Copies `message` in and commits it: ok, full, too_large, corrupt.
  [[nodiscard]] Status try_write(std::span<const std::byte> message) noexcept {
    std::span<std::byte> room;
    if (Status s = reserve(message.size(), room); s != Status::ok) return s;
    if (!message.empty()) std::memcpy(room.data(), message.data(), message.size());
    commit(message.size());
    return Status::ok;
  }


 private:
  Status make_room(std::uint64_t bytes) noexcept {
    if (pos_ + bytes - read_pos_ <= capacity_) return Status::ok;
    // acquire: the reader copied the released bytes out before it stored read_pos.
    const std::uint64_t seen = detail::atomic(header_->read_pos).load(std::memory_order_acquire);
    if (seen < read_pos_ || seen > pos_) return Status::corrupt;  // backwards, or past us
    read_pos_ = seen;
    return pos_ + bytes - read_pos_ <= capacity_ ? Status::ok : Status::full;
  }

  void write_record(std::uint64_t pos, RecordKind kind, std::uint32_t length) noexcept {
    std::byte* record = data_ + (pos & (capacity_ - 1));
    std::memcpy(record + 8, &length, 4);
    const auto k = static_cast<std::uint32_t>(kind);
    std::memcpy(record + 12, &k, 4);
    // release: the payload and the two fields above are visible before the tag says so.
    detail::atomic(*reinterpret_cast<std::uint64_t*>(record)).store((pos + 1) ^ key_, std::memory_order_release);
  }

  std::uint64_t pos_ = 0;       // where the next record goes
  std::uint64_t read_pos_ = 0;  // the reader's position, as last seen
};

/// The reading side. Polls the tag at its own position (one cache line per small message)
/// and publishes what it has released. Not thread-safe: one reader per ring.
class Reader : public detail::End {
 public:
  /// Attaches to a segment: check()'s status, or corrupt when its read position is not a
  /// record boundary. One reader for the ring's life.
  [[nodiscard]] Status attach(std::span<std::byte> segment) noexcept {
    if (Status s = bind(segment); s != Status::ok) return s;
    pos_ = detail::atomic(header_->read_pos).load(std::memory_order_relaxed);
    published_ = pos_;
    if (pos_ % kRecordAlign != 0) return Status::corrupt;
    return Status::ok;
  }

  [[nodiscard]] std::uint64_t max_message() const noexcept { return max_message_for(capacity_); }

  /// The next message, left in the ring until release(): ok, empty or corrupt.
  [[nodiscard]] Peeked peek() noexcept {
    for (int hops = 0; hops < 2; ++hops) {  // at most one padding record before a message
      const std::uint64_t offset = pos_ & (capacity_ - 1);
      std::byte* record = data_ + offset;
      if (!tagged(pos_)) {
        // Caught up: whatever was released and not yet published goes out now, so a writer
        // waiting for room is never left looking at an old position.
        if (published_ != pos_) publish();
        // Nothing yet. A small message's record usually spans this line and the next (64
        // payload bytes and the 16-byte header do), and the writer fills the next one before
        // it stores the tag here. Fetching it now, while the reader waits anyway, saves a
        // second cache-line transfer after the tag comes (measured: about a fifth of a
        // cross-core round trip of 64-byte messages). A prefetch never faults.
        __builtin_prefetch(data_ + ((offset + kCacheLine) & (capacity_ - 1)));
        return {Status::empty, {}};
      }
      std::uint32_t length = 0;
      std::uint32_t kind = 0;
      std::memcpy(&length, record + 8, 4);
      std::memcpy(&kind, record + 12, 4);
      if (kind == static_cast<std::uint32_t>(RecordKind::padding)) {
        if (offset + kRecordHeader + length != capacity_) return {Status::corrupt, {}};
        pos_ += capacity_ - offset;
        continue;
      }
      if (kind != static_cast<std::uint32_t>(RecordKind::message) || length > max_message() ||
          offset + kRecordHeader + length > capacity_) {
        return {Status::corrupt, {}};
      }
      pending_ = detail::record_size(length);
      return {Status::ok, {data_ + offset + kRecordHeader, length}};
    }
    return {Status::corrupt, {}};  // padding after padding: no honest writer does that
  }

  /// Gives the message peek() returned back to the writer: at once (the default), or, with
  /// set_release_batch(), once that many bytes are released or no committed message follows.
  void release() noexcept {
    pos_ += pending_;
    pending_ = 0;
    if (pos_ - published_ >= batch_ || !committed_at(pos_)) publish();
  }

  /// Publishes read_pos only every `bytes` released, or as soon as the reader has caught up
  /// (nothing but padding committed after the one released, or peek() finds the ring empty),
  /// instead of after every message. A writer that polls read_pos while the ring is full (a
  /// busy-polling one) then takes the line from the reader once per batch, not once per
  /// message. Room is held back only while more messages wait to be read: the writer may see
  /// the ring full up to `bytes` earlier than it is. Only for a writer that polls: one asleep on a full ring
  /// must be woken after a publication, which the channel layer does per release (so it
  /// leaves the batch at 0). A reader that attaches later starts at the published position:
  /// publish() before letting go of a ring, or the next reader reads those messages again.
  void set_release_batch(std::uint64_t bytes) noexcept { batch_ = bytes; }

  /// The reader's position: bytes read and released (padding included) since the ring began.
  [[nodiscard]] std::uint64_t position() const noexcept { return pos_; }
  /// Whether the ring's read_pos still holds what this reader last published. Nobody else
  /// writes it, so false means another process wrote on the ring's header (a writer would then
  /// see room that is not there, or none, and stall). Not for the hot path: one load.
  [[nodiscard]] bool read_pos_intact() const noexcept {
    // relaxed: only this reader stores it; any other value came from outside.
    return detail::atomic(header_->read_pos).load(std::memory_order_relaxed) == published_;
  }
  /// What the writer says it has committed (write_pos, diagnostics): a hint, never trusted
  /// for reading. Past position() while peek() finds nothing for long means the record at
  /// the reader's position was overwritten.
  [[nodiscard]] std::uint64_t writer_says() const noexcept {
    // relaxed: a hint (see above).
    return detail::atomic(header_->write_pos).load(std::memory_order_relaxed);
  }

  /// Publishes what was released: the writer may reuse every byte before the position now.
  void publish() noexcept {
    published_ = pos_;
    // release: our reads of the messages happen before the writer reuses their bytes.
    detail::atomic(header_->read_pos).store(pos_, std::memory_order_release);
  }

  /// Copies the next message into `out` (at least max_message() bytes, or the message's
  /// size) and releases it: ok with `size`, empty, corrupt, too_large (out is too small; the
  /// message stays).
  [[nodiscard]] Status try_read(std::span<std::byte> out, std::size_t& size) noexcept {
    Peeked p = peek();
    if (p.status != Status::ok) return p.status;
    if (p.message.size() > out.size()) return Status::too_large;
    if (!p.message.empty()) std::memcpy(out.data(), p.message.data(), p.message.size());
    size = p.message.size();
    release();
    return Status::ok;
  }


 private:
  // Whether the record at position `pos` is committed: its tag is (pos + 1) XOR key. acquire:
  // pairs with the writer's release of the tag; length, kind and payload were written before.
  [[nodiscard]] bool tagged(std::uint64_t pos) const noexcept {
    auto* tag = reinterpret_cast<std::uint64_t*>(data_ + (pos & (capacity_ - 1)));
    return detail::atomic(*tag).load(std::memory_order_acquire) == ((pos + 1) ^ key_);
  }

  // Whether a committed message may follow position `pos`: a record committed there, or,
  // past committed padding (a writer's reservation that wrapped, maybe abandoned), one
  // committed at the next lap's start. A hint only: it decides when to publish, never what
  // is read, so a record a hostile peer forged here costs at most a late publication.
  [[nodiscard]] bool committed_at(std::uint64_t pos) const noexcept {
    for (int hops = 0; hops < 2; ++hops) {
      const std::uint64_t offset = pos & (capacity_ - 1);
      if (!tagged(pos)) return false;
      std::uint32_t kind = 0;
      std::memcpy(&kind, data_ + offset + 12, 4);
      if (kind != static_cast<std::uint32_t>(RecordKind::padding)) return true;
      pos += capacity_ - offset;
    }
    return true;  // padding after padding: leave it to peek(), which calls it corrupt
  }

  std::uint64_t pos_ = 0;        // the next record to read
  std::uint64_t pending_ = 0;    // the size of the record peek() returned
  std::uint64_t published_ = 0;  // the read_pos last stored
  std::uint64_t batch_ = 0;      // bytes released before read_pos is stored (0: every release)
};

}  // namespace ipckit::ring
