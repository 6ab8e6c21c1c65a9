// System V semaphore sets: semget, semop, semtimedop, semctl (seed claims Q2 and I3). Every
// failure becomes an ipckit::Error that names the key or id ("semid 5") and says what to do:
// who owns the set and with what mode, which field of /proc/sys/kernel/sem was reached, which
// index is outside the set and how big the set is, which value would pass 32767.
//
// Initialisation. semget makes a set whose values Linux sets to 0; create() then sets them to
// `initial` (SETALL) and applies one operation that changes nothing, so that the set's
// sem_otime is no longer 0: "initialised". Between the semget and the SETALL another process
// could already operate on the set, and the SETALL would undo what it did. The known way to
// close that race (Stevens, UNIX Network Programming vol. 2): a process that finds the set
// already there (create with .exclusive = false) waits until sem_otime != 0 before it returns.
// It waits a bounded time (kInitialisedWait): a set made by a program that never operated on it
// (`ipcmk -S`) stays at otime 0 for ever. open() does not wait: it is for sets known to exist.

#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
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
using internal::kSemLimitsPath;
using internal::read_sem_limits;
using internal::SemctlArg;

// SEMVMX: the largest value a semaphore holds (and the largest undo adjustment, SEMAEM).
constexpr int kSemvmx = 32767;
// How long create(.exclusive = false) waits for another process's create to finish
// initialising a set it found (see the top of this file).
constexpr std::chrono::milliseconds kInitialisedWait{250};

std::string id_object(int id) {
  return internal::id_object(Kind::sem, id);
}

std::string gone_hint() {
  return internal::gone_hint(Kind::sem);
}

std::string removed_while_waiting_hint() {
  return "the set was removed (IPC_RMID) while this process waited in semop; every process "
         "waiting on it is woken with this error";
}

// "semopm (a field of /proc/sys/kernel/sem) = 500"; without the value when it is not known.
std::string limit_text(const char* field, unsigned long long value, bool known) {
  return std::string(field) + " (a field of " + kSemLimitsPath + ")" +
         (known ? " = " + std::to_string(value) : std::string{});
}

std::optional<struct semid_ds> try_stat(int id) {
  struct semid_ds ds {};
  SemctlArg arg{};
  arg.buf = &ds;
  if (::semctl(id, 0, IPC_STAT, arg) == -1) return std::nullopt;
  return ds;
}

// The number of semaphores in set `id`, when IPC_STAT answers (else errno says why).
std::optional<std::size_t> count_of(int id) {
  auto ds = try_stat(id);
  if (!ds) return std::nullopt;
  return static_cast<std::size_t>(ds->sem_nsems);
}

std::string outside_hint(int id, unsigned index) {
  auto count = count_of(id);
  if (!count) return gone_hint();
  return "index " + std::to_string(index) + " is outside the set: it has " +
         std::to_string(*count) + " semaphore" + (*count == 1 ? "" : "s") + " (indexes 0 to " +
         std::to_string(*count - 1) + ")";
}

std::string access_hint(int id, std::string_view what_needs) {
  return internal::access_hint(Kind::sem, id, what_needs);
}

// A semctl that failed: the hint for the usual errors of one semaphore's command.
[[noreturn]] void ctl_failed(int id, const char* step, int err, std::optional<unsigned> index,
                             const char* needs) {
  std::string hint;
  if (err == EINVAL || err == EIDRM) {
    auto count = count_of(id);
    hint = count && index && *index >= *count ? outside_hint(id, *index) : gone_hint();
  } else if (err == EACCES) {
    hint = access_hint(id, needs);
  } else if (err == EPERM) {
    hint =
        access_hint(id, "only the owner, the creator or a process with CAP_SYS_ADMIN may do this");
  }
  sys::fail(step, id_object(id), err, hint);
}

std::string value_range_hint(long value) {
  return "value " + std::to_string(value) + " is outside 0 to " + std::to_string(kSemvmx) +
         " (SEMVMX), the values a System V semaphore holds";
}

std::string enospc_hint(int count) {
  const auto limits = read_sem_limits();
  const auto rows = internal::read_proc_rows(Kind::sem);
  unsigned long long in_use = 0;
  for (const auto& row : rows) in_use += row.size;
  const std::string fix = "; " + internal::remove_unused_text(Kind::sem) +
                          " or raise the limit with `sysctl kernel.sem=\"SEMMSL SEMMNS SEMOPM "
                          "SEMMNI\"` (root)";
  if (limits && rows.size() >= limits->semmni) {
    return "every set id is taken: " + std::to_string(rows.size()) + " sets exist and " +
           limit_text("semmni", limits->semmni, true) + fix;
  }
  if (limits && in_use + static_cast<unsigned long long>(count) > limits->semmns) {
    return "the sets would hold more semaphores than " +
           limit_text("semmns", limits->semmns, true) + ": " + std::to_string(in_use) +
           " are in use and " + std::to_string(count) + " more were asked" + fix;
  }
  return "the number of sets (" +
         limit_text("semmni", limits ? limits->semmni : 0, limits.has_value()) +
         ") or of semaphores in all sets (" +
         limit_text("semmns", limits ? limits->semmns : 0, limits.has_value()) + ") is reached" +
         fix;
}

