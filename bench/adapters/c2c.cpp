// `c2c`: the hardware floor. One 64-bit word on its own cache line of a MAP_SHARED |
// MAP_ANONYMOUS mapping (inherited across fork) is bounced between the two pinned processes:
// one side stores a value, the other spins until it sees it and stores its answer. A round
// trip costs two cache-line transfers between the cores and nothing else, so every other
// mechanism's round trip is read as a multiple of it.
//
// The word carries the message header packed into 64 bits:
//   bits 5-63 sequence number, bits 2-4 phase, bit 1 "last", bit 0 direction (1: from child)
// The phase is never 0, so a zeroed word is never mistaken for a message, and the direction
// bit keeps a process from reading its own store as the answer. Only ping-pong makes sense
// here (a sender would overwrite a value not yet seen), so the mechanism has no throughput.

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#include "adapter.hpp"
#include "ipckit/error.hpp"
#include "message.hpp"
#include "spin.hpp"

namespace ipckit::bench {
namespace {

constexpr std::size_t kCacheLine = 64;
constexpr std::uint64_t kFromChild = 1;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "the shared word must be lock-free to work across processes");

// The mapping, shared by the mechanism and the endpoints of this process, so it outlives
// whichever of them goes last. fork gives the child its own owner of the same pages.
class SharedLine {
 public:
  SharedLine() {
    void* p = ::mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw Error{"mmap", "c2c cache line", errno};
    base_ = p;
    word_ = new (p) std::atomic<std::uint64_t>(0);  // page-aligned, so alone on its line
  }
  SharedLine(const SharedLine&) = delete;
  SharedLine& operator=(const SharedLine&) = delete;
  ~SharedLine() { ::munmap(base_, kPageSize); }

  [[nodiscard]] std::atomic<std::uint64_t>& word() noexcept { return *word_; }

 private:
  static constexpr std::size_t kPageSize = 4096;
  void* base_ = nullptr;
  std::atomic<std::uint64_t>* word_ = nullptr;
};

[[nodiscard]] std::uint64_t pack(const Header& h, std::uint64_t direction) noexcept {
  return (h.seq << 5) | (static_cast<std::uint64_t>(h.phase) << 2) | (h.last() ? 2U : 0U) |
         direction;
}

[[nodiscard]] Header unpack(std::uint64_t word) noexcept {
  Header h;
  h.seq = word >> 5;
  h.phase = static_cast<Phase>((word >> 2) & 7U);
  h.flags = (word & 2U) != 0 ? kLastMessage : 0;
  return h;
}

class LineSender final : public Sender {
 public:
  LineSender(std::shared_ptr<SharedLine> line, std::uint64_t direction) noexcept
      : line_(std::move(line)), direction_(direction) {}

  Transfer send(std::span<const std::byte> message) override {
    // release: nothing else is published, but it keeps the store after our earlier reads of
    // the line (and costs nothing on x86).
    line_->word().store(pack(read_header(message), direction_), std::memory_order_release);
    return Transfer::ok;
  }

 private:
  std::shared_ptr<SharedLine> line_;
  std::uint64_t direction_;
};

class LineReceiver final : public Receiver {
 public:
  LineReceiver(std::shared_ptr<SharedLine> line, std::uint64_t peer_direction,
               std::chrono::nanoseconds stall_timeout) noexcept
      : line_(std::move(line)), peer_direction_(peer_direction), stall_timeout_(stall_timeout) {}

  Transfer receive(std::span<std::byte> message) override {
    SpinBound bound{stall_timeout_};
    for (;;) {
      // acquire: pairs with the peer's release store.
      const std::uint64_t word = line_->word().load(std::memory_order_acquire);
      if ((word & 1U) == peer_direction_ && word != last_seen_) {
        last_seen_ = word;
        write_header(message, unpack(word));
        return Transfer::ok;
      }
      if (!bound.spin()) {
        throw Error{"spin", "c2c cache line", ETIMEDOUT,
                    "the other process stopped answering (did it die?)"};
      }
    }
  }

 private:
  std::shared_ptr<SharedLine> line_;
  std::uint64_t peer_direction_;
  std::chrono::nanoseconds stall_timeout_;
  std::uint64_t last_seen_ = 0;
};

class C2cMechanism final : public Mechanism {
 public:
  [[nodiscard]] std::string_view name() const override { return "c2c"; }

  [[nodiscard]] Capabilities capabilities() const override {
    return {.fixed_size = kCacheLine, .throughput = false, .spins = true};
  }

  void setup(const RowContext& /*row*/) override { line_ = std::make_shared<SharedLine>(); }

  [[nodiscard]] Endpoints open(Side side, const RowContext& row) override {
    const std::uint64_t mine = side == Side::child ? kFromChild : 0;
    Endpoints ends;
    ends.sender = std::make_unique<LineSender>(line_, mine);
    ends.receiver = std::make_unique<LineReceiver>(line_, mine ^ 1U, row.stall_timeout);
    return ends;
  }

  void cleanup() noexcept override { line_.reset(); }

 private:
  std::shared_ptr<SharedLine> line_;
};

}  // namespace

std::unique_ptr<Mechanism> make_c2c_mechanism() {
  return std::make_unique<C2cMechanism>();
}

}  // namespace ipckit::bench
