// POSIX message queues (seed Q1): mq_open, mq_send, mq_receive, mq_timedsend, mq_timedreceive,
// mq_getattr, mq_unlink. Every failure names the queue and says what to do; a limit that was
// hit names its /proc/sys/fs/mqueue file (or rlimit) and the value it holds.
//
// Waiting: descriptors are opened blocking. Deadline::never() sleeps in mq_send/mq_receive
// (one syscall, as a plain blocking queue). Any other deadline waits in poll(2) on the
// descriptor, whose timeout counts on the monotonic clock, and then tries the call with an
// absolute CLOCK_REALTIME timeout long past (the epoch), which the kernel treats as "do not
// sleep". So a deadline never depends on the wall clock, and a message taken by another
// process between poll and the call only sends us back to poll.

#include "ipckit/mqueue.hpp"

#include <fcntl.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <filesystem>
#include <fstream>
#include <string>

#include "ipckit/posix_name.hpp"
#include "mqueue_mount.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

constexpr const char* kMsgMaxPath = "/proc/sys/fs/mqueue/msg_max";
constexpr const char* kMsgsizeMaxPath = "/proc/sys/fs/mqueue/msgsize_max";
constexpr const char* kQueuesMaxPath = "/proc/sys/fs/mqueue/queues_max";
// The kernel's own ceilings, which CAP_SYS_RESOURCE does not lift (HARD_MSGMAX,
// HARD_MSGSIZEMAX in include/linux/ipc_namespace.h).
constexpr long kHardMsgMax = 65536;
constexpr long kHardMsgsizeMax = 16L << 20;
constexpr int kCapSysResource = 24;

// An absolute timeout that has passed: mq_timed* then never sleep (ETIMEDOUT at once).
constexpr timespec kAlreadyPassed{0, 0};

std::string limit_text(const char* path) {
  auto value = sys::try_read_ull_file(path);
  return std::string(path) + " (" + (value ? std::to_string(*value) : std::string("unreadable")) +
         ")";
}

