// `shm` and `shm-blocking`: ipckit's shared-memory channel (shm://), one channel per
// direction, through the public Channel API, so the row measures what a user gets.
//
// Each process listens on the channel it receives from, then connects to the one it sends
// to (the connect waits for the other side's listen, bounded by the stall timeout; both
// listen first, so the two cannot deadlock). Names are /ipckit-bench-<pid>-<n>-to-child and
// -to-parent; each listener removes its segment when it goes, and cleanup() removes what a
// killed process left.
//
// The rows differ in how a waiting end waits and how a message moves:
//   shm           busy-polls (ChannelOptions::spin = forever): never sleeps, the floor's game
//   shm-blocking  sleeps at once (spin = 0): every wait is a futex sleep and wake-up, the
//                 path an idle channel takes, comparable with a pipe's
//   shm-loan      busy-polls, and moves each message without a copy, as a zero-copy user
//                 does: the sender loans the message's room in the ring (Channel::loan) and
//                 writes only its first 64 bytes (the engine's header among them), the
//                 receiver reads the message in place (Channel::receive(deadline)) and only
//                 those 64 bytes; the rest of the room is whatever the ring held
// The channel's default (a short spin, then sleep) lies between the first two.
//
// max_message is the row's size, so a receive lands straight in the engine's buffer; the
// ring's capacity is at least 1 MiB and four records of the row's size.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapter.hpp"
#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"
#include "ipckit/shm.hpp"

namespace ipckit::bench {
namespace {

std::string stalled(const std::string& url, std::chrono::nanoseconds timeout, const char* what) {
  return "no " + std::string(what) + " for " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) + " ms on " + url +
         ": the other process is stalled";
}

[[noreturn]] void wrong_size(const std::string& url, std::size_t got, std::size_t expected) {
  throw Error{"Channel::receive", url, 0,
              "a message of " + std::to_string(got) + " bytes came where " + std::to_string(expected) + " were expected"};
}

// The deadline a send or receive gets: `timeout` after the last time it was made, not after
// each call, so a call costs no clock read (on this VM a clock read costs about as much as a
// 64-byte message). A call that times out against it is tried once more with a fresh one:
// only a wait of a whole `timeout` is a stall.
class StallDeadline {
 public:
  explicit StallDeadline(std::chrono::nanoseconds timeout) noexcept
      : timeout_(timeout), deadline_(Deadline::after(timeout)) {}

  [[nodiscard]] Deadline deadline() const noexcept { return deadline_; }
  [[nodiscard]] Deadline fresh() noexcept { return deadline_ = Deadline::after(timeout_); }
  [[nodiscard]] std::chrono::nanoseconds timeout() const noexcept { return timeout_; }

 private:
  std::chrono::nanoseconds timeout_;
  Deadline deadline_;
};

class ShmSender final : public Sender {
 public:
  ShmSender(Channel channel, std::chrono::nanoseconds stall) noexcept : channel_(std::move(channel)), stall_(stall) {}

  Transfer send(std::span<const std::byte> message) override {
    IoResult r = channel_.send(message, stall_.deadline());
    if (r.status == IoStatus::timed_out) r = channel_.send(message, stall_.fresh());
    if (r.ok()) return Transfer::ok;
    if (r.status == IoStatus::peer_closed) return Transfer::closed;
    throw Error{"Channel::send", channel_.url(), 0, stalled(channel_.url(), stall_.timeout(), "room")};
  }

 private:
  Channel channel_;
  StallDeadline stall_;
};

class ShmReceiver final : public Receiver {
 public:
  ShmReceiver(Channel channel, std::chrono::nanoseconds stall) noexcept : channel_(std::move(channel)), stall_(stall) {}

  Transfer receive(std::span<std::byte> message) override {
    IoResult r = channel_.receive(message, stall_.deadline());
    if (r.status == IoStatus::timed_out) r = channel_.receive(message, stall_.fresh());
    if (r.ok()) {
      if (r.bytes != message.size()) wrong_size(channel_.url(), r.bytes, message.size());
      return Transfer::ok;
    }
    if (r.status == IoStatus::end_of_stream) return Transfer::closed;
    throw Error{"Channel::receive", channel_.url(), 0, stalled(channel_.url(), stall_.timeout(), "message")};
  }

 private:
  Channel channel_;
  StallDeadline stall_;
};

// The bytes of a message a zero-copy user touches in shm-loan: a header's worth.
constexpr std::size_t kTouched = 64;

class ShmLoanSender final : public Sender {
 public:
  ShmLoanSender(Channel channel, std::chrono::nanoseconds stall) noexcept : channel_(std::move(channel)), stall_(stall) {}

