#pragma once

#include <semaphore.h>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "ipckit/deadline.hpp"

// POSIX semaphores (seed Q2, I3): named ones (sem_open, a file sem.NAME in /dev/shm that any
// process may open by name) and unnamed ones placed in shared memory (sem_init with pshared),
// with post, wait, try-wait and timed wait. A semaphore counts: wait takes one (sleeping while
// the count is 0), post gives one back. Unlike System V sets there is no undo: a process that
// dies after a wait does not give its unit back; use sysv::SemaphoreSet with undo for that.
//
//   auto sem = ipckit::NamedSemaphore::create({.name = "/slots", .initial = 3});
//   if (sem.wait(ipckit::Deadline::after(1s))) { /* use a slot */ sem.post(); }
//   ipckit::NamedSemaphore::remove("/slots");    // sem_unlink; the destructor only closes
//
//   struct Shared { ipckit::ProcessSemaphore items; int queue[16]; };
//   ipckit::ProcessSemaphore::init(shared.items, 0);   // once, by the creator

namespace ipckit {

struct SemCreateOptions {
  /// "/name": the rules of shm_open names (a leading slash, no other '/').
  std::string name;
  /// The starting count (at most SEM_VALUE_MAX).
  unsigned initial = 0;
  /// Permission bits. Owner-only by default.
  mode_t mode = 0600;
  /// O_EXCL: fail with EEXIST when the name is taken (default). When false an existing
  /// semaphore is opened and `initial` is ignored.
  bool exclusive = true;
};

/// A named POSIX semaphore. Move-only; the destructor closes it (sem_close) and never
/// removes the name: remove() does.
class NamedSemaphore {
 public:
  /// sem_open(name, O_CREAT | [O_EXCL], mode, initial). Throws Error: a bad name, EEXIST
  /// (says how to remove it), EINVAL (initial above SEM_VALUE_MAX), EACCES.
  [[nodiscard]] static NamedSemaphore create(const SemCreateOptions& options);
  /// sem_open of an existing semaphore. Throws Error: ENOENT, EACCES, a bad name.
  [[nodiscard]] static NamedSemaphore open(std::string_view name);
  /// sem_unlink. Returns false when there was no such semaphore. Throws Error otherwise.
  static bool remove(std::string_view name);

  NamedSemaphore(NamedSemaphore&& other) noexcept;
  NamedSemaphore& operator=(NamedSemaphore&& other) noexcept;
  NamedSemaphore(const NamedSemaphore&) = delete;
  NamedSemaphore& operator=(const NamedSemaphore&) = delete;
  ~NamedSemaphore();

  /// sem_post: adds one. Throws Error: EOVERFLOW at SEM_VALUE_MAX. Async-signal-safe when
  /// it does not throw. post, wait and value on a moved-from NamedSemaphore throw Error
  /// (EINVAL, "holds no semaphore (it was moved from)").
  void post() const;
  /// Takes one, waiting until the deadline (sem_clockwait on CLOCK_MONOTONIC; sem_trywait
  /// for Deadline::now()). Returns false when the deadline passed first. Retries EINTR.
  [[nodiscard]] bool wait(Deadline deadline = Deadline::never()) const;
  /// sem_trywait: takes one only if that does not wait.
  [[nodiscard]] bool try_wait() const { return wait(Deadline::now()); }
  /// sem_getvalue: the count now (0 when some are waiting; Linux never reports waiters).
  [[nodiscard]] int value() const;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  NamedSemaphore(sem_t* sem, std::string name) noexcept : sem_(sem), name_(std::move(name)) {}
  sem_t* sem_ = nullptr;
  std::string name_;
};

/// An unnamed POSIX semaphore that lives in shared memory (sem_init with pshared = 1), for
/// processes that share a Mapping, SharedMemory or System V segment. Initialise it once
/// with init() before any other process uses it; no one destroys it while others may wait.
class ProcessSemaphore {
 public:
  /// sem_init(pshared = 1). Throws Error: EINVAL (initial above SEM_VALUE_MAX).
  static void init(ProcessSemaphore& semaphore, unsigned initial);
  /// sem_destroy, once no process uses it any more.
  static void destroy(ProcessSemaphore& semaphore) noexcept;

  /// As NamedSemaphore. Each checks that init() ran (a magic word) and throws Error if not.
  void post();
  [[nodiscard]] bool wait(Deadline deadline = Deadline::never());
  [[nodiscard]] bool try_wait() { return wait(Deadline::now()); }
  [[nodiscard]] int value();

  [[nodiscard]] sem_t* native() noexcept { return &sem_; }

 private:
  void check_initialised() const;
  static constexpr unsigned kMagic = 0x69707365;  // "ipse"
  unsigned magic_;
  sem_t sem_;
};

}  // namespace ipckit
