// `posix-mq`: two POSIX message queues (ipckit::MessageQueue), one per direction, created in
// the parent before fork as /ipckit-bench-<pid>-<n>-to-child and -to-parent. Both processes
// inherit both descriptors, so neither opens anything after fork; the names are removed as
// soon as both sides run (opened()), and again in cleanup() after any failure.
//
// A queue carries whole messages: one row message is one mq_send and one mq_receive, the
// queue's message_size is the row's size and its depth is msg_max (10 by default), lowered
// when the two queues would not fit in RLIMIT_MSGQUEUE. Sizes above
// /proc/sys/fs/mqueue/msgsize_max (8192 by default) cannot be carried: setup() refuses them,
// so the row shows why instead of numbers.
//
// A queue has no end of stream: a receiver whose peer died would wait for good. So each send
// and receive is bounded by the row's stall timeout, and sleeps in the kernel in one syscall
// (mq_timedsend / mq_timedreceive with an absolute CLOCK_REALTIME time, which is what a
// program blocked on a queue pays), rather than through MessageQueue's deadline form, which
// adds a poll(2) per wait to stay on the monotonic clock. A wall-clock jump during a row can
// only move when a dead peer is noticed.

#include <mqueue.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapter.hpp"
#include "ipckit/error.hpp"
#include "ipckit/mqueue.hpp"

namespace ipckit::bench {
namespace {

constexpr const char* kMsgMaxPath = "/proc/sys/fs/mqueue/msg_max";
constexpr const char* kMsgsizeMaxPath = "/proc/sys/fs/mqueue/msgsize_max";

std::optional<long> read_limit(const char* path) {
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return std::nullopt;
  long value = 0;
  const bool ok = std::fscanf(f, "%ld", &value) == 1 && value > 0;
  std::fclose(f);
  return ok ? std::optional<long>(value) : std::nullopt;
}

// How many messages each queue holds: msg_max, unless two such queues would take more than
// half of this user's RLIMIT_MSGQUEUE (the other half is left to queues that already exist).
long queue_depth(std::size_t message_size) {
  long depth = read_limit(kMsgMaxPath).value_or(10);
  rlimit bytes{};
  if (::getrlimit(RLIMIT_MSGQUEUE, &bytes) == 0 && bytes.rlim_cur != RLIM_INFINITY) {
    const auto per_message =
        static_cast<rlim_t>(message_size) + 128;  // plus the kernel's bookkeeping
    const auto fits = static_cast<long>(bytes.rlim_cur / 4 / per_message);
    depth = std::clamp(fits, 1L, depth);
  }
  return depth;
}

// An absolute CLOCK_REALTIME time `after` from now, for mq_timedsend / mq_timedreceive.
timespec realtime_after(std::chrono::nanoseconds after) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const auto total =
      std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) + after;
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(total);
  return timespec{static_cast<time_t>(secs.count()), static_cast<long>((total - secs).count())};
}

std::string stalled(const std::string& queue, std::chrono::nanoseconds timeout, const char* what) {
  return "no " + std::string(what) + " for " +
         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
         " ms on " + queue +
         ": the other process is gone or stalled (a queue has no end of stream)";
}

class MqSender final : public Sender {
 public:
  MqSender(MessageQueue queue, std::chrono::nanoseconds stall) noexcept
      : queue_(std::move(queue)), stall_(stall) {}

  Transfer send(std::span<const std::byte> message) override {
    const char* data = reinterpret_cast<const char*>(message.data());
    for (;;) {
      const timespec until = realtime_after(stall_);
      if (::mq_timedsend(queue_.fd().get(), data, message.size(), 0, &until) == 0)
        return Transfer::ok;
      const int err = errno;  // before anything below allocates
      if (err == EINTR) continue;
      if (err == ETIMEDOUT)
        throw Error{"mq_timedsend", queue_.name(), ETIMEDOUT,
                    stalled(queue_.name(), stall_, "room")};
      throw Error{"mq_timedsend", queue_.name(), err};
    }
  }

 private:
  MessageQueue queue_;
  std::chrono::nanoseconds stall_;
};

