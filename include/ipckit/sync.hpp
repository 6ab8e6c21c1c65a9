#pragma once

#include <cstdint>
#include <pthread.h>

#include "ipckit/deadline.hpp"
#include "ipckit/region.hpp"

// Synchronisation inside shared memory (seed M4, I3): a mapping or segment has no locking of
// its own, so ipckit offers a mutex and a condition that live in the shared bytes and work
// across processes (PTHREAD_PROCESS_SHARED). The mutex is robust: when a process dies holding
// it (SIGKILL at any instruction), the next locker is told, may check and repair the data it
// protects, and goes on.
//
//   struct Shared { ipckit::ProcessMutex mutex; ipckit::ProcessCondition changed; int value; };
//   auto m = ipckit::Mapping::anonymous_shared(sizeof(Shared));
//   auto& s = m.as<Shared>();
//   ipckit::ProcessMutex::init(s.mutex);           // once, by the creator, before others use it
//   ipckit::ProcessCondition::init(s.changed);
//   {
//     ipckit::ProcessLock lock(s.mutex);          // lock.previous_owner_died(): repair first
//     s.value += 1;
//     s.changed.notify_all();
//   }
//
// These types are for peers you trust: a process that can write the shared bytes can break
// the lock (as with any shared pthread mutex). The shm:// channel (later) is the form that
// stays safe against a hostile peer.

namespace ipckit {

/// A robust, process-shared mutex that lives in shared memory. Trivially copyable so it can
/// sit in a Region; initialise it once with init() before any process uses it.
class ProcessMutex {
 public:
  /// Initialises the mutex in place (robust, process-shared, error-checking). Only the
  /// creator calls it, once, before the memory is shared. Throws Error.
  static void init(ProcessMutex& mutex);

  /// Locks. Returns true when the previous owner died holding the lock: the caller now holds
  /// it, and the lock is already marked consistent again, but the data it protects may be
  /// half-updated. Throws Error when the mutex was never initialised (bad magic), when it is
  /// no longer recoverable, or on a deadlock (this thread already holds it).
  [[nodiscard]] bool lock();
  /// Locks unless the deadline passes first; nothing then. Otherwise as lock().
  [[nodiscard]] bool try_lock_until(Deadline deadline, bool& previous_owner_died);
  /// Unlocks. Throws Error when this thread does not hold it.
  void unlock();

  [[nodiscard]] pthread_mutex_t* native() noexcept { return &mutex_; }

 private:
  void check_initialised() const;
  static constexpr std::uint32_t kMagic = 0x69706d78;  // "ipmx"
  std::uint32_t magic_;
  pthread_mutex_t mutex_;
};

/// Holds a ProcessMutex for a scope (like std::unique_lock).
class ProcessLock {
 public:
  explicit ProcessLock(ProcessMutex& mutex) : mutex_(&mutex), owner_died_(mutex.lock()) {}
  ProcessLock(const ProcessLock&) = delete;
  ProcessLock& operator=(const ProcessLock&) = delete;
  /// Unlocks (errors cannot be reported from a destructor; the lock is held, so none come).
  ~ProcessLock() { pthread_mutex_unlock(mutex_->native()); }
  /// True when the lock was taken over from a process that died holding it: check and repair
  /// the data before relying on it.
  [[nodiscard]] bool previous_owner_died() const noexcept { return owner_died_; }
  [[nodiscard]] ProcessMutex& mutex() noexcept { return *mutex_; }

 private:
  ProcessMutex* mutex_;  // never null
  bool owner_died_;
};

/// A process-shared condition variable (monotonic clock) that lives in shared memory, used
/// with a ProcessMutex.
class ProcessCondition {
 public:
  /// Initialises in place, once, by the creator. Throws Error.
  static void init(ProcessCondition& condition);

  /// Waits for a notify (or a spurious wake-up: wait in a loop on your predicate). Returns
  /// true when the mutex's previous owner died while we waited (as ProcessMutex::lock()).
  bool wait(ProcessLock& lock);
  /// Waits until notified or the deadline passes. Returns false on timeout. `owner_died`
  /// as wait().
  [[nodiscard]] bool wait_until(ProcessLock& lock, Deadline deadline, bool& owner_died);
  void notify_one();
  void notify_all();

 private:
  void check_initialised() const;
  static constexpr std::uint32_t kMagic = 0x69706376;  // "ipcv"
  std::uint32_t magic_;
  pthread_cond_t cond_;
};

}  // namespace ipckit
