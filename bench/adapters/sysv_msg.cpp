// `sysv-msg`: two System V message queues (ipckit::sysv::MessageQueue), one per direction,
// made IPC_PRIVATE in the parent before fork (the ids are inherited; no key to collide with).
// Each message is one msgsnd of type 1 and one msgrcv of type 1.
//
// Why two queues rather than one with a type per direction: a queue's byte budget (msgmnb,
// 16384 by default) would be shared by both directions, and msgrcv of a positive type walks
// past every message of the other type; two queues keep each direction's budget and make
// each receive take the queue's first message, which is what the bench means to measure.
//
// Sizes above msgmax (/proc/sys/kernel/msgmax, 8192 by default) cannot be sent at all: setup()
// refuses them, so that row shows an error that says so and how to raise the limit.
//
// A System V queue has no "peer closed": a receiver waits for ever on a queue whose sender
// died. So the parent watches the child (a pidfd, in a thread) and removes both queues the
// moment it ends: a send or receive of the parent blocked on them wakes with EIDRM, which is
// reported as Transfer::closed, and the row ends with the child's report instead of hanging.
// The parent learns the child's pid from a "hello" message (type 2) the child sends in
// open(). The other way round needs nothing: the engine's child dies with its parent
// (PR_SET_PDEATHSIG). A parent killed with SIGKILL mid-row leaves its two queues behind, as
// any process does with System V objects it cannot remove: `ipckit ls -q` lists them and
// `ipckit rm -q ID` removes them.

#include <poll.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>

#include "adapter.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "ipckit/sysv.hpp"

namespace ipckit::bench {
namespace {

using sysv::MessageQueue;

constexpr long kDataType = 1;
constexpr long kHelloType = 2;  // child -> parent, once, in open(): the child's pid

struct Queues {
  MessageQueue to_child;
  MessageQueue to_parent;
};

void remove_quietly(const MessageQueue& q) noexcept {
  try {
    q.remove();
  } catch (...) {  // cleanup never throws; a queue that cannot be removed shows in `ipcs -q`
  }
}

// Set (before the queues go) by the thread that saw the other process end, so that the EIDRM
// a blocked call then gets is read as "the peer closed" and not as a failure.
using PeerGone = std::shared_ptr<std::atomic<bool>>;

bool is_removed(const Error& e) {
  return e.errnum() == EIDRM || e.errnum() == EINVAL;
}

class MsgSender final : public Sender {
 public:
  MsgSender(MessageQueue queue, PeerGone gone) noexcept : queue_(queue), gone_(std::move(gone)) {}

  Transfer send(std::span<const std::byte> message) override {
    try {
      (void)queue_.send(kDataType, message);  // Deadline::never(): ok, or an Error
      return Transfer::ok;
    } catch (const Error& e) {
      if (is_removed(e) && gone_->load(std::memory_order_acquire)) return Transfer::closed;
      throw;
    }
  }

 private:
  MessageQueue queue_;
  PeerGone gone_;
};

class MsgReceiver final : public Receiver {
 public:
  MsgReceiver(MessageQueue queue, PeerGone gone) noexcept : queue_(queue), gone_(std::move(gone)) {}

  Transfer receive(std::span<std::byte> message) override {
    sysv::MsgReceived r;
    try {
      r = queue_.receive(message, kDataType);
    } catch (const Error& e) {
      if (is_removed(e) && gone_->load(std::memory_order_acquire)) return Transfer::closed;
      throw;
    }
    if (r.bytes != message.size()) {
      throw Error{"msgrcv", "msqid " + std::to_string(queue_.id()), 0,
                  "got a message of " + std::to_string(r.bytes) + " bytes, expected " +
                      std::to_string(message.size())};
    }
    return Transfer::ok;
  }

 private:
  MessageQueue queue_;
  PeerGone gone_;
};

// The child has ended: say so, then remove the queues (waking whatever waits on them).
void peer_ended(const Queues& queues, const PeerGone& gone) noexcept {
  gone->store(true, std::memory_order_release);
  remove_quietly(queues.to_child);
  remove_quietly(queues.to_parent);
}

// Waits until the process behind `peer` ends (then removes the queues) or `stop` turns
// readable (closed by cleanup()).
void watch(const Fd& peer, const Fd& stop, const Queues& queues, const PeerGone& gone) {
  std::array<pollfd, 2> fds{{{peer.get(), POLLIN, 0}, {stop.get(), POLLIN, 0}}};
  int rc = 0;
  do {
    rc = ::poll(fds.data(), fds.size(), -1);
  } while (rc == -1 && errno == EINTR);
  if (rc > 0 && (fds[0].revents & POLLIN) != 0) peer_ended(queues, gone);
}

std::uint64_t read_proc_number(const char* path) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;  // what open(2) said, read before anything else may change it
    throw Error{"open", path, err, "cannot read the limit"};
  }
  std::uint64_t value = 0;
  if (!(in >> value)) throw Error{"parse", path, 0, "expected one unsigned integer"};
  return value;
}

