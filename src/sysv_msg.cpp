// System V message queues: msgget, msgsnd, msgrcv, msgctl (seed claim Q1). Every failure
// becomes an ipckit::Error that names the key or id ("msqid 3") and says what to do: who owns
// the queue and with what mode, which /proc/sys/kernel limit was reached, how to remove a
// queue whose key is taken, how big a buffer a message needs.
//
// msgsnd and msgrcv take `struct { long mtype; char mtext[]; }`: the message is built in (and
// received into) a per-thread buffer of longs, so the type is aligned and no call allocates
// once the buffer has grown to the largest message this thread has used; messages above 64 KiB
// (msgmax raised above its default) use a buffer of the call's own, so a thread keeps at most
// that much.

#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "ipckit/sysv.hpp"
#include "backoff.hpp"
#include "sys.hpp"
#include "sysv_common.hpp"

namespace ipckit::sysv {
namespace {

using internal::key_object;
using internal::Kind;

constexpr const char* kMsgmaxPath = "/proc/sys/kernel/msgmax";
constexpr const char* kMsgmniPath = "/proc/sys/kernel/msgmni";
constexpr const char* kMsgmnbPath = "/proc/sys/kernel/msgmnb";

// Messages of up to this many bytes are built in (and received into) a buffer each thread
// keeps; longer ones (msgmax raised above the default 8192) in one made for the call alone,
// so that no thread holds on to more than this after a big message.
constexpr std::size_t kKeptTextBytes = 64 * 1024;

std::string id_object(int id) {
  return internal::id_object(Kind::msg, id);
}

std::string gone_hint() {
  return internal::gone_hint(Kind::msg);
}

std::string removed_while_waiting_hint(const char* waiting_for) {
  return std::string("the queue was removed (IPC_RMID) while this process waited ") + waiting_for +
         "; every message it held is gone";
}

std::string msgmax_text() {
  const auto msgmax = sys::try_read_ull_file(kMsgmaxPath);
  return std::string(kMsgmaxPath) + (msgmax ? " = " + std::to_string(*msgmax) : std::string{});
}

std::string too_long_hint(std::size_t bytes, unsigned long long msgmax) {
  return "the message has " + std::to_string(bytes) + " bytes, more than " + kMsgmaxPath + " (" +
         std::to_string(msgmax) +
         "), the longest message a System V queue takes; send smaller messages or raise the "
         "limit with `sysctl kernel.msgmax=N` (root)";
}

// What msgsnd and msgrcv read and write: one long (mtype), then the text. Longs, so mtype is
// aligned; per thread (or per call, above kKeptTextBytes), so concurrent callers never share it.
class MessageBuffer {
 public:
  explicit MessageBuffer(std::size_t text_bytes) {
    const std::size_t longs = 1 + (text_bytes + sizeof(long) - 1) / sizeof(long);
    if (text_bytes <= kKeptTextBytes) {
      thread_local std::vector<long> kept;
      if (kept.size() < longs) kept.resize(longs);
      data_ = kept.data();
    } else {
      own_.resize(longs);
      data_ = own_.data();
    }
  }
  MessageBuffer(const MessageBuffer&) = delete;
  MessageBuffer& operator=(const MessageBuffer&) = delete;

  [[nodiscard]] void* get() const noexcept { return data_; }
  [[nodiscard]] long& type() const noexcept { return data_[0]; }
  [[nodiscard]] std::byte* text() const noexcept { return reinterpret_cast<std::byte*>(data_ + 1); }

