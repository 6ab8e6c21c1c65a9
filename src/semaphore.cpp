// POSIX semaphores (seed Q2, I3): named (sem_open, a file sem.NAME in /dev/shm) and unnamed
// in shared memory (sem_init with pshared = 1). Timed waits use sem_clockwait on
// CLOCK_MONOTONIC, the clock Deadline counts on, so changing the wall clock moves no deadline.

#include "ipckit/semaphore.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <ctime>
#include <string>
#include <utility>

#include "ipckit/posix_name.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

// glibc keeps a named semaphore "/NAME" as the file /dev/shm/sem.NAME, so a name may be
// four bytes shorter than NAME_MAX.
constexpr const char* kSemPrefix = "/dev/shm/sem.";
constexpr std::size_t kMaxSemNameLength = NAME_MAX - 4;

std::string sem_path(std::string_view name) {
  return kSemPrefix + std::string(name.substr(1));
}

void validate_sem_name(std::string_view name, std::string_view step) {
  validate_posix_name(name, step);
  if (name.size() - 1 > kMaxSemNameLength)
    sys::fail(step, name, ENAMETOOLONG,
              "a semaphore's name may have at most " + std::to_string(kMaxSemNameLength) +
                  " characters after '/' (glibc keeps it as the file " + kSemPrefix + "NAME)");
}

// "the semaphore belongs to root (uid 0) and has mode 0600".
std::string owner_and_mode(std::string_view name) {
  return sys::owner_and_mode(sem_path(name), "the semaphore");
}

// A moved-from NamedSemaphore holds no sem_t: refuse, rather than hand glibc a null pointer.
sem_t* held(sem_t* sem, std::string_view step, std::string_view object) {
  if (sem == nullptr)
    sys::fail(step, object, EINVAL,
              "this NamedSemaphore holds no semaphore (it was moved from); use the object it "
              "was moved to");
  return sem;
}

[[noreturn]] void fail_open(std::string_view name, int err) {
  std::string hint;
  switch (err) {
    case EEXIST:
      hint =
          "the name is taken; open it instead, or remove it with NamedSemaphore::remove (or `rm " +
          sem_path(name) + "`)";
      break;
    case ENOENT:
      hint = "no such semaphore; create it first (named semaphores are the files " +
             std::string(kSemPrefix) + "*)";
      break;
    case EACCES:
      hint = owner_and_mode(name);
      break;
    case EMFILE:
      hint = sys::descriptor_limit_hint(EMFILE);
      break;
    case ENOSPC:
    case ENOMEM:
      hint = "no room for the semaphore's file in /dev/shm";
      break;
    default:
      break;
  }
  sys::fail("sem_open", name, err, hint);
}

// Takes one unit unless the deadline passes first; false then.
bool wait_until(sem_t* sem, Deadline deadline, std::string_view object) {
  for (;;) {
    int rc = 0;
    const char* step = "sem_wait";
    if (deadline.is_never()) {
      rc = ::sem_wait(sem);
    } else if (deadline.expired()) {
      step = "sem_trywait";
      rc = ::sem_trywait(sem);
    } else {
      step = "sem_clockwait";
      const timespec at = monotonic_timespec(deadline);
      rc = ::sem_clockwait(sem, CLOCK_MONOTONIC, &at);
    }
    if (rc == 0) return true;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == ETIMEDOUT) return false;
    sys::fail(step, object, err);
  }
}

void post_one(sem_t* sem, std::string_view object) {
  if (::sem_post(sem) == 0) return;
  const int err = errno;
  sys::fail("sem_post", object, err,
            err == EOVERFLOW
                ? "the count is at SEM_VALUE_MAX (" + std::to_string(SEM_VALUE_MAX) + ")"
                : std::string{});
}

int value_of(sem_t* sem, std::string_view object) {
  int value = 0;
  sys::check(::sem_getvalue(sem, &value), "sem_getvalue", object);
  return value;
}