std::string create_hint(const SemSetCreateOptions& o, int err) {
  switch (err) {
    case EINVAL: {
      if (auto id = internal::id_of_key(Kind::sem, o.key)) {
        auto count = count_of(*id);
        if (count && *count < static_cast<std::size_t>(o.count)) {
          return "a semaphore set with key " + o.key.to_string() + " already exists (id " +
                 std::to_string(*id) + ") and has only " + std::to_string(*count) +
                 " semaphores, fewer than the " + std::to_string(o.count) + " asked; ask at most " +
                 std::to_string(*count) + ", or remove it with " +
                 internal::removal_commands(Kind::sem, o.key) + " and create it again";
        }
      }
      const auto limits = read_sem_limits();
      return "count " + std::to_string(o.count) + ": a set holds 1 to " +
             limit_text("semmsl", limits ? limits->semmsl : 0, limits.has_value()) + " semaphores";
    }
    case ENOSPC:
      return enospc_hint(o.count);
    case ENOMEM:
      return "the kernel could not allocate memory for a set of " + std::to_string(o.count) +
             " semaphores";
    default:
      return internal::create_conflict_hint(Kind::sem, o.key, o.mode, err);
  }
}

// A new set: every value to `initial`, then an operation that changes nothing but sets
// sem_otime, the sign that the set is initialised. Each with IPC_NOWAIT: should another
// process have operated on the set already (the race at the top of this file), the marking
// operation may find the value changed; then otime is set by that process anyway.
void initialise(int id, int count, unsigned short initial) {
  std::vector<unsigned short> values(static_cast<std::size_t>(count), initial);
  SemctlArg arg{};
  arg.array = values.data();
  if (::semctl(id, 0, SETALL, arg) == -1) {
    const int err = errno;
    ::semctl(id, 0, IPC_RMID);  // a set we cannot initialise is of no use to anyone
    sys::fail("semctl(SETALL)", id_object(id), err,
              "the new set could not be given its initial values");
  }
  // Value 0: wait-for-zero passes at once. Otherwise take one and give it back, in that order
  // (giving first could pass 32767).
  std::array<struct sembuf, 2> mark{};
  std::size_t n = 1;
  mark[0] = {0, 0, IPC_NOWAIT};
  if (initial != 0) {
    mark[0] = {0, -1, IPC_NOWAIT};
    mark[1] = {0, +1, IPC_NOWAIT};
    n = 2;
  }
  (void)::semop(id, mark.data(), n);
}

// Another process's create may be between its semget and its SETALL: wait (bounded) until the
// set has seen an operation.
void wait_until_initialised(int id) {
  const Deadline deadline = Deadline::after(kInitialisedWait);
  long pause_ns = 50'000;
  for (;;) {
    auto ds = try_stat(id);
    if (!ds || ds->sem_otime != 0 || deadline.expired()) return;
    struct timespec pause {
      0, pause_ns
    };
    ::nanosleep(&pause, nullptr);
    pause_ns = std::min(pause_ns * 2, 10'000'000L);
  }
}

// Which of `ops` would push a value past SEMVMX, applied in order to the set's values now.
std::optional<std::size_t> op_over_semvmx(int id, std::span<const SemOp> ops) {
  auto count = count_of(id);
  if (!count) return std::nullopt;
  std::vector<unsigned short> values(*count);
  SemctlArg arg{};
  arg.array = values.data();
  if (::semctl(id, 0, GETALL, arg) == -1) return std::nullopt;
  std::vector<long> now(values.begin(), values.end());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].index >= now.size()) return std::nullopt;
    now[ops[i].index] += ops[i].delta;
    if (now[ops[i].index] > kSemvmx) return i;
  }
  return std::nullopt;
}

std::string erange_hint(int id, std::span<const SemOp> ops) {
  if (auto i = op_over_semvmx(id, ops)) {
    const SemOp& op = ops[*i];
    return "operation " + std::to_string(*i) + " (+" + std::to_string(op.delta) + " on index " +
           std::to_string(op.index) + ") would push the value above " + std::to_string(kSemvmx) +
           " (SEMVMX), the largest a System V semaphore holds; nothing was applied";
  }
  return "a value would pass " + std::to_string(kSemvmx) +
         " (SEMVMX), or with SEM_UNDO this process's undo adjustment for a semaphore would pass "
         "+-" +
         std::to_string(kSemvmx) +
         " (SEMAEM: the sum of its undo operations on it); nothing was applied";
}

