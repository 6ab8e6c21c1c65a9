// System V shared memory (seed: 共享内存), the writing side:
//
//   sysv_shm_writer PATH MESSAGE
//   sysv_shm_reader PATH [--remove]     # any time later, from any process: prints MESSAGE
//
// Both programs make the same key with ftok(PATH, 'I') (PATH must exist: ftok reads its inode
// and device), and the key finds the segment. The writer creates it, or uses the one that has
// the key already, attaches it, writes MESSAGE, prints the key, the id and nattch, and
// detaches. The segment stays in the kernel after the writer exits (seed H8): `ipcs -m` lists
// it, and it is gone only once removed (`sysv_shm_reader PATH --remove`, or `ipcrm -M KEY`).
//
// The layout of the segment (little framing, as with any shared memory):
//   bytes 0..3  the message's length, a native-endian uint32 (0: no message yet)
//   bytes 4..   the message
// The length is written last, with a release store, so a reader that sees it (acquire load)
// also sees the bytes. A segment has no synchronisation of its own: processes that keep
// talking need a lock or a condition in it (ipckit::ProcessMutex).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <span>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/sysv.hpp"

namespace {
constexpr int kProjId = 'I';
constexpr std::size_t kSegmentSize = 4096;  // the kernel rounds up to whole pages anyway
constexpr std::size_t kHeader = sizeof(std::uint32_t);
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: sysv_shm_writer PATH MESSAGE\n";
    return 2;
  }
  const std::string_view message = argv[2];
  if (message.size() > kSegmentSize - kHeader) {
    std::cerr << "sysv_shm_writer: the message is longer than " << kSegmentSize - kHeader << " bytes\n";
    return 2;
  }

  try {
    namespace sysv = ipckit::sysv;
    const sysv::Key key = sysv::Key::from_path(argv[1], kProjId);
    // Not exclusive: a second run writes into the segment the first one made. Mode 0600: only
    // this user may attach it.
    const sysv::SharedMemory segment =
        sysv::SharedMemory::create({.key = key, .size = kSegmentSize, .mode = 0600, .exclusive = false});
    {
      sysv::Attachment a = segment.attach();  // shmat: the kernel picks the address
      std::atomic_ref<std::uint32_t> length(a.as<std::uint32_t>(0));
      length.store(0, std::memory_order_relaxed);  // withdraw any old message first
      std::span<std::byte> body = a.subspan(kHeader, message.size());  // checked: fits the segment
      std::memcpy(body.data(), message.data(), message.size());
      // release: a reader whose acquire load sees this length also sees the bytes above.
      length.store(static_cast<std::uint32_t>(message.size()), std::memory_order_release);
      std::cout << "wrote " << message.size() << " bytes to key " << key.to_string() << " id " << segment.id()
                << " nattch " << segment.stat().nattch << '\n';
    }  // ~Attachment: shmdt
    std::cout << "detached: nattch " << segment.stat().nattch << "; the segment stays until removed ("
              << "sysv_shm_reader " << argv[1] << " --remove, or ipcrm -M " << key.to_string() << ")\n";
    return 0;
  } catch (const ipckit::Error& e) {
    // e.g. ftok("/tmp/nowhere"): No such file or directory (ENOENT): the path does not exist; ...
    std::cerr << "sysv_shm_writer: " << e.what() << '\n';
    return 1;
  }
}
