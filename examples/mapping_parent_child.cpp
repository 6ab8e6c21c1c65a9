// Memory maps between related processes (seed: 内存映射, "有关系的进程"):
//
//   mapping_parent_child
//
// The parent makes an anonymous shared mapping (no file at all) *before* fork; the child
// inherits it, so both processes see the same page. The child writes a greeting into it and
// exits; the parent waits for the child with waitpid and then reads what the child wrote.
//
// A mapping has no synchronisation of its own (seed M4): here waitpid is the signal that the
// child has finished writing. Processes that keep running side by side need a lock or a
// condition in the shared memory (ipckit::ProcessMutex, ipckit::ProcessCondition).

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"

namespace {

// What parent and child share: plain bytes, no pointers (each process may see the mapping at
// another address once other programs map it; here both see the same address, but the habit
// matters).
struct Shared {
  std::uint32_t length;
  char text[252];
};

}  // namespace

int main() {
  try {
    // MAP_SHARED | MAP_ANONYMOUS, zero-filled. Made before fork: the child inherits it (M2).
    ipckit::Mapping shared = ipckit::Mapping::anonymous_shared(sizeof(Shared));
    auto& box = shared.as<Shared>();  // bounds- and alignment-checked

    std::fflush(nullptr);  // nothing buffered twice after fork
    pid_t pid = ::fork();
    if (pid == -1) {
      std::perror("mapping_parent_child: fork");
      return 1;
    }
    if (pid == 0) {
      // The child: write into the shared page. A private mapping (or an ordinary variable)
      // would be copied on write and the parent would never see it.
      const std::string_view greeting = "hello from the child";
      std::memcpy(box.text, greeting.data(), greeting.size());
      box.length = greeting.size();
      ::_exit(0);  // _exit: do not run the parent's atexit handlers a second time
    }

    // The parent: wait until the child has ended, then read. Before waitpid returns, the
    // parent might read the page before the child wrote it: mmap itself never blocks.
    int status = 0;
    while (::waitpid(pid, &status, 0) == -1) {
      if (errno != EINTR) {
        std::perror("mapping_parent_child: waitpid");
        return 1;
      }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::cerr << "mapping_parent_child: the child failed\n";
      return 1;
    }
    // A length read from shared memory is checked before it is used (never trust a peer's bytes).
    if (box.length > sizeof box.text) {
      std::cerr << "mapping_parent_child: bad length " << box.length << '\n';
      return 1;
    }
    std::cout << "parent read: " << std::string_view(box.text, box.length) << '\n';
    return 0;
    // `shared` unmaps here, with the address and length mmap gave (M10).
  } catch (const ipckit::Error& e) {
    std::cerr << "mapping_parent_child: " << e.what() << '\n';
    return 1;
  }
}
