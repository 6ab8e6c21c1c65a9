// System V shared memory (seed: 共享内存), the reading side of examples/sysv_shm_writer:
//
//   sysv_shm_reader PATH [--remove]
//
// Finds the segment by its key, ftok(PATH, 'I'), attaches it read-only, and prints the
// message and how many attachments it has (nattch). With --remove it marks the segment for
// removal (IPC_RMID) while still attached, and shows what the seed's Q&A says: the segment is
// not gone yet, its key now reads 0x00000000 (seed H7), and it is destroyed at the last
// detach.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <span>
#include <string>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/sysv.hpp"

namespace {

constexpr int kProjId = 'I';
constexpr std::size_t kHeader = sizeof(std::uint32_t);

// The message in the segment. The length comes from another process: subspan checks it
// against the segment's size and throws rather than reading past the end.
std::string message_in(const ipckit::sysv::Attachment& a) {
  // atomic_ref needs a non-const object; a load never writes, so read-only pages are fine.
  auto& length_slot = const_cast<std::uint32_t&>(a.as<std::uint32_t>(0));
  const std::uint32_t length = std::atomic_ref<std::uint32_t>(length_slot).load(std::memory_order_acquire);
  std::span<const std::byte> body = a.subspan(kHeader, length);
  return {reinterpret_cast<const char*>(body.data()), body.size()};
}

}  // namespace

int main(int argc, char** argv) {
  const bool remove = argc == 3 && std::string_view(argv[2]) == "--remove";
  if (argc < 2 || argc > 3 || (argc == 3 && !remove)) {
    std::cerr << "usage: sysv_shm_reader PATH [--remove]\n";
    return 2;
  }

  try {
    namespace sysv = ipckit::sysv;
    const sysv::Key key = sysv::Key::from_path(argv[1], kProjId);
    // e.g. shmget("key 0x49012345"): No such file or directory (ENOENT): no segment has key
    // 0x49012345: ... (run sysv_shm_writer first)
    const sysv::SharedMemory segment = sysv::SharedMemory::open(key);
    sysv::Attachment a = segment.attach(ipckit::Access::read_only);  // SHM_RDONLY: a.writable() is false
    std::cout << "message: " << message_in(a) << '\n';
    std::cout << "key " << key.to_string() << " id " << segment.id() << " nattch " << segment.stat().nattch << '\n';

    if (!remove) {
      a = sysv::Attachment{};  // shmdt (the destructor would do it too)
      std::cout << "detached: nattch " << segment.stat().nattch << '\n';
      return 0;
    }

    segment.remove();  // IPC_RMID: only marks it while anyone is attached
    const sysv::ShmStat marked = segment.stat();
    std::cout << "removed: key now reads " << marked.key.to_string()
              << (marked.marked_for_removal ? ", marked for removal" : "") << ", nattch " << marked.nattch
              << "; still readable: " << message_in(a) << '\n';
    a = sysv::Attachment{};  // the last detach destroys it
    try {
      const sysv::ShmStat after = segment.stat();
      std::cout << "detached: still there with nattch " << after.nattch
                << "; destroyed when those processes detach\n";
    } catch (const ipckit::Error&) {
      std::cout << "detached: the segment is destroyed\n";
    }
    return 0;
  } catch (const ipckit::Error& e) {
    std::cerr << "sysv_shm_reader: " << e.what() << '\n';
    return 1;
  }
}
