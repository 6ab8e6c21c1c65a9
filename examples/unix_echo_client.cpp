// The client of examples/unix_echo_server (seed N1).
//
//   unix_echo_client PATH MESSAGE...
//
// Connects to the Unix socket at PATH (waiting at most 5 s while the server's backlog is
// full), sends each MESSAGE as one line and prints each line the server sends back. A server
// that refuses this user closes the connection: the client then says so and exits with 1.

#include <array>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <optional>
#include <span>
#include <string>

#include "ipckit/error.hpp"
#include "ipckit/socket.hpp"

namespace {

// The next line from `socket` (without its newline), reading more into `pending` as needed;
// nothing when the server closed the connection first.
std::optional<std::string> read_line(const ipckit::Socket& socket, std::string& pending) {
  std::array<std::byte, 4096> buf{};
  for (auto newline = pending.find('\n'); newline == std::string::npos;
       newline = pending.find('\n')) {
    const ipckit::IoResult got = socket.fd().read_some(buf);
    if (got.status != ipckit::IoStatus::ok) return std::nullopt;  // end of stream
    pending.append(reinterpret_cast<const char*>(buf.data()), got.bytes);
  }
  const auto newline = pending.find('\n');
  std::string line = pending.substr(0, newline);
  pending.erase(0, newline + 1);
  return line;
}

int refused() {
  std::cerr << "unix_echo_client: the server closed the connection without answering "
               "(it may not accept this user)\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc < 3) {
    std::cerr << "usage: unix_echo_client PATH MESSAGE...\n";
    return 2;
  }
  try {
    // ENOENT: no server there; ECONNREFUSED: a socket file nobody listens on (stale);
    // EACCES: the socket file's mode does not let this user write to it.
    const ipckit::Socket socket =
        ipckit::Socket::connect_unix(ipckit::UnixAddress::path(argv[1]), ipckit::SocketType::stream,
                                     ipckit::Deadline::after(5s));
    std::string pending;
    for (int i = 2; i < argc; ++i) {
      const std::string line = std::string(argv[i]) + '\n';
      // peer_closed, never SIGPIPE: the server has already closed the connection.
      if (!socket.fd().write_all(std::as_bytes(std::span{line})).ok()) return refused();
      const std::optional<std::string> reply = read_line(socket, pending);
      if (!reply) return refused();
      std::cout << *reply << '\n';
    }
  } catch (const ipckit::Error& e) {
    // A server that closes a connection holding bytes it never read makes the kernel reset
    // it: our read then fails with ECONNRESET rather than seeing end of stream.
    if (e.errnum() == ECONNRESET) return refused();
    // e.g. connect("/tmp/echo.sock"): No such file or directory (ENOENT): no socket at this
    // path: is the server running, and is the path right?
    std::cerr << "unix_echo_client: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