void check_initial(unsigned initial, std::string_view step, std::string_view object) {
  if (initial > static_cast<unsigned>(SEM_VALUE_MAX))
    sys::fail(step, object, EINVAL,
              "initial value " + std::to_string(initial) + " is above SEM_VALUE_MAX (" +
                  std::to_string(SEM_VALUE_MAX) + ")");
}

}  // namespace

// --- NamedSemaphore -----------------------------------------------------------------------

NamedSemaphore NamedSemaphore::create(const SemCreateOptions& o) {
  validate_sem_name(o.name, "sem_open");
  check_initial(o.initial, "sem_open", o.name);
  const int flags = O_CREAT | (o.exclusive ? O_EXCL : 0);
  sem_t* sem = ::sem_open(o.name.c_str(), flags, o.mode & 0777, o.initial);
  if (sem == SEM_FAILED) fail_open(o.name, errno);
  return NamedSemaphore{sem, o.name};
}

NamedSemaphore NamedSemaphore::open(std::string_view name) {
  validate_sem_name(name, "sem_open");
  const std::string n(name);
  sem_t* sem = ::sem_open(n.c_str(), 0);
  if (sem == SEM_FAILED) fail_open(name, errno);
  return NamedSemaphore{sem, n};
}

bool NamedSemaphore::remove(std::string_view name) {
  validate_sem_name(name, "sem_unlink");
  const std::string n(name);
  if (::sem_unlink(n.c_str()) == 0) return true;
  const int err = errno;
  if (err == ENOENT) return false;
  sys::fail("sem_unlink", name, err, err == EACCES ? owner_and_mode(name) : std::string{});
}

NamedSemaphore::NamedSemaphore(NamedSemaphore&& other) noexcept
    : sem_(std::exchange(other.sem_, nullptr)), name_(std::move(other.name_)) {}

NamedSemaphore& NamedSemaphore::operator=(NamedSemaphore&& other) noexcept {
  if (this != &other) {
    if (sem_ != nullptr) ::sem_close(sem_);
    sem_ = std::exchange(other.sem_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

NamedSemaphore::~NamedSemaphore() {
  if (sem_ != nullptr) ::sem_close(sem_);
}

void NamedSemaphore::post() const {
  post_one(held(sem_, "sem_post", name_), name_);
}

bool NamedSemaphore::wait(Deadline deadline) const {
  return wait_until(held(sem_, "sem_wait", name_), deadline, name_);
}

int NamedSemaphore::value() const {
  return value_of(held(sem_, "sem_getvalue", name_), name_);
}

// --- ProcessSemaphore ---------------------------------------------------------------------

void ProcessSemaphore::init(ProcessSemaphore& s, unsigned initial) {
  check_initial(initial, "sem_init", "ProcessSemaphore");
  sys::check(::sem_init(&s.sem_, 1, initial), "sem_init", "ProcessSemaphore");
  s.magic_ = kMagic;
}

void ProcessSemaphore::destroy(ProcessSemaphore& s) noexcept {
  if (s.magic_ != kMagic) return;
  ::sem_destroy(&s.sem_);
  s.magic_ = 0;
}

void ProcessSemaphore::check_initialised() const {
  if (magic_ != kMagic)
    sys::fail("ProcessSemaphore", "", EINVAL,
              "the semaphore was never initialised (or was destroyed): call ProcessSemaphore::init "
              "once in the "
              "creator, before other processes use it");
}

void ProcessSemaphore::post() {
  check_initialised();
  post_one(&sem_, "ProcessSemaphore");
}

bool ProcessSemaphore::wait(Deadline deadline) {
  check_initialised();
  return wait_until(&sem_, deadline, "ProcessSemaphore");
}

int ProcessSemaphore::value() {
  check_initialised();
  return value_of(&sem_, "ProcessSemaphore");
}

}  // namespace ipckit