// Whether this process may go past msg_max, msgsize_max and queues_max.
bool has_sys_resource_capability() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    try {
      return ((std::stoull(line.substr(7), nullptr, 16) >> kCapSysResource) & 1U) != 0;
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

// "the queue belongs to root (uid 0) and has mode 0600", read from the queue's file in the
// mqueue filesystem wherever it is mounted (the same lookup `ipckit ls` makes).
std::string owner_and_mode(std::string_view name) {
  const auto mount = detail::try_mqueue_mount_point();
  if (!mount) return "its owner and mode cannot be read (/proc/self/mountinfo is unreadable)";
  if (mount->empty())
    return "its owner and mode can be read only through the mqueue filesystem, which is not "
           "mounted (as root: `" +
           std::string(detail::kMqueueMountCommand) + "`)";
  return sys::owner_and_mode(*mount + std::string(name), "the queue");
}

int open_flags(Access access) {
  return access == Access::read_only ? O_RDONLY : O_RDWR;
}

std::string too_large_hint(const char* what, long asked, const char* path, long hard,
                           bool capable) {
  if (capable)
    return std::string(what) + " " + std::to_string(asked) + " is above the kernel's hard limit " +
           std::to_string(hard) + ", which CAP_SYS_RESOURCE does not lift";
  auto limit = sys::try_read_ull_file(path);
  return std::string(what) + " " + std::to_string(asked) + " is above " + path + " (" +
         (limit ? std::to_string(*limit) : std::string("unreadable")) +
         "); ask for at most that, or raise it as root (sysctl fs.mqueue." +
         std::filesystem::path(path).filename().string() + "=" + std::to_string(asked) + ")";
}

// Why the kernel refused the attributes (EINVAL after the name was found valid).
std::string attributes_hint(const MqCreateOptions& o) {
  const bool capable = has_sys_resource_capability();
  std::string hint;
  auto add = [&](const std::string& part) { hint += (hint.empty() ? "" : "; ") + part; };
  auto msg_max = sys::try_read_ull_file(kMsgMaxPath);
  auto msgsize_max = sys::try_read_ull_file(kMsgsizeMaxPath);
  const bool too_many = capable
                            ? o.max_messages > kHardMsgMax
                            : msg_max && static_cast<unsigned long long>(o.max_messages) > *msg_max;
  const bool too_long =
      capable ? o.message_size > kHardMsgsizeMax
              : msgsize_max && static_cast<unsigned long long>(o.message_size) > *msgsize_max;
  if (too_many)
    add(too_large_hint("max_messages", o.max_messages, kMsgMaxPath, kHardMsgMax, capable));
  if (too_long)
    add(too_large_hint("message_size", o.message_size, kMsgsizeMaxPath, kHardMsgsizeMax, capable));
  if (hint.empty())
    hint = "max_messages " + std::to_string(o.max_messages) + " × message_size " +
           std::to_string(o.message_size) +
           " is more than the kernel accepts; limits: " + limit_text(kMsgMaxPath) + ", " +
           limit_text(kMsgsizeMaxPath);
  return hint;
}

// Whether this process may open one more descriptor: a probe, since counting the entries of
// /proc/self/fd needs a descriptor too and fails just when they are used up.
bool out_of_descriptors() {
  const Fd probe{::open("/", O_PATH | O_CLOEXEC)};
  return !probe && errno == EMFILE;
}

// EMFILE on create: out of descriptors (RLIMIT_NOFILE), or out of this user's queue bytes
// (RLIMIT_MSGQUEUE, which the kernel also reports as EMFILE).
std::string emfile_hint(const MqCreateOptions& o) {
  if (out_of_descriptors()) return sys::descriptor_limit_hint(EMFILE);
  rlimit queue_bytes{};
  std::string limit = ::getrlimit(RLIMIT_MSGQUEUE, &queue_bytes) == 0
                          ? (queue_bytes.rlim_cur == RLIM_INFINITY
                                 ? std::string("unlimited")
                                 : std::to_string(queue_bytes.rlim_cur) + " bytes")
                          : std::string("unreadable");
  const unsigned long long wanted = static_cast<unsigned long long>(o.max_messages) *
                                    static_cast<unsigned long long>(o.message_size);
  return "most likely RLIMIT_MSGQUEUE: all queues of this user together may hold " + limit +
         " (soft limit, `ulimit -q`) and this one needs max_messages × message_size = " +
         std::to_string(wanted) +
         " bytes plus the kernel's bookkeeping; remove unused queues (`ipckit ls --posix`), make "
         "this one "
         "smaller, or raise the limit (setrlimit; msgqueue in /etc/security/limits.conf)";
}

[[noreturn]] void fail_open(std::string_view name, int err, const MqCreateOptions* create) {
  std::string hint;
  const std::string n(name);
  switch (err) {
    case EEXIST:
      hint = "the name is taken; open it instead, or remove it with `ipckit rm --mq " + n + "`";
      break;
    case ENOENT:
      hint =
          "no such queue; create it first (`ipckit ls --posix -q` lists the queues when the "
          "mqueue filesystem is mounted)";
      break;
    case EACCES:
      hint = owner_and_mode(name);
      break;
    case EINVAL:
      if (create != nullptr) hint = attributes_hint(*create);
      break;
    case EMFILE:
      if (create != nullptr) {
        hint = emfile_hint(*create);
      } else {
        hint = sys::descriptor_limit_hint(err);
      }
      break;
    case ENFILE:
      hint = sys::descriptor_limit_hint(err);
      break;
    case ENOSPC:
      hint = "most likely the number of queues reached " + limit_text(kQueuesMaxPath) +
             "; remove unused queues (`ipckit ls --posix`) or raise it as root (sysctl "
             "fs.mqueue.queues_max=N)";
      break;
    case ENOMEM:
      if (create != nullptr)
        hint = "the kernel could not allocate max_messages × message_size = " +
               std::to_string(static_cast<unsigned long long>(create->max_messages) *
                              static_cast<unsigned long long>(create->message_size)) +
               " bytes; make the queue smaller";
      break;
    case ENAMETOOLONG:
      hint = "the name is longer than NAME_MAX (" + std::to_string(NAME_MAX) + ") after '/'";
      break;
    default:
      break;
  }
  sys::fail("mq_open", name, err, hint);
}

IoStatus expired_status(Deadline deadline) noexcept {
  return deadline.is_now() ? IoStatus::would_block : IoStatus::timed_out;
}

// How the descriptor was opened, for EBADF hints.
std::string access_hint(const Fd& fd, const char* needed) {
  if (!fd.valid()) return "this MessageQueue holds no queue (it was moved from)";
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags == -1) return "the descriptor is not open";
  const int mode = flags & O_ACCMODE;
  if (mode == O_RDONLY)
    return std::string("the queue was opened read-only; open it with Access::read_write to ") +
           needed;
  if (mode == O_WRONLY)
    return std::string("the queue was opened write-only; open it with Access::read_write to ") +
           needed;
  return {};
}

}  // namespace

MessageQueue MessageQueue::create(const MqCreateOptions& o) {
  validate_posix_name(o.name, "mq_open");
  if (o.max_messages <= 0)
    sys::fail("mq_open", o.name, EINVAL,
              "max_messages is " + std::to_string(o.max_messages) +
                  "; a queue holds at least 1 message (at most " + limit_text(kMsgMaxPath) + ")");
  if (o.message_size <= 0)
    sys::fail("mq_open", o.name, EINVAL,
              "message_size is " + std::to_string(o.message_size) +
                  "; messages may have at least 1 byte (at most " + limit_text(kMsgsizeMaxPath) +
                  ")");
  mq_attr attr{};
  attr.mq_maxmsg = o.max_messages;
  attr.mq_msgsize = o.message_size;
  const int flags = O_CREAT | (o.exclusive ? O_EXCL : 0) | open_flags(o.access);
  // The kernel makes every mqd_t close-on-exec.
  mqd_t q = ::mq_open(o.name.c_str(), flags, o.mode & 0777, &attr);
  if (q == static_cast<mqd_t>(-1)) fail_open(o.name, errno, &o);
  return MessageQueue{Fd{q}, o.name};
}