[[noreturn]] void apply_failed(int id, const char* step, int err, std::span<const SemOp> ops) {
  std::string hint;
  switch (err) {
    case E2BIG: {
      const auto limits = read_sem_limits();
      hint = std::to_string(ops.size()) + " operations, more than " +
             limit_text("semopm", limits ? limits->semopm : 0, limits.has_value()) +
             ", the most one semop call takes; apply fewer at once (then they are no longer atomic "
             "together) or raise it with `sysctl kernel.sem` (root)";
      break;
    }
    case EFBIG: {
      unsigned highest = 0;
      for (const SemOp& op : ops) highest = std::max<unsigned>(highest, op.index);
      hint = outside_hint(id, highest) + "; nothing was applied";
      break;
    }
    case ERANGE:
      hint = erange_hint(id, ops);
      break;
    case EIDRM:
      hint = removed_while_waiting_hint();
      break;
    case EINVAL:
      hint = gone_hint();
      break;
    case EACCES: {
      bool alters = false;
      for (const SemOp& op : ops) alters = alters || op.delta != 0;
      hint =
          access_hint(id, alters ? "taking or giving (a delta other than 0) needs write permission"
                                 : "waiting for zero needs read permission");
      break;
    }
    case ENOMEM:
      hint = "the kernel could not allocate memory for this process's SEM_UNDO record";
      break;
    default:
      break;
  }
  sys::fail(step, id_object(id), err, hint);
}

}  // namespace

// --- SemaphoreSet -----------------------------------------------------------------------

SemaphoreSet SemaphoreSet::create(const SemSetCreateOptions& o) {
  const std::string object = key_object(o.key);
  if (o.count < 1) {
    const auto limits = read_sem_limits();
    sys::fail("semget", object, EINVAL,
              "count " + std::to_string(o.count) + ": a set holds 1 to " +
                  limit_text("semmsl", limits ? limits->semmsl : 0, limits.has_value()) +
                  " semaphores");
  }
  if (o.initial > kSemvmx)
    sys::fail("semget", object, ERANGE, "initial " + value_range_hint(o.initial));
  internal::check_mode(Kind::sem, "semget", object, o.mode);
  const int mode = static_cast<int>(o.mode);
  // Always IPC_EXCL first, so that this process knows whether it made the set and must
  // initialise it. Not exclusive: on EEXIST, open the set with the same permission check;
  // should it be removed in between, try again.
  for (int attempt = 0;; ++attempt) {
    const int id = ::semget(o.key.value(), o.count, IPC_CREAT | IPC_EXCL | mode);
    if (id != -1) {
      initialise(id, o.count, o.initial);
      return SemaphoreSet{id};
    }
    const int err = errno;
    if (err != EEXIST || o.exclusive) sys::fail("semget", object, err, create_hint(o, err));
    const int existing = ::semget(o.key.value(), o.count, mode);
    if (existing != -1) {
      wait_until_initialised(existing);
      return SemaphoreSet{existing};
    }
    const int open_err = errno;
    if (open_err != ENOENT || attempt == 10)
      sys::fail("semget", object, open_err, create_hint(o, open_err));
  }
}

SemaphoreSet SemaphoreSet::open(Key key) {
  return SemaphoreSet{internal::open_id(Kind::sem, key)};
}

SemaphoreSet SemaphoreSet::from_id(int id) {
  internal::check_id(Kind::sem, id);
  return SemaphoreSet{id};
}

IoStatus SemaphoreSet::apply(std::span<const SemOp> operations, Deadline deadline) const {
  const bool just_try = deadline.is_now();
  // A deadline already past needs no timeout: semop with IPC_NOWAIT, as for Deadline::now().
  const bool no_wait = just_try || (!deadline.is_never() && deadline.expired());
  const char* step = no_wait || deadline.is_never() ? "semop" : "semtimedop";
  if (operations.empty()) {
    sys::fail(step, id_object(id_), EINVAL,
              "no operations given; apply takes at least one (and at most semopm)");
  }
  // The kernel checks the count (semopm) itself; room on the stack for the usual few.
  constexpr std::size_t kOnStack = 16;
  std::array<struct sembuf, kOnStack> on_stack{};
  std::vector<struct sembuf> on_heap;
  struct sembuf* ops = on_stack.data();
  if (operations.size() > kOnStack) {
    on_heap.resize(operations.size());
    ops = on_heap.data();
  }
  for (std::size_t i = 0; i < operations.size(); ++i) {
    const SemOp& op = operations[i];
    // IPC_NOWAIT on every operation: the kernel looks at the flag of the one that would wait.
    const int flags = (op.undo ? SEM_UNDO : 0) | (no_wait ? IPC_NOWAIT : 0);
    ops[i] = {op.index, op.delta, static_cast<short>(flags)};
  }
  for (;;) {
    int rc = 0;
    if (no_wait || deadline.is_never()) {
      rc = ::semop(id_, ops, operations.size());
    } else {
      // A relative timeout, computed again after each EINTR from the time left.
      struct timespec left = to_timespec(deadline.remaining());
      rc = ::semtimedop(id_, ops, operations.size(), &left);
    }
    if (rc == 0) return IoStatus::ok;
    const int err = errno;
    if (err == EINTR) continue;  // semop is never restarted after a handler (signal(7))
    if (err == EAGAIN) return just_try ? IoStatus::would_block : IoStatus::timed_out;
    apply_failed(id_, step, err, operations);
  }
}

