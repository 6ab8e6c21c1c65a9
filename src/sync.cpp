#include "ipckit/sync.hpp"

#include <cerrno>
#include <ctime>
#include <string>

#include "sys.hpp"

namespace ipckit {
namespace {

// Returns whether the previous owner died; EOWNERDEAD leaves us holding the lock, which we
// mark consistent at once (ProcessLock tells the caller to check the data).
bool owner_died_or_fail(int rc, pthread_mutex_t* mutex, std::string_view step) {
  if (rc == 0) return false;
  if (rc == EOWNERDEAD) {
    sys::check_errno(pthread_mutex_consistent(mutex), "pthread_mutex_consistent", "ProcessMutex");
    return true;
  }
  std::string hint;
  if (rc == ENOTRECOVERABLE)
    hint = "a holder died and the lock was released without being made consistent; re-create it";
  else if (rc == EDEADLK)
    hint = "this thread already holds the lock";
  sys::fail(step, "ProcessMutex", rc, hint);
}

}  // namespace

void ProcessMutex::init(ProcessMutex& m) {
  pthread_mutexattr_t attr;
  sys::check_errno(pthread_mutexattr_init(&attr), "pthread_mutexattr_init", "ProcessMutex");
  int rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
  if (rc == 0) rc = pthread_mutex_init(&m.mutex_, &attr);
  pthread_mutexattr_destroy(&attr);
  sys::check_errno(rc, "pthread_mutex_init", "ProcessMutex");
  m.magic_ = kMagic;
}

void ProcessMutex::check_initialised() const {
  if (magic_ != kMagic)
    sys::fail("ProcessMutex", "", EINVAL,
              "the mutex was never initialised: call ProcessMutex::init once in the creator");
}

bool ProcessMutex::lock() {
  check_initialised();
  return owner_died_or_fail(pthread_mutex_lock(&mutex_), &mutex_, "pthread_mutex_lock");
}

bool ProcessMutex::try_lock_until(Deadline deadline, bool& previous_owner_died) {
  check_initialised();
  previous_owner_died = false;
  int rc = 0;
  if (deadline.is_never()) {
    rc = pthread_mutex_lock(&mutex_);
  } else {
    // Also for a deadline already passed: unlike trylock, clocklock reports EDEADLK when
    // this thread holds the lock, as lock() does.
    timespec at = monotonic_timespec(deadline);
    rc = pthread_mutex_clocklock(&mutex_, CLOCK_MONOTONIC, &at);
    if (rc == ETIMEDOUT) return false;
  }
  previous_owner_died = owner_died_or_fail(rc, &mutex_, "pthread_mutex_lock");
  return true;
}

void ProcessMutex::unlock() {
  check_initialised();
  int rc = pthread_mutex_unlock(&mutex_);
  if (rc != 0)
    sys::fail("pthread_mutex_unlock", "ProcessMutex", rc,
              rc == EPERM ? "this thread does not hold the lock" : std::string{});
}

void ProcessCondition::init(ProcessCondition& c) {
  pthread_condattr_t attr;
  sys::check_errno(pthread_condattr_init(&attr), "pthread_condattr_init", "ProcessCondition");
  int rc = pthread_condattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  if (rc == 0) rc = pthread_cond_init(&c.cond_, &attr);
  pthread_condattr_destroy(&attr);
  sys::check_errno(rc, "pthread_cond_init", "ProcessCondition");
  c.magic_ = kMagic;
}

void ProcessCondition::check_initialised() const {
  if (magic_ != kMagic)
    sys::fail("ProcessCondition", "", EINVAL,
              "the condition was never initialised: call ProcessCondition::init once in the creator");
}

bool ProcessCondition::wait(ProcessLock& lock) {
  check_initialised();
  pthread_mutex_t* m = lock.mutex().native();
  return owner_died_or_fail(pthread_cond_wait(&cond_, m), m, "pthread_cond_wait");
}

bool ProcessCondition::wait_until(ProcessLock& lock, Deadline deadline, bool& owner_died) {
  check_initialised();
  owner_died = false;
  if (deadline.is_never()) {
    owner_died = wait(lock);
    return true;
  }
  pthread_mutex_t* m = lock.mutex().native();
  timespec at = monotonic_timespec(deadline);
  int rc = pthread_cond_timedwait(&cond_, m, &at);  // the condition's clock is monotonic
  if (rc == ETIMEDOUT) return false;
  owner_died = owner_died_or_fail(rc, m, "pthread_cond_timedwait");
  return true;
}

void ProcessCondition::notify_one() {
  check_initialised();
  sys::check_errno(pthread_cond_signal(&cond_), "pthread_cond_signal", "ProcessCondition");
}

void ProcessCondition::notify_all() {
  check_initialised();
  sys::check_errno(pthread_cond_broadcast(&cond_), "pthread_cond_broadcast", "ProcessCondition");
}

}  // namespace ipckit
