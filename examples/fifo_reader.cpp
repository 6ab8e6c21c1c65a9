// A named pipe (FIFO) lets two unrelated processes meet by a path. This is the reading side:
//
//   fifo_reader PATH
//
// It creates the FIFO at PATH (mode 0600) unless one is there, waits for a writer to open it,
// prints each line it receives until every writer has closed (end of stream), then removes
// the FIFO. Try it with examples/fifo_writer, or with `echo hi > PATH` from a shell.

#include <array>
#include <cstddef>
#include <filesystem>
#include <iostream>
#include <string>

#include "ipckit/error.hpp"
#include "ipckit/fifo.hpp"

namespace {

// Reads `in` to end of stream and prints each complete line. The FIFO is a byte stream: one
// read may return half a line or several lines, so bytes wait in `pending` for their '\n'.
void print_lines(const ipckit::Fd& in) {
  std::array<std::byte, 4096> buf{};
  std::string pending;
  for (;;) {
    ipckit::IoResult r = in.read_some(buf);  // blocks while a writer is there and silent
    if (r.status == ipckit::IoStatus::end_of_stream) break;
    pending.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
    for (std::size_t eol; (eol = pending.find('\n')) != std::string::npos;) {
      std::cout << pending.substr(0, eol) << '\n' << std::flush;
      pending.erase(0, eol + 1);
    }
  }
  if (!pending.empty()) std::cout << pending << '\n';  // a last line without its newline
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fifo_reader PATH\n";
    return 2;
  }
  const std::filesystem::path path = argv[1];
  try {
    // exclusive = false: a FIFO already at PATH is used as it is; anything else at PATH (a
    // regular file, a symlink) is refused rather than followed or overwritten.
    ipckit::create_fifo({.path = path, .mode = 0600, .exclusive = false});
  } catch (const ipckit::Error& e) {
    std::cerr << "fifo_reader: " << e.what() << '\n';
    return 1;
  }

  int status = 0;
  try {
    // Blocks until a writer opens the FIFO (a writer's open likewise waits for us).
    ipckit::Fd in = ipckit::open_fifo_reader(path);
    print_lines(in);
  } catch (const ipckit::Error& e) {
    std::cerr << "fifo_reader: " << e.what() << '\n';
    status = 1;
  }
  // Only the name goes; a writer that still has the FIFO open keeps its descriptor.
  try {
    ipckit::remove_fifo(path);
  } catch (const ipckit::Error& e) {
    std::cerr << "fifo_reader: " << e.what() << '\n';
    status = 1;
  }
  return status;
}
