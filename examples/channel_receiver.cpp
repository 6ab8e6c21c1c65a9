// The receiving side of an ipckit channel; examples/channel_sender sends.
//
//   channel_receiver URL
//
// Creates the channel at URL (see channel_sender for the schemes), says on stderr where it
// listens (with the port the kernel picked for tcp://HOST:0), and prints each message on
// stdout, one per line, until every sender that joined has gone (end of stream). Whatever
// the transport, a message comes whole: what one send() sent, no more and no less.

#include <iostream>
#include <string_view>

#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: channel_receiver URL\n";
    return 2;
  }
  try {
    // The socket file, FIFO or queue this makes is removed again when `channel` goes.
    auto channel = ipckit::Channel::listen(argv[1]);
    // One write, so whoever watches stderr never sees half the line.
    std::cerr << ("channel_receiver: listening on " + channel.url() + "\n") << std::flush;

    long count = 0;
    for (;;) {
      // Waits while no sender has joined yet, and while the senders send nothing. No buffer of
      // ours: the Message is a view of the message where the channel holds it (on shm://, in
      // the sender's ring), valid until `got` goes at the end of this turn.
      const ipckit::Message got = channel.receive();
      if (got.status() == ipckit::IoStatus::end_of_stream) break;
      const std::string_view text(reinterpret_cast<const char*>(got.bytes().data()), got.size());
      std::cout << text << '\n' << std::flush;
      ++count;
    }
    std::cerr << "channel_receiver: end of stream after " << count << " messages\n";
  } catch (const ipckit::Error& e) {
    // e.g. channel URL("tcp://127.0.0.1"): Invalid argument (EINVAL): the port is missing:
    // tcp://127.0.0.1:7000, tcp://[::1]:7000 or tcp://host.example:7000
    std::cerr << "channel_receiver: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