 private:
  std::vector<long> own_;
  long* data_ = nullptr;
};

std::string enospc_hint() {
  const auto msgmni = sys::try_read_ull_file(kMsgmniPath);
  const auto rows = internal::read_proc_rows(Kind::msg);
  return "every queue id is taken: " + std::to_string(rows.size()) + " queues exist and " +
         kMsgmniPath + (msgmni ? " is " + std::to_string(*msgmni) : std::string{}) + "; " +
         internal::remove_unused_text(Kind::msg) +
         " or raise the limit with `sysctl kernel.msgmni=N` (root)";
}

std::string create_hint(const MsgCreateOptions& o, int err) {
  switch (err) {
    case ENOSPC:
      return enospc_hint();
    case ENOMEM:
      return "the kernel could not allocate memory for a new queue";
    default:
      return internal::create_conflict_hint(Kind::msg, o.key, o.mode, err);
  }
}

std::string access_hint(int id, const char* what_needs) {
  return internal::access_hint(Kind::msg, id, what_needs);
}

std::optional<struct msqid_ds> try_stat(int id) {
  struct msqid_ds ds {};
  if (::msgctl(id, IPC_STAT, &ds) == -1) return std::nullopt;
  return ds;
}

// Which message a receive of `type` takes, in words.
std::string selection_text(long type) {
  if (type == 0) return "the first message";
  if (type > 0) return "the first message of type " + std::to_string(type);
  const long limit = type == LONG_MIN ? LONG_MAX : -type;
  return "the first message of the lowest type up to " + std::to_string(limit);
}

// The length of the message msgrcv(type) would take, found without taking it: MSG_COPY (Linux
// 3.8, with CONFIG_CHECKPOINT_RESTORE; ENOSYS without it) copies the message at a position of
// the queue, so the queue is read position by position, as msgrcv would choose. The queue may
// change meanwhile: the answer is what the queue held a moment after the E2BIG. nullopt when
// it cannot be told (no MSG_COPY, msgmax unreadable, the message no longer there).
std::optional<std::size_t> length_of_selected(int id, long type, std::size_t buffer_bytes) {
  const auto msgmax = sys::try_read_ull_file(kMsgmaxPath);
  if (!msgmax) return std::nullopt;
  // MSG_COPY copies at most msgmax bytes whatever the buffer says; a message longer (msgmax
  // was lowered after it was sent) gives E2BIG, and then its type cannot be read either.
  const std::size_t capacity =
      static_cast<std::size_t>(std::min<unsigned long long>(*msgmax, 64ULL << 20));
  std::vector<long> copy(1 + (capacity + sizeof(long) - 1) / sizeof(long));
  const long limit = type == LONG_MIN ? LONG_MAX : (type < 0 ? -type : type);
  std::optional<std::size_t> lowest_length;
  long lowest_type = 0;
  constexpr long kMostPositions = 4096;  // an error path: bounded, whatever the queue holds
  for (long position = 0; position < kMostPositions; ++position) {
    const ssize_t n = sys::retry_eintr(
        [&] { return ::msgrcv(id, copy.data(), capacity, position, MSG_COPY | IPC_NOWAIT); });
    if (n == -1) {
      if (errno == ENOMSG) break;  // past the last message
      return std::nullopt;         // ENOSYS, E2BIG, a removed queue...
    }
    const long mtype = copy[0];
    const auto length = static_cast<std::size_t>(n);
    if (type == 0 || (type > 0 && mtype == type)) {
      lowest_length = length;
      break;
    }
    if (type < 0 && mtype <= limit && (!lowest_length || mtype < lowest_type)) {
      lowest_length = length;
      lowest_type = mtype;
    }
  }
  if (lowest_length && *lowest_length > buffer_bytes) return lowest_length;
  return std::nullopt;
}

std::string e2big_hint(int id, long type, std::size_t buffer_bytes) {
  const std::string which = selection_text(type);
  const std::string stays = "; it stays in the queue";
  if (auto length = length_of_selected(id, type, buffer_bytes)) {
    return which + " has " + std::to_string(*length) + " bytes, more than the buffer's " +
           std::to_string(buffer_bytes) + stays + ": receive it with a buffer of at least " +
           std::to_string(*length) + " bytes";
  }
  return which + " is longer than the buffer's " + std::to_string(buffer_bytes) + " bytes" + stays +
         ": receive it with a bigger buffer; one of msgmax bytes (" + msgmax_text() +
         ") holds any message";
}

[[noreturn]] void send_failed(int id, std::size_t bytes, int err) {
  std::string hint;
  if (err == EINVAL) {
    const auto msgmax = sys::try_read_ull_file(kMsgmaxPath);
    if (msgmax && bytes > *msgmax) {
      hint = too_long_hint(bytes, *msgmax);
    } else {
      hint = gone_hint();
    }
  } else if (err == EIDRM) {
    hint = removed_while_waiting_hint("for room to send");
  } else if (err == EACCES) {
    hint = access_hint(id, "sending needs write permission");
  } else if (err == ENOMEM) {
    hint = "the kernel could not allocate memory for the message";
  }
  sys::fail("msgsnd", id_object(id), err, hint);
}

// A message that can never fit: longer than all the queue may hold (msg_qbytes, lowered with
// IPC_SET, or msgmax raised above msgmnb). msgsnd would wait for room for ever.
void check_fits_at_all(int id, std::size_t bytes) {
  const auto ds = try_stat(id);
  if (!ds || bytes <= ds->msg_qbytes) return;
  sys::fail("msgsnd", id_object(id), 0,
            "the message has " + std::to_string(bytes) + " bytes and the queue may hold only " +
                std::to_string(ds->msg_qbytes) + " (msg_qbytes; " + kMsgmnbPath +
                " for new queues): it would wait for room for ever; send smaller messages");
}

}  // namespace

// --- MessageQueue -----------------------------------------------------------------------

MessageQueue MessageQueue::create(const MsgCreateOptions& o) {
  const std::string object = key_object(o.key);
  internal::check_mode(Kind::msg, "msgget", object, o.mode);
  const int flags = IPC_CREAT | (o.exclusive ? IPC_EXCL : 0) | static_cast<int>(o.mode);
  const int id = ::msgget(o.key.value(), flags);
  if (id == -1) {
    const int err = errno;
    sys::fail("msgget", object, err, create_hint(o, err));
  }
  return MessageQueue{id};
}

MessageQueue MessageQueue::open(Key key) {
  return MessageQueue{internal::open_id(Kind::msg, key)};
}

MessageQueue MessageQueue::from_id(int id) {
  internal::check_id(Kind::msg, id);
  return MessageQueue{id};
}

IoStatus MessageQueue::send(long type, std::span<const std::byte> message, Deadline deadline) const {
  if (type <= 0) {
    sys::fail("msgsnd", id_object(id_), EINVAL,
              "message type " + std::to_string(type) +
                  ": a message's type must be > 0 (a receive "
                  "uses 0 for \"any type\" and a negative type for \"the lowest type up to\")");
  }
  // A message too long for any queue is refused before it is copied (the kernel would refuse
  // it after); only a long one is worth reading msgmax for.
  if (message.size() > kKeptTextBytes) {
    const auto msgmax = sys::try_read_ull_file(kMsgmaxPath);
    if (msgmax && message.size() > *msgmax)
      sys::fail("msgsnd", id_object(id_), EINVAL, too_long_hint(message.size(), *msgmax));
  }
  const MessageBuffer buffer(message.size());
  buffer.type() = type;
  if (!message.empty()) std::memcpy(buffer.text(), message.data(), message.size());
  // First without waiting, so that a message that can never fit is found before sleeping.
  if (::msgsnd(id_, buffer.get(), message.size(), IPC_NOWAIT) == 0) return IoStatus::ok;
  if (const int err = errno; err != EAGAIN) send_failed(id_, message.size(), err);
  check_fits_at_all(id_, message.size());
  if (deadline.is_now()) return IoStatus::would_block;
  if (deadline.is_never()) {
    // msgsnd is never restarted after a signal handler (signal(7)), whatever SA_RESTART says.
    if (sys::retry_eintr([&] { return ::msgsnd(id_, buffer.get(), message.size(), 0); }) == -1) {
      send_failed(id_, message.size(), errno);
    }
    return IoStatus::ok;
  }
  for (detail::Backoff backoff = detail::kPollBackoff; backoff.sleep(deadline);) {
    if (::msgsnd(id_, buffer.get(), message.size(), IPC_NOWAIT) == 0) return IoStatus::ok;
    if (const int err = errno; err != EAGAIN && err != EINTR) send_failed(id_, message.size(), err);
  }
  return IoStatus::timed_out;
}

MsgReceived MessageQueue::receive(std::span<std::byte> buffer, long type, Deadline deadline) const {
  // A finite deadline polls: System V has no timed wait.
  const int flags = deadline.is_never() ? 0 : IPC_NOWAIT;
  int err = 0;
  // One msgrcv of at most `capacity` bytes; nullopt (and err) when it fails.
  auto take = [&](std::size_t capacity) -> std::optional<MsgReceived> {
    const MessageBuffer received(capacity);
    const ssize_t n =
        sys::retry_eintr([&] { return ::msgrcv(id_, received.get(), capacity, type, flags); });
    if (n == -1) {
      err = errno;
      return std::nullopt;
    }
    const auto bytes = static_cast<std::size_t>(n);
    if (bytes > 0) std::memcpy(buffer.data(), received.text(), bytes);
    return MsgReceived{.status = IoStatus::ok, .type = received.type(), .bytes = bytes};
  };
  // A big buffer is not copied through a buffer made for the call unless the message needs it:
  // first at most kKeptTextBytes; on E2BIG (the message stays in the queue) the whole buffer.
  const std::size_t first = std::min(buffer.size(), kKeptTextBytes);
  const auto take_one = [&] {
    auto got = take(first);
    if (!got && err == E2BIG && buffer.size() > first) got = take(buffer.size());
    return got;
  };
  auto r = take_one();
  // A finite deadline polls (IPC_NOWAIT above): System V has no timed wait.
  for (detail::Backoff backoff = detail::kPollBackoff;
       !r && err == ENOMSG && !deadline.is_now() && backoff.sleep(deadline);) {
    r = take_one();
  }
  if (r) return *r;
  if (err == ENOMSG) return {.status = deadline.is_now() ? IoStatus::would_block : IoStatus::timed_out};
  std::string hint;
  if (err == E2BIG) {
    hint = e2big_hint(id_, type, buffer.size());
  } else if (err == EIDRM) {
    hint = removed_while_waiting_hint("for a message");
  } else if (err == EINVAL) {
    hint = gone_hint();
  } else if (err == EACCES) {
    hint = access_hint(id_, "receiving needs read permission");
  }
  sys::fail("msgrcv", id_object(id_), err, hint);
}

MsgStat MessageQueue::stat() const {
  struct msqid_ds ds {};
  if (::msgctl(id_, IPC_STAT, &ds) == -1) internal::stat_failed(Kind::msg, id_, errno);
  MsgStat s;
  s.key = Key::from_value(ds.msg_perm.__key);
  s.messages = static_cast<std::size_t>(ds.msg_qnum);
  s.bytes = static_cast<std::size_t>(ds.__msg_cbytes);
  s.max_bytes = static_cast<std::size_t>(ds.msg_qbytes);
  s.last_send_pid = ds.msg_lspid;
  s.last_receive_pid = ds.msg_lrpid;
  s.stime = ds.msg_stime;
  s.rtime = ds.msg_rtime;
  s.ctime = ds.msg_ctime;
  s.uid = ds.msg_perm.uid;
  s.gid = ds.msg_perm.gid;
  s.cuid = ds.msg_perm.cuid;
  s.cgid = ds.msg_perm.cgid;
  s.mode = static_cast<mode_t>(ds.msg_perm.mode & internal::kPermissionBits);
  return s;
}

void MessageQueue::remove() const {
  internal::remove_id(Kind::msg, id_);
}

}  // namespace ipckit::sysv
