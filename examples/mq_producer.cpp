// The sending side of a POSIX message queue (seed Q1); examples/mq_consumer receives.
//
//   mq_producer NAME COUNT
//
// Creates the queue NAME ("/orders"; or opens it when it is there), sends COUNT messages
// "message I" with priority I % 3, then one empty message with priority 0 that tells the
// consumer the stream has ended. A queue keeps message boundaries and hands out the highest
// priority first, so a consumer that starts late sees priority 2, then 1, then 0.

#include <chrono>
#include <iostream>
#include <span>
#include <string>

#include "ipckit/error.hpp"
#include "ipckit/mqueue.hpp"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc != 3) {
    std::cerr << "usage: mq_producer NAME COUNT\n";
    return 2;
  }
  const std::string name = argv[1];
  int count = 0;
  try {
    count = std::stoi(argv[2]);
  } catch (const std::exception&) {
    count = -1;
  }
  if (count < 0) {
    std::cerr << "mq_producer: COUNT must be a number >= 0, not \"" << argv[2] << "\"\n";
    return 2;
  }

  try {
    // Ten messages of at most 256 bytes: within the default limits of /proc/sys/fs/mqueue.
    // Not exclusive: when the queue is already there, it is used with its own attributes.
    auto queue = ipckit::MessageQueue::create(
        {.name = name, .max_messages = 10, .message_size = 256, .mode = 0600, .exclusive = false});
    const ipckit::MqAttributes a = queue.attributes();
    std::cout << "queue " << name << ": " << a.max_messages << " messages of at most "
              << a.message_size << " bytes, " << a.current_messages << " waiting\n"
              << std::flush;

    for (int i = 1; i <= count + 1; ++i) {
      const bool last = i == count + 1;
      const std::string text = last ? "" : "message " + std::to_string(i);
      const unsigned priority = last ? 0 : static_cast<unsigned>(i % 3);
      // A full queue blocks the sender; here at most 10 s, then we give up.
      const ipckit::IoStatus sent =
          queue.send(std::as_bytes(std::span{text}), priority, ipckit::Deadline::after(10s));
      if (sent != ipckit::IoStatus::ok) {
        std::cerr << "mq_producer: the queue stayed full for 10 s (is a consumer running?)\n";
        return 1;
      }
    }
    std::cout << "sent " << count << " messages and the end mark\n";
  } catch (const ipckit::Error& e) {
    // e.g. mq_open("/orders"): Invalid argument (EINVAL): max_messages 20 is above
    // /proc/sys/fs/mqueue/msg_max (10); ...
    std::cerr << "mq_producer: " << e.what() << '\n';
    return 1;
  }
  return 0;  // closing the queue does not remove it: the messages wait for the consumer
}
