// Memory maps between unrelated processes, the reading side of examples/mapping_writer:
//
//   mapping_reader FILE
//
// Maps FILE read-only (PROT_READ, MAP_SHARED) and prints the message mapping_writer left
// there, followed by a newline. Exits with 1 when there is no message yet: reading a mapping
// never waits for a writer (seed M4), it shows whatever bytes are there now.

#include <atomic>
#include <cstdint>
#include <iostream>
#include <span>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: mapping_reader FILE\n";
    return 2;
  }
  try {
    // Read-only: the descriptor is opened O_RDONLY and the pages are PROT_READ. An empty file
    // is refused with a clear error (seed M8) instead of a SIGBUS on the first read:
    //   mmap("/tmp/chat"): Invalid argument (EINVAL): the file is empty (size 0): ...
    const ipckit::Mapping m =
        ipckit::Mapping::map_file({.path = argv[1], .access = ipckit::Access::read_only});

    // The writer stores the length last (release); this acquire load then sees its bytes.
    // atomic_ref needs a non-const object; a load never writes, so read-only pages are fine.
    auto& length_slot = const_cast<std::uint32_t&>(m.as<std::uint32_t>(0));
    const std::uint32_t length = std::atomic_ref<std::uint32_t>(length_slot).load(std::memory_order_acquire);
    if (length == 0) {
      std::cerr << "mapping_reader: no message in " << argv[1] << " yet\n";
      return 1;
    }
    // The length comes from another process: subspan checks it against the mapping's size and
    // throws (ERANGE) rather than reading past the end (seed M12).
    std::span<const std::byte> body = m.subspan(sizeof(std::uint32_t), length);
    std::cout << std::string_view(reinterpret_cast<const char*>(body.data()), body.size()) << '\n';
    return 0;
  } catch (const ipckit::Error& e) {
    std::cerr << "mapping_reader: " << e.what() << '\n';
    return 1;
  }
}
