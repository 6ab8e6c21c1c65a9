// A Unix-domain stream echo server that checks who calls (seed N1; SO_PEERCRED). Run
// examples/unix_echo_client against it.
//
//   unix_echo_server [--clients N] [--allow-uid UID] [--mode OCTAL] PATH
//
// Listens on the socket file PATH and serves one client after another: it asks the kernel
// which user is at the other end (Socket::peer_credentials), refuses (closes the connection,
// with a line on stderr naming the uid) anyone but its own user, or the user --allow-uid
// names, and echoes each line an allowed client sends. With --clients N it ends after N
// clients (allowed or refused); SIGINT or SIGTERM end it at any time. It removes its socket
// file on the way out.
//
// --mode sets the socket file's permission bits (0600 by default: only this user may
// connect at all). A looser mode such as 0666 lets every user's connect through, so the uid
// check below is what keeps them out; a file mode alone is easy to get wrong (a parent
// folder, a umask), the credentials the kernel reports are not.
//
// One client at a time keeps the example short: a real server would poll every connection
// (or give each a thread) so that one idle client cannot hold up the others.

#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/signal.hpp"
#include "ipckit/socket.hpp"

namespace {

struct Options {
  std::string path;
  long clients = 0;  // 0: until SIGINT or SIGTERM
  uid_t allowed_uid = ::getuid();
  mode_t mode = 0600;
};

[[noreturn]] void usage(std::string_view problem = {}) {
  if (!problem.empty()) std::cerr << "unix_echo_server: " << problem << '\n';
  std::cerr << "usage: unix_echo_server [--clients N] [--allow-uid UID] [--mode OCTAL] PATH\n";
  std::exit(2);
}

// A whole number in `base` from `text`, or a usage error naming the option.
unsigned long parse_number(std::string_view option, const char* text, int base) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = std::strtoul(text, &end, base);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') {
    usage(std::string(option) + " wants a number, not \"" + text + "\"");
  }
  return value;
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--clients" && has_value) {
      o.clients = static_cast<long>(parse_number(arg, argv[++i], 10));
    } else if (arg == "--allow-uid" && has_value) {
      o.allowed_uid = static_cast<uid_t>(parse_number(arg, argv[++i], 10));
    } else if (arg == "--mode" && has_value) {
      o.mode = static_cast<mode_t>(parse_number(arg, argv[++i], 8) & 07777);
    } else if (arg.starts_with("--") || !o.path.empty()) {
      usage("unexpected argument \"" + std::string(arg) + "\"");
    } else {
      o.path = arg;
    }
  }
  if (o.path.empty()) usage();
  return o;
}

// Sleeps until `fd` is readable (a connection to accept, bytes or end of stream to read).
// Returns false when SIGINT or SIGTERM arrived on `stop` instead; the signal is taken off
// the signalfd, so it is not delivered when the mask is lifted on the way out.
bool wait_readable(const ipckit::Fd& fd, const ipckit::SignalFd& stop) {
  std::array<pollfd, 2> fds{{{fd.get(), POLLIN, 0}, {stop.fd().get(), POLLIN, 0}}};
  while (::poll(fds.data(), fds.size(), -1) == -1) {
    if (errno != EINTR) throw ipckit::Error{"poll", "a socket and the signalfd", errno};
  }
  if (fds[1].revents == 0) return true;
  if (auto got = stop.read(ipckit::Deadline::now())) {
    std::cout << ipckit::signal_name(got->signo) << " from pid " << got->sender_pid << '\n';
  }
  return false;
}

// Echoes every line of one client until it closes its end. Returns false when a signal
// asked the server to stop meanwhile.
bool echo_lines(const ipckit::Socket& client, const ipckit::SignalFd& stop, long& lines) {
  std::string pending;  // bytes of a line whose newline has not come yet
  std::array<std::byte, 4096> buf{};
  for (;;) {
    if (!wait_readable(client.fd(), stop)) return false;
    // The descriptor is readable, so this read does not sleep.
    const ipckit::IoResult got = client.fd().read_some(buf, ipckit::Deadline::now());
    if (got.status == ipckit::IoStatus::would_block) continue;
    if (got.status != ipckit::IoStatus::ok) break;  // end of stream: the client is done
    pending.append(reinterpret_cast<const char*>(buf.data()), got.bytes);
    for (auto newline = pending.find('\n'); newline != std::string::npos;
         newline = pending.find('\n')) {
      const std::string_view line(pending.data(), newline + 1);
      // peer_closed (never SIGPIPE): the client left without reading its answer.
      if (!client.fd().write_all(std::as_bytes(std::span{line})).ok()) return true;
      ++lines;
      pending.erase(0, newline + 1);
    }
  }
  if (!pending.empty()) {  // a last line without its newline: echoed as it came
    if (client.fd().write_all(std::as_bytes(std::span{pending})).ok()) ++lines;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  try {
    // SIGINT and SIGTERM are read from a signalfd beside the sockets, so the loop below
    // ends normally and the socket file is removed (a default action would leave it).
    ipckit::ScopedSignalMask mask({SIGINT, SIGTERM});
    const auto stop = ipckit::SignalFd::create({SIGINT, SIGTERM});

    const auto listener = ipckit::UnixListener::bind(
        {.address = ipckit::UnixAddress::path(options.path), .mode = options.mode});
    // Whatever happens from here on, the socket file goes with the server (remove() leaves
    // it when another server has since replaced it).
    struct RemoveSocketFile {
      const ipckit::UnixListener& listener;
      ~RemoveSocketFile() {
        try {
          listener.remove();
        } catch (const ipckit::Error& e) {
          std::cerr << "unix_echo_server: " << e.what() << '\n';
        }
      }
    } remove_on_exit{listener};

    std::cout << "listening on " << options.path << " (mode 0" << std::oct << options.mode
              << std::dec << "), uid " << options.allowed_uid << " allowed" << std::endl;

    for (long served = 0; options.clients == 0 || served < options.clients;) {
      if (!wait_readable(listener.fd(), stop)) break;
      std::optional<ipckit::Socket> client = listener.accept(ipckit::Deadline::now());
      if (!client) continue;  // the caller gave up between poll and accept
      ++served;

      // The kernel recorded who connected when connect() ran: it cannot be forged by the
      // client, unlike anything the client could send.
      const ipckit::PeerCredentials who = client->peer_credentials();
      if (who.uid != options.allowed_uid) {
        std::cerr << "unix_echo_server: refused pid " << who.pid << ": uid " << who.uid
                  << " is not the allowed uid " << options.allowed_uid << '\n';
        continue;  // `client` closes here: the caller reads end of stream
      }
      std::cout << "client pid " << who.pid << " uid " << who.uid << " connected" << std::endl;
      long lines = 0;
      const bool go_on = echo_lines(*client, stop, lines);
      std::cout << "client pid " << who.pid << ": " << lines << " lines echoed" << std::endl;
      if (!go_on) break;
    }
    std::cout << "stopping" << std::endl;
  } catch (const ipckit::Error& e) {
    // e.g. bind("/tmp/echo.sock"): Address already in use (EADDRINUSE): a process listens
    // on this socket (`ss -xlp src /tmp/echo.sock` shows which); stop it or pick another path
    std::cerr << "unix_echo_server: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
