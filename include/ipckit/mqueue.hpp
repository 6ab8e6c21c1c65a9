#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"

// POSIX message queues (seed Q1): mq_open, mq_send, mq_receive, mq_timedsend,
// mq_timedreceive, mq_getattr, mq_unlink. A queue holds whole messages, each with a priority;
// a receive takes the oldest message of the highest priority. Queues live in the kernel
// until removed, like files; on Linux an mqd_t is a descriptor, so a queue can wait in
// poll/epoll beside sockets. Limits live in /proc/sys/fs/mqueue (msg_max, msgsize_max,
// queues_max) and in RLIMIT_MSGQUEUE.
//
//   auto q = ipckit::MessageQueue::create({.name = "/orders", .max_messages = 10, .message_size = 256});
//   (void)q.send(std::as_bytes(std::span{"hi", 2}), /*priority=*/5);  // ok: never() waits for room
//   std::array<std::byte, 256> buf;
//   ipckit::MqReceived r = q.receive(buf);          // r.status == ok, r.bytes == 2, r.priority == 5
//   ipckit::MessageQueue::remove("/orders");        // mq_unlink; the destructor only closes

namespace ipckit {

struct MqCreateOptions {
  /// "/name": a leading slash, then 1..NAME_MAX (255) characters, none of them '/'.
  std::string name;
  /// mq_maxmsg: messages the queue holds (1..msg_max without CAP_SYS_RESOURCE).
  long max_messages = 10;
  /// mq_msgsize: largest message in bytes (1..msgsize_max without CAP_SYS_RESOURCE).
  long message_size = 8192;
  /// Permission bits. Owner-only by default.
  mode_t mode = 0600;
  /// O_EXCL: fail with EEXIST when the name is taken (default). When false an existing queue
  /// is opened, and its own attributes apply.
  bool exclusive = true;
  Access access = Access::read_write;
};

/// mq_getattr.
struct MqAttributes {
  long max_messages = 0;      ///< mq_maxmsg
  long message_size = 0;      ///< mq_msgsize
  long current_messages = 0;  ///< mq_curmsgs: messages in the queue now
};

/// What one receive gave.
struct [[nodiscard]] MqReceived {
  IoStatus status = IoStatus::ok;  ///< ok, would_block (Deadline::now()) or timed_out
  std::size_t bytes = 0;           ///< the message's length, when ok
  unsigned priority = 0;
  [[nodiscard]] bool ok() const noexcept { return status == IoStatus::ok; }
};

/// An open POSIX message queue. Move-only; the destructor closes this process's descriptor
/// (mq_close) and never removes the queue: remove() does.
class MessageQueue {
 public:
  /// mq_open(name, O_CREAT | [O_EXCL] | access, mode, attributes). Throws Error: a bad name
  /// (says which rule it breaks), EEXIST (says how to remove it), EINVAL (max_messages or
  /// message_size out of range: names /proc/sys/fs/mqueue/msg_max or msgsize_max and its
  /// value), EMFILE (RLIMIT_MSGQUEUE, this user's bytes in all queues, or RLIMIT_NOFILE:
  /// names which), ENOSPC (/proc/sys/fs/mqueue/queues_max and its value), EACCES.
  [[nodiscard]] static MessageQueue create(const MqCreateOptions& options);
  /// mq_open of an existing queue. Throws Error: ENOENT (no queue with that name), EACCES
  /// (names the owner and mode, read through the mqueue filesystem wherever it is mounted;
  /// says how to mount it when it is not), a bad name.
  [[nodiscard]] static MessageQueue open(std::string_view name, Access access = Access::read_write);
  /// mq_unlink: the name goes now; the queue itself when the last descriptor closes.
  /// Returns false when there was no such queue. Throws Error on anything else (EACCES).
  static bool remove(std::string_view name);

  MessageQueue(MessageQueue&&) noexcept = default;
  MessageQueue& operator=(MessageQueue&&) noexcept = default;
  MessageQueue(const MessageQueue&) = delete;
  MessageQueue& operator=(const MessageQueue&) = delete;
  ~MessageQueue() = default;

  /// Sends one message with a priority (0..MQ_PRIO_MAX-1; higher is received first), waiting
  /// for room until the deadline. Returns ok, would_block (Deadline::now() and the queue is
  /// full) or timed_out. Throws Error: a message longer than message_size (EMSGSIZE, says
  /// both sizes; nothing is sent), a priority out of range, a queue opened read-only.
  [[nodiscard]] IoStatus send(std::span<const std::byte> message, unsigned priority = 0,
                              Deadline deadline = Deadline::never()) const;
  /// Receives the oldest message of the highest priority into `buffer`, waiting until the
  /// deadline. Throws Error when `buffer` is smaller than message_size (EMSGSIZE: the kernel
  /// insists, whatever the message's length; nothing is taken from the queue), or when the
  /// queue was opened write-only.
  MqReceived receive(std::span<std::byte> buffer, Deadline deadline = Deadline::never()) const;

  /// mq_getattr. Throws Error.
  [[nodiscard]] MqAttributes attributes() const;
  /// Waits until a receive would not block (a message is there); false on timeout.
  [[nodiscard]] bool wait_readable(Deadline deadline) const;
  /// Waits until a send would not block (there is room); false on timeout.
  [[nodiscard]] bool wait_writable(Deadline deadline) const;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  /// The mqd_t: a descriptor for poll/epoll (POLLIN: a message is there; POLLOUT: room).
  /// Always close-on-exec.
  [[nodiscard]] const Fd& fd() const noexcept { return fd_; }

 private:
  MessageQueue(Fd fd, std::string name) noexcept : fd_(std::move(fd)), name_(std::move(name)) {}
  Fd fd_;
  std::string name_;
};

/// Where the mqueue filesystem is mounted (found in /proc/self/mountinfo, anywhere;
/// "/dev/mqueue" first when there are several), or "" when it is not: POSIX queues can
/// only be listed through it (mq_open works without it). Throws Error when
/// /proc/self/mountinfo cannot be read.
[[nodiscard]] std::string mqueue_mount_point();

/// What to tell a user when mqueue_mount_point() is "": queues can be listed only through
/// the mqueue filesystem, and the command that mounts it (as root:
/// `mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue`). list_posix_mq's Error
/// carries it as its hint.
[[nodiscard]] std::string mqueue_mount_hint();

}  // namespace ipckit
