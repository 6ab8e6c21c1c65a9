// System V semaphores with SEM_UNDO (seed: Q2, and I3 "resource sharing with mutual
// exclusion"):
//
//   sysv_sem_undo
//
// A semaphore of value 1 guards a resource. A child takes it with SEM_UNDO and is then killed
// with SIGKILL while holding it: no handler runs, the child cleans nothing up. The kernel keeps
// a per-process record of every SEM_UNDO operation and reverses it when the process ends, so
// the parent finds the semaphore given back and can take it. Without SEM_UNDO the semaphore
// would stay at 0 for ever and every process waiting on it would hang.
//
// The set lives in the kernel until it is removed: the parent removes it on every way out
// (a set left behind shows in `ipcs -s` and `ipckit ls -s`, and `ipckit rm -s ID` removes it).

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <span>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/sysv.hpp"

namespace {

using ipckit::IoStatus;
using ipckit::sysv::SemaphoreSet;

// Removes the set when main ends, however it ends.
struct RemoveAtEnd {
  SemaphoreSet set;
  ~RemoveAtEnd() {
    try {
      set.remove();
      std::cout << "parent: removed the set\n";
    } catch (const ipckit::Error& e) {
      std::cerr << "sysv_sem_undo: " << e.what() << '\n';
    }
  }
};

// Kills and reaps the child should the parent leave early (an error), so it never outlives us.
struct ChildGuard {
  pid_t pid = -1;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) == -1 && errno == EINTR) {
    }
  }
};

}  // namespace

int main() {
  try {
    // IPC_PRIVATE: a new set only its id finds; the child inherits the id through fork.
    // One semaphore, value 1: free.
    const SemaphoreSet set = SemaphoreSet::create({.count = 1, .initial = 1});
    RemoveAtEnd remover{set};
    ipckit::Pipe taken = ipckit::Pipe::create();  // the child says "I hold it" here

    std::cout << std::flush;  // nothing buffered twice after fork
    const pid_t pid = ::fork();
    if (pid == -1) throw ipckit::Error{"fork", "sysv_sem_undo", errno};
    if (pid == 0) {
      // The child: take the semaphore with SEM_UNDO, say so, and hold it until killed.
      if (set.apply({{.index = 0, .delta = -1, .undo = true}}) != IoStatus::ok) ::_exit(1);
      std::cout << "child: took the semaphore with SEM_UNDO" << std::endl;
      const std::byte one{1};
      (void)taken.write_end.write_all(std::span{&one, 1});
      for (;;) ::pause();
    }
    ChildGuard child{pid};
    taken.write_end.reset();
    std::byte got{};
    if (!taken.read_end.read_exact(std::span{&got, 1}).ok()) {
      std::cerr << "sysv_sem_undo: the child did not take the semaphore\n";
      return 1;
    }

    std::cout << "parent: value while the child holds it: " << set.value(0) << '\n';
    // Deadline::now(): IPC_NOWAIT, only try.
    const IoStatus busy = set.apply({{.index = 0, .delta = -1}}, ipckit::Deadline::now());
    std::cout << "parent: try to take it: " << ipckit::to_string(busy) << '\n';

    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) == -1 && errno == EINTR) {
    }
    child.pid = -1;  // reaped
    std::cout << "parent: child killed by "
              << (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "SIGKILL" : "?") << '\n';

    // The kernel has reversed the child's -1: the value is 1 again.
    std::cout << "parent: value after the child's death: " << set.value(0) << '\n';
    const IoStatus mine = set.apply({{.index = 0, .delta = -1, .undo = true}},
                                    ipckit::Deadline::after(std::chrono::seconds(5)));
    std::cout << "parent: take it: " << ipckit::to_string(mine) << '\n';
    return mine == IoStatus::ok ? 0 : 1;
  } catch (const ipckit::Error& e) {
    std::cerr << "sysv_sem_undo: " << e.what() << '\n';
    return 1;
  }
}
