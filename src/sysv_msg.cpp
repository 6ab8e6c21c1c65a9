// System V message queues: msgget, msgsnd, msgrcv, msgctl (seed claim Q1). Every failure
// becomes an ipckit::Error that names the key or id ("msqid 3") and says what to do: who owns
// the queue and with what mode, which /proc/sys/kernel limit was reached, how to remove a
// queue whose key is taken, how big a buffer a message needs.
//
// msgsnd and msgrcv take `struct { long mtype; char mtext[]; }`: the message is built in (and
// received into) a per-thread buffer of longs, so the type is aligned and no call allocates
// once the buffer has grown to the largest message this thread has used.

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
#include "sys.hpp"
#include "sysv_common.hpp"

namespace ipckit::sysv {
namespace {

using internal::key_object;
using internal::Kind;
using internal::read_limit;
using internal::this_process_text;

constexpr const char* kMsgmaxPath = "/proc/sys/kernel/msgmax";
constexpr const char* kMsgmniPath = "/proc/sys/kernel/msgmni";
constexpr const char* kMsgmnbPath = "/proc/sys/kernel/msgmnb";

std::string id_object(int id) {
  return "msqid " + std::to_string(id);
}

std::string removal_commands(Key key) {
  return "`ipckit rm -Q " + key.to_string() + "` (or `ipcrm -Q " + key.to_string() + "`)";
}

std::string gone_hint() {
  return "no queue has this id: it never existed, or it was removed (IPC_RMID); `ipcs -q` or "
         "`ipckit ls -q` lists the ids";
}

std::string removed_while_waiting_hint(const char* waiting_for) {
  return std::string("the queue was removed (IPC_RMID) while this process waited ") + waiting_for +
         "; every message it held is gone";
}

std::string msgmax_text() {
  const auto msgmax = read_limit(kMsgmaxPath);
  return std::string(kMsgmaxPath) + (msgmax ? " = " + std::to_string(*msgmax) : std::string{});
}

// The buffer msgsnd and msgrcv read and write: one long (mtype), then the text. Longs, so
// mtype is aligned; per thread, so concurrent senders do not share it.
long* message_buffer(std::size_t text_bytes) {
  thread_local std::vector<long> buffer;
  const std::size_t longs = 1 + (text_bytes + sizeof(long) - 1) / sizeof(long);
  if (buffer.size() < longs) buffer.resize(longs);
  return buffer.data();
}

std::byte* text_of(long* buffer) {
  return reinterpret_cast<std::byte*>(buffer + 1);
}

// The id that answers to `key` now, if any (msgget with no flags checks no permission).
std::optional<int> id_of_key(Key key) {
  if (key.is_private()) return std::nullopt;
  const int id = ::msgget(key.value(), 0);
  if (id == -1) return std::nullopt;
  return id;
}

std::string enospc_hint() {
  const auto msgmni = read_limit(kMsgmniPath);
  const auto rows = internal::read_proc_rows(Kind::msg);
  return "every queue id is taken: " + std::to_string(rows.size()) + " queues exist and " +
         kMsgmniPath + (msgmni ? " is " + std::to_string(*msgmni) : std::string{}) +
         "; remove queues no longer used (`ipcs -q` or `ipckit ls -q` lists them, `ipckit rm -q "
         "ID` "
         "removes one) or raise the limit with `sysctl kernel.msgmni=N` (root)";
}

std::string create_hint(const MsgCreateOptions& o, int err) {
  const std::string key = o.key.to_string();
  switch (err) {
    case EEXIST: {
      auto id = id_of_key(o.key);
      return "a queue with key " + key + " already exists" +
             (id ? " (id " + std::to_string(*id) + ")" : std::string{}) +
             "; open it with MessageQueue::open, create with .exclusive = false to use it, or "
             "remove "
             "it with " +
             removal_commands(o.key);
    }
    case ENOSPC:
      return enospc_hint();
    case ENOMEM:
      return "the kernel could not allocate memory for a new queue";
    case EACCES: {
      auto id = id_of_key(o.key);
      return "a queue with key " + key + " exists" +
             (id ? " (id " + std::to_string(*id) + ")" : std::string{}) +
             " and does not grant this process the access that mode " + internal::octal(o.mode) +
             " asks for: " +
             (id ? internal::describe_owner(Kind::msg, *id)
                 : std::string("its owner and mode cannot be read")) +
             "; " + this_process_text();
    }
    default:
      return {};
  }
}

std::string access_hint(int id, const char* what_needs) {
  return std::string(what_needs) + "; " + internal::describe_owner(Kind::msg, id) + "; " +
         this_process_text();
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
  const auto msgmax = read_limit(kMsgmaxPath);
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
    const auto msgmax = read_limit(kMsgmaxPath);
    if (msgmax && bytes > *msgmax) {
      hint = "the message has " + std::to_string(bytes) + " bytes, more than " + kMsgmaxPath +
             " (" + std::to_string(*msgmax) +
             "), the longest message a System V queue takes; send smaller "
             "messages or raise the limit with `sysctl kernel.msgmax=N` (root)";
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
  if (key.is_private()) {
    sys::fail("msgget", "IPC_PRIVATE", EINVAL,
              "IPC_PRIVATE names no queue: each create with it makes a new one that only its id "
              "finds; use MessageQueue::from_id, or give both sides a key (Key::from_path)");
  }
  const int id = ::msgget(key.value(), 0);
  if (id == -1) {
    const int err = errno;
    std::string hint;
    if (err == ENOENT) {
      hint =
          "no queue with key " + key.to_string() +
          "; create it first (MessageQueue::create) or check the key (`ipcs -q`, `ipckit ls -q`)";
    } else if (err == EACCES) {
      auto row = internal::proc_row_by_key(Kind::msg, key);
      hint = (row ? internal::describe_owner(Kind::msg, row->id)
                  : std::string("its owner and mode cannot be read")) +
             "; " + this_process_text();
    }
    sys::fail("msgget", key_object(key), err, hint);
  }
  return MessageQueue{id};
}

MessageQueue MessageQueue::from_id(int id) {
  if (id < 0) sys::fail("msgctl(IPC_STAT)", id_object(id), EINVAL, "queue ids are never negative");
  struct msqid_ds ds {};
  if (::msgctl(id, IPC_STAT, &ds) == -1) {
    const int err = errno;
    // EACCES: the queue exists, this process just may not read it; the handle still serves
    // what needs no read permission (send with write permission, remove by the owner).
    if (err != EACCES) {
      sys::fail("msgctl(IPC_STAT)", id_object(id), err,
                err == EINVAL || err == EIDRM ? gone_hint() : std::string{});
    }
  }
  return MessageQueue{id};
}

IoStatus MessageQueue::send(long type, std::span<const std::byte> message, Wait wait) const {
  if (type <= 0) {
    sys::fail("msgsnd", id_object(id_), EINVAL,
              "message type " + std::to_string(type) +
                  ": a message's type must be > 0 (a receive "
                  "uses 0 for \"any type\" and a negative type for \"the lowest type up to\")");
  }
  long* buffer = message_buffer(message.size());
  buffer[0] = type;
  if (!message.empty()) std::memcpy(text_of(buffer), message.data(), message.size());
  // First without waiting, so that a message that can never fit is found before sleeping.
  if (::msgsnd(id_, buffer, message.size(), IPC_NOWAIT) == 0) return IoStatus::ok;
  if (const int err = errno; err != EAGAIN) send_failed(id_, message.size(), err);
  check_fits_at_all(id_, message.size());
  if (wait == Wait::no_wait) return IoStatus::would_block;
  // msgsnd is never restarted after a signal handler (signal(7)), whatever SA_RESTART says.
  if (sys::retry_eintr([&] { return ::msgsnd(id_, buffer, message.size(), 0); }) == -1) {
    send_failed(id_, message.size(), errno);
  }
  return IoStatus::ok;
}

MsgReceived MessageQueue::receive(std::span<std::byte> buffer, long type, Wait wait) const {
  long* received = message_buffer(buffer.size());
  const int flags = wait == Wait::no_wait ? IPC_NOWAIT : 0;
  const ssize_t n =
      sys::retry_eintr([&] { return ::msgrcv(id_, received, buffer.size(), type, flags); });
  if (n == -1) {
    const int err = errno;
    if (err == ENOMSG) return {.status = IoStatus::would_block};
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
  const auto bytes = static_cast<std::size_t>(n);
  if (bytes > 0) std::memcpy(buffer.data(), text_of(received), bytes);
  return {.status = IoStatus::ok, .type = received[0], .bytes = bytes};
}

MsgStat MessageQueue::stat() const {
  struct msqid_ds ds {};
  if (::msgctl(id_, IPC_STAT, &ds) == -1) {
    const int err = errno;
    std::string hint;
    if (err == EINVAL || err == EIDRM) {
      hint = gone_hint();
    } else if (err == EACCES) {
      hint = "IPC_STAT needs read permission; " +
             internal::describe_owner_from_proc(Kind::msg, id_) + "; " + this_process_text();
    }
    sys::fail("msgctl(IPC_STAT)", id_object(id_), err, hint);
  }
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
  if (::msgctl(id_, IPC_RMID, nullptr) == 0) return;
  const int err = errno;
  if (err == EINVAL || err == EIDRM) return;  // already gone: what was asked is done
  std::string hint;
  if (err == EPERM) {
    hint = "only the owner, the creator or a process with CAP_SYS_ADMIN may remove a queue; " +
           internal::describe_owner(Kind::msg, id_) + "; " + this_process_text();
  }
  sys::fail("msgctl(IPC_RMID)", id_object(id_), err, hint);
}

}  // namespace ipckit::sysv
