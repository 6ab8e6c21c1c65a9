// The receiving side of examples/mq_producer: a POSIX message queue (seed Q1).
//
//   mq_consumer [--remove] [--timeout SECONDS] NAME
//
// Opens the queue NAME read-only and prints "priority P: TEXT" for each message, until the
// empty end mark. Waits at most SECONDS (10 by default) for each message. With --remove it
// removes the queue when it is done, also after an error: a queue lives in the kernel until
// someone removes it, like a file.

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/mqueue.hpp"

namespace {

// Prints messages until the end mark; returns the exit status.
int consume(const std::string& name, std::chrono::seconds timeout) {
  auto queue = ipckit::MessageQueue::open(name, ipckit::Access::read_only);
  // The buffer must hold message_size bytes, whatever the length of the next message: the
  // kernel refuses a smaller one (EMSGSIZE) even for a short message.
  std::vector<std::byte> buffer(static_cast<std::size_t>(queue.attributes().message_size));
  for (int received = 0;; ++received) {
    ipckit::MqReceived r = queue.receive(buffer, ipckit::Deadline::after(timeout));
    if (!r.ok()) {
      std::cerr << "mq_consumer: no message for " << timeout.count() << " s after " << received
                << " message(s)\n";
      return 1;
    }
    if (r.bytes == 0) {
      std::cout << "end: " << received << " messages\n";
      return 0;
    }
    std::cout << "priority " << r.priority << ": "
              << std::string(reinterpret_cast<const char*>(buffer.data()), r.bytes) << '\n'
              << std::flush;
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto usage = [] {
    std::cerr << "usage: mq_consumer [--remove] [--timeout SECONDS] NAME\n";
    return 2;
  };
  bool remove = false;
  long timeout = 10;
  std::string name;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--remove") == 0) {
      remove = true;
    } else if (std::strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
      char* end = nullptr;
      timeout = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || timeout < 0) return usage();
    } else if (name.empty() && argv[i][0] != '-') {
      name = argv[i];
    } else {
      return usage();
    }
  }
  if (name.empty()) return usage();

  int status = 0;
  try {
    status = consume(name, std::chrono::seconds(timeout));
  } catch (const ipckit::Error& e) {
    // e.g. mq_open("/orders"): No such file or directory (ENOENT): no such queue; ...
    std::cerr << "mq_consumer: " << e.what() << '\n';
    status = 1;
  }
  if (remove) {
    try {
      (void)ipckit::MessageQueue::remove(name);  // false when it was not there: fine
    } catch (const ipckit::Error& e) {
      std::cerr << "mq_consumer: " << e.what() << '\n';
      status = 1;
    }
  }
  return status;
}