int SemaphoreSet::value(unsigned short index) const {
  const int v = ::semctl(id_, index, GETVAL);
  if (v == -1)
    ctl_failed(id_, "semctl(GETVAL)", errno, index, "reading a value needs read permission");
  return v;
}

void SemaphoreSet::set_value(unsigned short index, int value) const {
  if (value < 0 || value > kSemvmx)
    sys::fail("semctl(SETVAL)", id_object(id_), ERANGE, value_range_hint(value));
  SemctlArg arg{};
  arg.val = value;
  if (::semctl(id_, index, SETVAL, arg) == -1) {
    ctl_failed(id_, "semctl(SETVAL)", errno, index, "setting a value needs write permission");
  }
}

std::vector<unsigned short> SemaphoreSet::values() const {
  auto count = count_of(id_);
  if (!count)
    ctl_failed(id_, "semctl(IPC_STAT)", errno, std::nullopt,
               "reading the values needs read permission");
  std::vector<unsigned short> values(*count);
  SemctlArg arg{};
  arg.array = values.data();
  if (::semctl(id_, 0, GETALL, arg) == -1) {
    ctl_failed(id_, "semctl(GETALL)", errno, std::nullopt,
               "reading the values needs read permission");
  }
  return values;
}

void SemaphoreSet::set_values(std::span<const unsigned short> values) const {
  auto count = count_of(id_);
  if (!count)
    ctl_failed(id_, "semctl(IPC_STAT)", errno, std::nullopt,
               "SETALL first reads the set's size, which needs read permission");
  // SETALL reads as many values as the set has: a shorter span would be read past its end.
  if (values.size() != *count) {
    sys::fail("semctl(SETALL)", id_object(id_), EINVAL,
              std::to_string(values.size()) + " values for a set of " + std::to_string(*count) +
                  " semaphores; give exactly one value per semaphore");
  }
  for (unsigned short v : values)
    if (v > kSemvmx) sys::fail("semctl(SETALL)", id_object(id_), ERANGE, value_range_hint(v));
  std::vector<unsigned short> copy(values.begin(), values.end());  // semctl's array is not const
  SemctlArg arg{};
  arg.array = copy.data();
  if (::semctl(id_, 0, SETALL, arg) == -1) {
    ctl_failed(id_, "semctl(SETALL)", errno, std::nullopt,
               "setting the values needs write permission");
  }
}

pid_t SemaphoreSet::last_pid(unsigned short index) const {
  const int pid = ::semctl(id_, index, GETPID);
  if (pid == -1) ctl_failed(id_, "semctl(GETPID)", errno, index, "GETPID needs read permission");
  return pid;
}

int SemaphoreSet::waiting_to_take(unsigned short index) const {
  const int n = ::semctl(id_, index, GETNCNT);
  if (n == -1) ctl_failed(id_, "semctl(GETNCNT)", errno, index, "GETNCNT needs read permission");
  return n;
}

int SemaphoreSet::waiting_for_zero(unsigned short index) const {
  const int n = ::semctl(id_, index, GETZCNT);
  if (n == -1) ctl_failed(id_, "semctl(GETZCNT)", errno, index, "GETZCNT needs read permission");
  return n;
}

SemStat SemaphoreSet::stat() const {
  auto ds = try_stat(id_);
  if (!ds) internal::stat_failed(Kind::sem, id_, errno);
  SemStat s;
  s.key = Key::from_value(ds->sem_perm.__key);
  s.count = static_cast<std::size_t>(ds->sem_nsems);
  s.otime = ds->sem_otime;
  s.ctime = ds->sem_ctime;
  s.uid = ds->sem_perm.uid;
  s.gid = ds->sem_perm.gid;
  s.cuid = ds->sem_perm.cuid;
  s.cgid = ds->sem_perm.cgid;
  s.mode = static_cast<mode_t>(ds->sem_perm.mode & internal::kPermissionBits);
  return s;
}

void SemaphoreSet::remove() const {
  internal::remove_id(Kind::sem, id_);
}

}  // namespace ipckit::sysv
