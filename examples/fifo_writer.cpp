// The writing side of examples/fifo_reader:
//
//   fifo_writer PATH MESSAGE...
//
// Opens the FIFO at PATH for writing, waiting at most 5 seconds for a reader, and writes each
// MESSAGE as one line.

#include <chrono>
#include <iostream>
#include <span>
#include <string>

#include "ipckit/deadline.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fifo.hpp"
#include "ipckit/pipe.hpp"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc < 3) {
    std::cerr << "usage: fifo_writer PATH MESSAGE...\n";
    return 2;
  }
  const std::string path = argv[1];

  ipckit::Fd out;
  try {
    // A plain open(O_WRONLY) would block for good when no reader comes; O_NONBLOCK alone
    // fails at once (ENXIO). The deadline form waits, but not for ever.
    out = ipckit::open_fifo_writer(path, ipckit::Deadline::after(5s));
  } catch (const ipckit::Error& e) {
    // e.g. open("/tmp/chat"): Connection timed out (ETIMEDOUT): no process opened the FIFO
    // for reading before the deadline; start the reader
    std::cerr << "fifo_writer: " << e.what() << '\n';
    return 1;
  }

  for (int i = 2; i < argc; ++i) {
    std::string line = std::string(argv[i]) + '\n';
    if (line.size() > ipckit::kPipeAtomicWrite) {
      // Up to PIPE_BUF bytes, one write is atomic: other writers' lines never land inside it.
      std::cerr << "fifo_writer: note: message " << i - 1 << " is longer than "
                << ipckit::kPipeAtomicWrite << " bytes; with several writers it may interleave\n";
    }
    ipckit::IoResult r = out.write_all(std::as_bytes(std::span{line}));
    if (r.status == ipckit::IoStatus::peer_closed) {
      // The reader went away. Without ipckit this write would have raised SIGPIPE and
      // killed this process.
      std::cerr << "fifo_writer: the reader closed the FIFO after " << i - 2 << " message(s)\n";
      return 1;
    }
  }
  return 0;  // closing `out` gives the reader end of stream (when we are the last writer)
}