MessageQueue MessageQueue::open(std::string_view name, Access access) {
  validate_posix_name(name, "mq_open");
  const std::string n(name);
  mqd_t q = ::mq_open(n.c_str(), open_flags(access));
  if (q == static_cast<mqd_t>(-1)) fail_open(name, errno, nullptr);
  return MessageQueue{Fd{q}, n};
}

bool MessageQueue::remove(std::string_view name) {
  validate_posix_name(name, "mq_unlink");
  const std::string n(name);
  if (::mq_unlink(n.c_str()) == 0) return true;
  const int err = errno;
  if (err == ENOENT) return false;
  sys::fail("mq_unlink", name, err, err == EACCES ? owner_and_mode(name) : std::string{});
}

IoStatus MessageQueue::send(std::span<const std::byte> message, unsigned priority,
                            Deadline deadline) const {
  if (priority >= static_cast<unsigned>(MQ_PRIO_MAX))
    sys::fail("mq_send", name_, EINVAL,
              "priority " + std::to_string(priority) + " is out of range; use 0.." +
                  std::to_string(MQ_PRIO_MAX - 1));
  // An empty message is a message; mq_send's pointer must still not be null.
  const char* data = message.empty() ? "" : reinterpret_cast<const char*>(message.data());
  for (;;) {
    const int rc = deadline.is_never()
                       ? ::mq_send(fd_.get(), data, message.size(), priority)
                       : ::mq_timedsend(fd_.get(), data, message.size(), priority, &kAlreadyPassed);
    if (rc == 0) return IoStatus::ok;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == ETIMEDOUT || err == EAGAIN) {
      if (deadline.expired() || !fd_.wait_writable(deadline)) return expired_status(deadline);
      continue;
    }
    std::string hint;
    if (err == EMSGSIZE) {
      mq_attr attr{};
      hint = "the message has " + std::to_string(message.size()) +
             " bytes and the queue's message_size is " +
             (::mq_getattr(fd_.get(), &attr) == 0 ? std::to_string(attr.mq_msgsize)
                                                  : std::string("unreadable")) +
             " bytes; nothing was sent (split the message, or create the queue with a larger "
             "message_size)";
    } else if (err == EBADF) {
      hint = access_hint(fd_, "send");
    }
    sys::fail("mq_send", name_, err, hint);
  }
}

MqReceived MessageQueue::receive(std::span<std::byte> buffer, Deadline deadline) const {
  char none = 0;  // an empty buffer still needs a pointer (the kernel then says EMSGSIZE)
  char* data = buffer.empty() ? &none : reinterpret_cast<char*>(buffer.data());
  for (;;) {
    unsigned priority = 0;
    const ssize_t n = deadline.is_never() ? ::mq_receive(fd_.get(), data, buffer.size(), &priority)
                                          : ::mq_timedreceive(fd_.get(), data, buffer.size(),
                                                              &priority, &kAlreadyPassed);
    if (n >= 0) return {IoStatus::ok, static_cast<std::size_t>(n), priority};
    const int err = errno;
    if (err == EINTR) continue;
    if (err == ETIMEDOUT || err == EAGAIN) {
      if (deadline.expired() || !fd_.wait_readable(deadline))
        return {expired_status(deadline), 0, 0};
      continue;
    }
    std::string hint;
    if (err == EMSGSIZE) {
      // The kernel refuses before it looks at the queue: nothing was taken.
      mq_attr attr{};
      hint = "the buffer has " + std::to_string(buffer.size()) +
             " bytes and the queue's message_size is " +
             (::mq_getattr(fd_.get(), &attr) == 0 ? std::to_string(attr.mq_msgsize)
                                                  : std::string("unreadable")) +
             " bytes; a receive needs room for the largest message the queue allows, whatever the "
             "next "
             "one's length (nothing was taken from the queue)";
    } else if (err == EBADF) {
      hint = access_hint(fd_, "receive");
    }
    sys::fail("mq_receive", name_, err, hint);
  }
}

MqAttributes MessageQueue::attributes() const {
  mq_attr attr{};
  sys::check(::mq_getattr(fd_.get(), &attr), "mq_getattr", name_,
             fd_.valid() ? std::string{} : "this MessageQueue holds no queue (it was moved from)");
  return {attr.mq_maxmsg, attr.mq_msgsize, attr.mq_curmsgs};
}

bool MessageQueue::wait_readable(Deadline deadline) const {
  return fd_.wait_readable(deadline);
}

bool MessageQueue::wait_writable(Deadline deadline) const {
  return fd_.wait_writable(deadline);
}

}  // namespace ipckit
