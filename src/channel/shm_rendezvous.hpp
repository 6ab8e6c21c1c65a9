#pragma once

// The rendezvous of a memfd channel (shm://@NAME): nothing names its segment, so the listener
// hands the memfd to each sender over an abstract seqpacket socket, "@ipckit/shm/NAME". The
// socket has no permissions: SO_PEERCRED is the check, both ways (a listener serves only its
// own user; a sender gives its messages only to a listener of its own user).

#include <sys/types.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>

#include "ipckit/deadline.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/socket.hpp"
#include "url.hpp"

namespace ipckit::detail {

// The memfd variant, shm://@NAME: its segment is a memfd (shown in /proc/PID/fd as
// "memfd:ipckit-ch-NAME"), handed out over the abstract seqpacket socket "@ipckit/shm/NAME".
[[nodiscard]] bool is_memfd(const ChannelUrl& url) noexcept;
// "memfd:ipckit-ch-NAME", the memfd's name as /proc/PID/fd shows it.
[[nodiscard]] std::string memfd_name(const ChannelUrl& url);
// "@ipckit/shm/NAME". Throws Error when the name is missing or too long for a sockaddr_un.
[[nodiscard]] UnixAddress rendezvous_address(const ChannelUrl& url);
// Binds the rendezvous socket: what keeps a second listener out. Throws Error (EADDRINUSE)
// saying who holds the name.
[[nodiscard]] UnixListener bind_rendezvous(const ChannelUrl& url);

// The memfd variant's rendezvous: a thread blocked in poll on the listening socket that hands
// the memfd to every caller running as our user (the abstract socket has no permissions:
// SO_PEERCRED is the check) and a sentence saying why to the others. A thread, so that a
// connect is served whatever the listener is doing (a listener need not be in receive()).
class Rendezvous {
 public:
  // `listener`: the bound socket (bind_rendezvous). `handout`: the memfd to give senders, a
  // descriptor of its own (not the one that holds the listener's lock, which a sender that
  // kept it would keep alive). Starts the thread, which takes no signal.
  Rendezvous(UnixListener listener, Fd handout, std::string url);
  Rendezvous(const Rendezvous&) = delete;
  Rendezvous& operator=(const Rendezvous&) = delete;
  // Stops and joins the thread; a forked copy only closes its descriptors.
  ~Rendezvous();

 private:
  void serve() noexcept;
  void hand_out(const Socket& caller);

  UnixListener listener_;
  Fd stop_;
  Fd handout_;
  std::string url_;
  pid_t owner_ = ::getpid();
  std::thread thread_;
};

// The memfd variant: the listener's memfd, asked for at its rendezvous socket, or nothing
// (with `problem`) while no listener serves it. The descriptor returned is a new open file
// description of the memfd (reopened through /proc/self/fd), so this sender's liveness lock
// is its own and not the listener's.
std::optional<Fd> open_memfd(const ChannelUrl& url, Deadline deadline, std::string& problem);

}  // namespace ipckit::detail
