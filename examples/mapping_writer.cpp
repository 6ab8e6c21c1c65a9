// Memory maps between unrelated processes (seed: 内存映射, "没有关系的进程"), the writing side:
//
//   mapping_writer FILE MESSAGE
//   mapping_reader FILE            # any time later, from any process: prints MESSAGE
//
// Both programs map the same file with MAP_SHARED; what one writes into the memory is in the
// file and in every other mapping of it. The file is the meeting point, so it must not be
// empty (seed M8): the writer creates it if needed and extends it with ftruncate, never
// shrinking it.
//
// The layout of FILE (little framing, as with any shared memory):
//   bytes 0..3  the message's length, a native-endian uint32 (0: no message yet)
//   bytes 4..   the message
// The length is written last, with a release store, so a reader that sees it (acquire load)
// also sees the bytes. That is enough for one message written once; processes that keep
// talking need a lock or a condition in the shared memory (ipckit::ProcessMutex), because a
// mapping has no synchronisation of its own (seed M4).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <span>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"

namespace {
constexpr std::size_t kHeader = sizeof(std::uint32_t);
constexpr std::size_t kMaxMessage = 1 << 20;
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: mapping_writer FILE MESSAGE\n";
    return 2;
  }
  const std::string_view message = argv[2];
  if (message.size() > kMaxMessage) {
    std::cerr << "mapping_writer: the message is longer than " << kMaxMessage << " bytes\n";
    return 2;
  }

  try {
    // Create the file (mode 0600) when missing and make it at least one page long. A symbolic
    // link is refused (O_NOFOLLOW): in a shared folder it could point anywhere.
    const std::size_t needed = kHeader + message.size();
    ipckit::Mapping m = ipckit::Mapping::map_file(
        {.path = argv[1], .create_size = std::max(needed, ipckit::page_size())});

    // Withdraw any old message first, then write the new bytes, then publish the length.
    std::atomic_ref<std::uint32_t> length(m.as<std::uint32_t>(0));
    length.store(0, std::memory_order_relaxed);  // no reader may rely on the old bytes now
    std::span<std::byte> body = m.subspan(kHeader, message.size());  // checked: fits the file
    std::memcpy(body.data(), message.data(), message.size());
    // release: a reader whose acquire load sees this length also sees the bytes above.
    length.store(static_cast<std::uint32_t>(message.size()), std::memory_order_release);

    // Other mappings see the bytes already (they share the page cache); msync writes them to
    // the disk, so they survive a crash of the machine too.
    m.sync();
    std::cout << "wrote " << message.size() << " bytes to " << argv[1] << '\n';
    return 0;
  } catch (const ipckit::Error& e) {
    // e.g. open("/tmp/x/chat"): No such file or directory (ENOENT): the folder "/tmp/x" does
    // not exist; create it first
    std::cerr << "mapping_writer: " << e.what() << '\n';
    return 1;
  }
}
