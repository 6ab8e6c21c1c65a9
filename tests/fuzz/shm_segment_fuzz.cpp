// libFuzzer target for a shm:// channel's segment as a whole: the channel header, the slot
// table and the rings, which a same-user peer can write anything into. One listener and two
// senders of a real channel (named, so the target maps its segment from /dev/shm like any
// process of that user could); each input is a script of honest sends and receives and of
// writes of chosen bytes at chosen offsets anywhere in the segment.
//
// What must hold: no call crashes, reads or writes outside the segment (ASan; the library is
// instrumented too), or returns a status it may not return; while nothing was written by hand,
// every message comes out whole and in its sender's order; and after a write by hand, the
// listener either goes on or drops the sender it concerns (on_sender_dropped), and still ends
// the stream once the senders close. A channel nobody wrote on by hand is kept for the next
// input (its closed senders joined again); one that was written on is closed and made afresh, so
// each input starts from a clean segment.
//
// Build and run: make fuzz-long (or make fuzz FUZZ_TARGET=shm_segment_fuzz).

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "ipckit/channel.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kSenders = 2;

[[noreturn]] void fail(const std::string& what) { ipckit::fuzz::fail("shm_segment_fuzz", what); }

using ipckit::fuzz::Input;

std::byte pattern(std::uint32_t sender, std::uint32_t seq, std::size_t i) {
  return static_cast<std::byte>((sender * 97 + seq * 131 + i * 7 + 1) & 0xFF);
}

// A message: sender, sequence number, then a pattern of both, so a reader can tell a whole one.
std::vector<std::byte> message(std::uint32_t sender, std::uint32_t seq, std::size_t size) {
  std::vector<std::byte> m(std::max<std::size_t>(size, 8));
  std::memcpy(m.data(), &sender, 4);
  std::memcpy(m.data() + 4, &seq, 4);
  for (std::size_t i = 8; i < m.size(); ++i) m[i] = pattern(sender, seq, i);
  return m;
}

// A channel, its senders and its segment mapped as another process would map it.
class Place {
 public:
  Place() : name_("ipckit-fuzz-" + std::to_string(::getpid())) {
    rx_.emplace(ipckit::Channel::listen("shm://" + name_ + "?capacity=4096&senders=" + std::to_string(kSenders),
                                        {.on_sender_dropped = [this](const std::string&) { ++dropped_; }}));
    rejoin();
    const int fd = ::shm_open(("/ipckit-ch-" + name_).c_str(), O_RDWR | O_CLOEXEC, 0);
    struct stat st {};
    if (fd == -1 || ::fstat(fd, &st) != 0) fail("cannot open the channel's segment");
    size_ = static_cast<std::size_t>(st.st_size);
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail("cannot map the channel's segment");
    segment_ = static_cast<std::byte*>(p);
    // Where the slot table lies (header_size, slot_count and slot_size of the channel header,
    // read before anything is written by hand).
    std::uint32_t header_size = 0;
    std::uint32_t slot_count = 0;
    std::uint32_t slot_size = 0;
    std::memcpy(&header_size, segment_ + 12, 4);
    std::memcpy(&slot_count, segment_ + 16, 4);
    std::memcpy(&slot_size, segment_ + 20, 4);
    slots_begin_ = header_size;
    slots_end_ = header_size + std::size_t{slot_count} * slot_size;
  }
  Place(const Place&) = delete;
  Place& operator=(const Place&) = delete;
  ~Place() { ::munmap(segment_, size_); }

  /// Connects a sender in every slot of ours that has none (each connection an id of its own).
  void rejoin() {
    for (std::size_t s = 0; s < kSenders; ++s) {
      if (tx_[s]) continue;
      tx_[s].emplace(ipckit::Channel::connect(rx_->url(), {}, ipckit::Deadline::after(10s)));
      id_[s] = next_id_++;
      ended_ = false;  // a sender joined: the stream has not ended for it
    }
  }

  /// Whether this channel can serve the next input: nothing was written on it by hand.
  [[nodiscard]] bool clean() const { return !tampered_; }