  Transfer send(std::span<const std::byte> message) override {
    Loan l = channel_.loan(message.size(), stall_.deadline());
    if (l.status() == IoStatus::timed_out) l = channel_.loan(message.size(), stall_.fresh());
    if (l.status() == IoStatus::peer_closed) return Transfer::closed;
    if (!l.ok()) throw Error{"Channel::loan", channel_.url(), 0, stalled(channel_.url(), stall_.timeout(), "room")};
    const std::size_t touched = std::min(kTouched, message.size());
    std::memcpy(l.bytes().data(), message.data(), touched);
    return l.send().ok() ? Transfer::ok : Transfer::closed;
  }

 private:
  Channel channel_;
  StallDeadline stall_;
};

class ShmLoanReceiver final : public Receiver {
 public:
  ShmLoanReceiver(Channel channel, std::chrono::nanoseconds stall) noexcept : channel_(std::move(channel)), stall_(stall) {}

  Transfer receive(std::span<std::byte> message) override {
    Message m = channel_.receive(stall_.deadline());
    if (m.status() == IoStatus::timed_out) m = channel_.receive(stall_.fresh());
    if (m.status() == IoStatus::end_of_stream) return Transfer::closed;
    if (!m.ok()) throw Error{"Channel::receive", channel_.url(), 0, stalled(channel_.url(), stall_.timeout(), "message")};
    if (m.size() != message.size()) wrong_size(channel_.url(), m.size(), message.size());
    std::memcpy(message.data(), m.bytes().data(), std::min(kTouched, message.size()));  // the header for the engine
    return Transfer::ok;
  }

 private:
  Channel channel_;
  StallDeadline stall_;
};

enum class Mode : unsigned char { busy, blocking, loan };

class ShmMechanism final : public Mechanism {
 public:
  explicit ShmMechanism(Mode mode) noexcept : mode_(mode) {}

  [[nodiscard]] std::string_view name() const override {
    return mode_ == Mode::busy ? "shm" : mode_ == Mode::blocking ? "shm-blocking" : "shm-loan";
  }
  [[nodiscard]] Capabilities capabilities() const override { return {.spins = mode_ != Mode::blocking}; }

  void setup(const RowContext& row) override {
    static std::atomic<unsigned> counter{0};
    const std::string base = "ipckit-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    to_child_ = base + "-to-child";
    to_parent_ = base + "-to-parent";
    const std::uint64_t record = row.message_size + 16;
    capacity_ = std::max<std::uint64_t>(std::uint64_t{1} << 20, std::bit_ceil(4 * record));
  }

  [[nodiscard]] Endpoints open(Side side, const RowContext& row) override {
    ChannelOptions options;
    options.max_message = row.message_size;
    options.spin = mode_ == Mode::blocking ? std::chrono::nanoseconds::zero() : std::chrono::nanoseconds::max();
    const std::string& in = side == Side::parent ? to_parent_ : to_child_;
    const std::string& out = side == Side::parent ? to_child_ : to_parent_;
    Channel rx = Channel::listen(url(in), options);
    Channel tx = Channel::connect(url(out), options, Deadline::after(row.stall_timeout));
    Endpoints ends;
    if (mode_ == Mode::loan) {
      ends.receiver = std::make_unique<ShmLoanReceiver>(std::move(rx), row.stall_timeout);
      ends.sender = std::make_unique<ShmLoanSender>(std::move(tx), row.stall_timeout);
    } else {
      ends.receiver = std::make_unique<ShmReceiver>(std::move(rx), row.stall_timeout);
      ends.sender = std::make_unique<ShmSender>(std::move(tx), row.stall_timeout);
    }
    return ends;
  }

  void cleanup() noexcept override {
    // A process killed mid-row leaves its listener's segment: remove both names quietly.
    for (const std::string* name : {&to_child_, &to_parent_}) {
      if (name->empty()) continue;
      try {
        (void)SharedMemory::remove("/ipckit-ch-" + *name);
      } catch (...) {  // NOLINT(bugprone-empty-catch): cleanup never throws
      }
    }
  }

 private:
  [[nodiscard]] std::string url(const std::string& name) const {
    return "shm://" + name + "?capacity=" + std::to_string(capacity_);
  }

  Mode mode_;
  std::string to_child_;
  std::string to_parent_;
  std::uint64_t capacity_ = 0;
};

}  // namespace

std::unique_ptr<Mechanism> make_shm_mechanism() { return std::make_unique<ShmMechanism>(Mode::busy); }
std::unique_ptr<Mechanism> make_shm_blocking_mechanism() { return std::make_unique<ShmMechanism>(Mode::blocking); }
std::unique_ptr<Mechanism> make_shm_loan_mechanism() { return std::make_unique<ShmMechanism>(Mode::loan); }

}  // namespace ipckit::bench
