// The sending side of an ipckit channel; examples/channel_receiver receives.
//
//   channel_sender URL [MESSAGE...]
//
// Joins the channel at URL (waiting at most 5 s for a receiver to be there) and sends each
// MESSAGE as one message, or, with no MESSAGE, each line of stdin (without its newline).
// Any scheme ipckit::Channel knows works, with the same code:
//
//   channel_sender unix:///tmp/app.sock hello world     a Unix socket file
//   channel_sender unix://@app hello                     an abstract Unix socket
//   channel_sender tcp://127.0.0.1:7000 hello            TCP
//   channel_sender fifo:///tmp/app.fifo hello            a named pipe
//   channel_sender mq:///app hello                       a POSIX message queue
//   channel_sender sysv-msg://0x1234 hello               a System V message queue
//
// Closing the channel (here: leaving main) is what tells the receiver the stream has ended;
// there is no end message to send.

#include <chrono>
#include <iostream>
#include <span>
#include <string>
#include <string_view>

#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"

namespace {

// Sends one message. false (after saying why) when the receiver has gone.
bool send(ipckit::Channel& channel, std::string_view text) {
  // Blocks while the channel is full; never raises SIGPIPE.
  const ipckit::IoResult sent = channel.send(std::as_bytes(std::span{text}));
  if (sent.status == ipckit::IoStatus::peer_closed) {
    std::cerr << "channel_sender: the receiver has gone (" << channel.url() << ")\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc < 2) {
    std::cerr << "usage: channel_sender URL [MESSAGE...]   (no MESSAGE: each line of stdin)\n";
    return 2;
  }
  try {
    auto channel = ipckit::Channel::connect(argv[1], {}, ipckit::Deadline::after(5s));
    long count = 0;
    if (argc > 2) {
      for (int i = 2; i < argc; ++i, ++count) {
        if (!send(channel, argv[i])) return 1;
      }
    } else {
      for (std::string line; std::getline(std::cin, line); ++count) {
        if (!send(channel, line)) return 1;
      }
    }
    std::cerr << "channel_sender: sent " << count << " messages to " << channel.url() << '\n';
  } catch (const ipckit::Error& e) {
    // e.g. connect("unix:///tmp/app.sock"): Connection timed out (ETIMEDOUT): no listener
    // was there before the deadline (last try: ... ENOENT ...); start the receiving side first
    std::cerr << "channel_sender: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