  void run(Input& in) {
    for (int steps = 0; steps < 512 && !in.done(); ++steps) {
      const auto op = in.take<std::uint8_t>();
      const std::size_t s = (op >> 3) % kSenders;
      switch (op % 6) {
        case 0:
        case 1:
          send(s, in.take<std::uint16_t>());
          break;
        case 2:
        case 3:
          receive();
          break;
        case 4:
          write_by_hand(in.take<std::uint32_t>(), in.take<std::uint64_t>(), (op & 0x40) != 0 ? 8 : 4);
          break;
        case 5:
          close(s);
          break;
      }
    }
    if (!tampered_) {
      // Honest: everything sent is there to take at once, in each sender's order.
      for (;;) {
        const ipckit::IoResult r = rx_->try_receive(buffer());
        if (r.status == ipckit::IoStatus::would_block || r.status == ipckit::IoStatus::end_of_stream) break;
        if (r.status != ipckit::IoStatus::ok) fail("try_receive gave neither ok, would_block nor end_of_stream");
        check(r.bytes);
      }
      for (const auto& [id, queue] : sent_)
        if (!queue.empty()) fail("an honest channel lost messages");
      sent_.clear();
      return;
    }
    for (std::size_t s = 0; s < kSenders; ++s) close(s);
    // Every sender has closed: the stream ends (whatever was written by hand), unless a
    // receive above saw it end already (it ends once; after that a receive waits for new
    // senders).
    // A slot table written on may hide a sender from the listener for good (its slot marked
    // free, its pid cleared, before the listener saw it): then the listener rightly waits for
    // one to join, and a receive must only keep its deadline.
    while (!ended_) {
      const ipckit::IoResult r =
          rx_->receive(buffer(), ipckit::Deadline::after(wrote_slots_ ? 200ms : 10s));
      if (r.status == ipckit::IoStatus::end_of_stream) break;
      if (r.status == ipckit::IoStatus::timed_out && wrote_slots_) break;
      if (r.status != ipckit::IoStatus::ok) fail("no end of stream after every sender closed");
    }
  }

 private:
  std::span<std::byte> buffer() {
    buf_.resize(rx_->max_message());
    return buf_;
  }

  void send(std::size_t s, std::size_t size) {
    if (!tx_[s]) return;
    size %= tx_[s]->max_message() + 1;
    auto& queue = sent_[id_[s]];
    const std::uint32_t seq = queue.empty() ? next_seq_[s] : queue.back().first + 1;
    const std::vector<std::byte> m = message(id_[s], seq, size);
    const ipckit::IoResult r = tx_[s]->send(m, ipckit::Deadline::now());
    if (r.status == ipckit::IoStatus::ok) {
      queue.push_back({seq, m.size()});
      next_seq_[s] = seq + 1;
    } else if (r.status != ipckit::IoStatus::would_block && r.status != ipckit::IoStatus::peer_closed) {
      fail("try_send gave neither ok, would_block nor peer_closed");
    } else if (r.status == ipckit::IoStatus::peer_closed && !tampered_) {
      fail("an honest channel said peer_closed");
    }
  }

  void receive() {
    const ipckit::IoResult r = rx_->try_receive(buffer());
    if (r.status == ipckit::IoStatus::ok) {
      check(r.bytes);
    } else if (r.status == ipckit::IoStatus::end_of_stream) {
      ended_ = true;
    } else if (r.status != ipckit::IoStatus::would_block) {
      fail("try_receive gave neither ok, would_block nor end_of_stream");
    }
  }

  // A message that came out: while nothing was written by hand, the next of its sender, whole.
  void check(std::size_t bytes) {
    if (tampered_) return;  // anything whole may come out of a segment written by hand
    std::uint32_t sender = 0;
    std::uint32_t seq = 0;
    if (bytes < 8) fail("an honest message shorter than its header");
    std::memcpy(&sender, buf_.data(), 4);
    std::memcpy(&seq, buf_.data() + 4, 4);
    const auto it = sent_.find(sender);
    if (it == sent_.end() || it->second.empty()) fail("a message no sender sent");
    const auto [want, size] = it->second.front();
    it->second.pop_front();
    if (seq != want || bytes != size) fail("a message out of its sender's order, or cut");
    for (std::size_t i = 8; i < bytes; ++i)
      if (buf_[i] != pattern(sender, seq, i)) fail("a message whose bytes changed");
  }

  void write_by_hand(std::uint32_t where, std::uint64_t value, std::size_t width) {
    const std::size_t offset = (where % (size_ - width + 1)) & ~(width - 1);
    std::memcpy(segment_ + offset, &value, width);
    tampered_ = true;
    if (offset < slots_end_ && offset + width > slots_begin_) wrote_slots_ = true;
  }

  void close(std::size_t s) { tx_[s].reset(); }

  std::string name_;
  std::optional<ipckit::Channel> rx_;
  std::array<std::optional<ipckit::Channel>, kSenders> tx_;
  std::byte* segment_ = nullptr;
  std::size_t size_ = 0;
  std::vector<std::byte> buf_;
  std::map<std::uint32_t, std::deque<std::pair<std::uint32_t, std::size_t>>> sent_;  // by connection id
  std::array<std::uint32_t, kSenders> id_{};        // the connection id of each slot of ours
  std::array<std::uint32_t, kSenders> next_seq_{};  // the next sequence number of each slot of ours
  std::uint32_t next_id_ = 0;
  int dropped_ = 0;
  bool tampered_ = false;
  bool ended_ = false;  // a receive saw the end of the stream
  bool wrote_slots_ = false;  // a write by hand touched the slot table
  std::size_t slots_begin_ = 0;
  std::size_t slots_end_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static std::unique_ptr<Place> place;
  if (!place) place = std::make_unique<Place>();
  place->rejoin();
  Input in(data, size);
  place->run(in);
  if (!place->clean()) place.reset();  // written on by hand: the next input gets a new one
  return 0;
}
