// POSIX shared memory without a name: a sealed memfd handed to a child program.
//
//   shm_memfd_seal
//
// The parent makes an anonymous segment (memfd_create), writes a greeting into it and seals
// its size, so no process can shrink it under a reader (which would make the reader's next
// access raise SIGBUS). It then runs a child program with the segment as its stdin: the child
// reads the greeting through /proc/self/fd/0 and tries to truncate the segment, which the
// kernel refuses. Nothing appears in /dev/shm at any point.

#include <cstring>
#include <iostream>

#include "ipckit/error.hpp"
#include "ipckit/process.hpp"
#include "ipckit/shm.hpp"

int main() {
  try {
    auto segment = ipckit::Memfd::create({.name = "greeting", .size = 4096});
    ipckit::Mapping map = segment.map();
    const char greeting[] = "hello from the parent";
    std::memcpy(map.bytes().data(), greeting, sizeof greeting);
    segment.seal_size();  // F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL
    std::cout << "parent: wrote \"" << greeting << "\" and sealed the size at " << segment.size()
              << " bytes\n"
              << std::flush;

    // The child is a shell: it reads the segment, then tries to shrink it with truncate(1).
    auto child = ipckit::Child::spawn(
        {.argv = {"sh", "-c",
                  "printf 'child: read \"%s\"\\n' \"$(tr -d '\\000' < /proc/self/fd/0)\"; "
                  "truncate -s 0 /proc/self/fd/0 2>/dev/null && echo 'child: truncated' "
                  "|| echo 'child: truncate refused: the size is sealed'"},
         .in = ipckit::Stdio::from(segment.fd())});
    ipckit::ExitStatus status = child.wait();
    std::cout << "parent: child " << status.to_string() << "; size still " << segment.size()
              << " bytes\n";
    return status.success() ? 0 : 1;
  } catch (const ipckit::Error& e) {
    std::cerr << "shm_memfd_seal: " << e.what() << '\n';
    return 1;
  }
}