class MqReceiver final : public Receiver {
 public:
  MqReceiver(MessageQueue queue, std::chrono::nanoseconds stall) noexcept
      : queue_(std::move(queue)), stall_(stall) {}

  Transfer receive(std::span<std::byte> message) override {
    char* data = reinterpret_cast<char*>(message.data());
    for (;;) {
      const timespec until = realtime_after(stall_);
      const ssize_t n = ::mq_timedreceive(queue_.fd().get(), data, message.size(), nullptr, &until);
      if (n == static_cast<ssize_t>(message.size())) return Transfer::ok;
      if (n >= 0)
        throw Error{"mq_timedreceive", queue_.name(), 0,
                    "a message of " + std::to_string(n) + " bytes came where " +
                        std::to_string(message.size()) + " were expected"};
      const int err = errno;  // before anything below allocates
      if (err == EINTR) continue;
      if (err == ETIMEDOUT)
        throw Error{"mq_timedreceive", queue_.name(), ETIMEDOUT,
                    stalled(queue_.name(), stall_, "message")};
      throw Error{"mq_timedreceive", queue_.name(), err};
    }
  }

 private:
  MessageQueue queue_;
  std::chrono::nanoseconds stall_;
};

class PosixMqMechanism final : public Mechanism {
 public:
  [[nodiscard]] std::string_view name() const override { return "posix-mq"; }

  void setup(const RowContext& row) override {
    const long size_max = read_limit(kMsgsizeMaxPath).value_or(8192);
    if (row.message_size > static_cast<std::size_t>(size_max))
      throw Error{"posix-mq", std::to_string(row.message_size) + "-byte messages", 0,
                  "unsupported size: a POSIX message queue carries messages of at most " +
                      std::string(kMsgsizeMaxPath) + " = " + std::to_string(size_max) +
                      " bytes (raise it as root to measure larger ones)"};
    const long depth = queue_depth(row.message_size);
    to_child_ = create(row.message_size, depth, "to-child");
    to_parent_ = create(row.message_size, depth, "to-parent");
  }

  [[nodiscard]] Endpoints open(Side side, const RowContext& row) override {
    if (!to_child_ || !to_parent_)
      throw Error{"posix-mq", "open", 0, "setup() did not make both queues"};
    MessageQueue& outgoing = side == Side::parent ? *to_child_ : *to_parent_;
    MessageQueue& incoming = side == Side::parent ? *to_parent_ : *to_child_;
    Endpoints ends;
    ends.sender = std::make_unique<MqSender>(std::move(outgoing), row.stall_timeout);
    ends.receiver = std::make_unique<MqReceiver>(std::move(incoming), row.stall_timeout);
    to_child_.reset();
    to_parent_.reset();
    return ends;
  }

  void opened() override { remove_names(); }

  void cleanup() noexcept override {
    to_child_.reset();
    to_parent_.reset();
    remove_names();
  }

 private:
  // Creates one queue under a fresh name (the next one when a dead process with our pid left
  // its name behind) and records the name for removal before anything else can fail.
  MessageQueue create(std::size_t size, long depth, const char* direction) {
    static std::atomic<unsigned> counter{0};
    for (int attempt = 0;; ++attempt) {
      const std::string name = "/ipckit-bench-" + std::to_string(::getpid()) + "-" +
                               std::to_string(counter++) + "-" + direction;
      try {
        MessageQueue q = MessageQueue::create(
            {.name = name, .max_messages = depth, .message_size = static_cast<long>(size)});
        names_.push_back(name);
        return q;
      } catch (const Error& e) {
        if (e.errnum() != EEXIST || attempt == 100) throw;
      }
    }
  }

  void remove_names() noexcept {
    for (const auto& name : names_) {
      try {
        (void)MessageQueue::remove(name);
      } catch (...) {
      }
    }
    names_.clear();
  }

  std::optional<MessageQueue> to_child_;
  std::optional<MessageQueue> to_parent_;
  std::vector<std::string> names_;
};

}  // namespace

std::unique_ptr<Mechanism> make_posix_mq_mechanism() {
  return std::make_unique<PosixMqMechanism>();
}

}  // namespace ipckit::bench