class SysvMsgMechanism final : public Mechanism {
 public:
  SysvMsgMechanism() = default;
  SysvMsgMechanism(const SysvMsgMechanism&) = delete;
  SysvMsgMechanism& operator=(const SysvMsgMechanism&) = delete;
  ~SysvMsgMechanism() override { cleanup(); }

  [[nodiscard]] std::string_view name() const override { return "sysv-msg"; }

  void setup(const RowContext& row) override {
    const std::size_t size = row.message_size;
    const std::uint64_t msgmax = read_proc_number("/proc/sys/kernel/msgmax");
    if (size > msgmax) {
      throw Error{
          "sysv-msg", std::to_string(size) + "-byte messages", EMSGSIZE,
          "unsupported: a System V message holds at most msgmax = " + std::to_string(msgmax) +
              " bytes (/proc/sys/kernel/msgmax); raise it with `sysctl kernel.msgmax=N` (root) "
              "to run this size"};
    }
    // One at a time into the members cleanup() removes: should the second create fail, the
    // first queue is still removed.
    to_child_ = MessageQueue::create({});
    to_parent_ = MessageQueue::create({});
    const std::size_t room = to_child_->stat().max_bytes;
    if (size > room) {
      throw Error{"sysv-msg", std::to_string(size) + "-byte messages", EMSGSIZE,
                  "unsupported: a queue holds at most msgmnb = " + std::to_string(room) +
                      " bytes (/proc/sys/kernel/msgmnb), less than one message"};
    }
  }

  [[nodiscard]] Endpoints open(Side side, const RowContext& /*row*/) override {
    const Queues queues{*to_child_, *to_parent_};
    auto gone = std::make_shared<std::atomic<bool>>(false);
    if (side == Side::child) {
      const pid_t me = ::getpid();
      (void)queues.to_parent.send(kHelloType, std::as_bytes(std::span{&me, 1}));
    } else {
      Pipe stop = Pipe::create();
      stop_ = std::move(stop.write_end);
      watcher_ = std::thread([stop = std::move(stop.read_end), queues, gone] {
        pid_t child = -1;
        try {
          // Blocks until the child's open() says hello, or cleanup() removes the queue.
          auto r =
              queues.to_parent.receive(std::as_writable_bytes(std::span{&child, 1}), kHelloType);
          if (r.bytes != sizeof child) return;
          watch(open_pidfd(child), stop, queues, gone);
        } catch (const Error& e) {
          if (e.errnum() == ESRCH) peer_ended(queues, gone);  // it ended before we could watch it
        }
      });
    }
    Endpoints ends;
    const MessageQueue outgoing = side == Side::parent ? queues.to_child : queues.to_parent;
    const MessageQueue incoming = side == Side::parent ? queues.to_parent : queues.to_child;
    ends.sender = std::make_unique<MsgSender>(outgoing, gone);
    ends.receiver = std::make_unique<MsgReceiver>(incoming, gone);
    return ends;
  }

  void cleanup() noexcept override {
    stop_.reset();  // wakes a watcher in poll
    // Removing the queues wakes a watcher waiting for the hello.
    for (std::optional<MessageQueue>* queue : {&to_child_, &to_parent_}) {
      if (*queue) remove_quietly(**queue);
      queue->reset();
    }
    if (watcher_.joinable()) watcher_.join();
  }

 private:
  std::optional<MessageQueue> to_child_;
  std::optional<MessageQueue> to_parent_;
  Fd stop_;              // this process's end of the watcher's stop pipe
  std::thread watcher_;  // the parent's, made in open(): after fork, so no child copies it
};

}  // namespace

std::unique_ptr<Mechanism> make_sysv_msg_mechanism() {
  return std::make_unique<SysvMsgMechanism>();
}

}  // namespace ipckit::bench
