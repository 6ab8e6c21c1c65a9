#include "ipckit/socket.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "fd_util.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

// sun_path holds 108 bytes: a path needs its terminating NUL, an abstract name its leading one.
constexpr std::size_t kMaxUnixName = sizeof(sockaddr_un::sun_path) - 1;
// SCM_MAX_FD in the kernel: the most descriptors one message may carry.
constexpr std::size_t kMaxFds = 253;

int socket_type(SocketType type) {
  switch (type) {
    case SocketType::datagram:
      return SOCK_DGRAM;
    case SocketType::seqpacket:
      return SOCK_SEQPACKET;
    case SocketType::stream:
      break;
  }
  return SOCK_STREAM;
}

// The sockaddr for an address whose text is "/path" or "@name".
struct UnixSockaddr {
  sockaddr_un addr{};
  socklen_t length = 0;
};

UnixSockaddr to_sockaddr(const UnixAddress& address) {
  UnixSockaddr s;
  s.addr.sun_family = AF_UNIX;
  std::string text = address.to_string();
  if (address.is_abstract()) {
    // sun_path[0] stays NUL; the name follows, without a terminator.
    std::memcpy(s.addr.sun_path + 1, text.data() + 1, text.size() - 1);
    s.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size());
  } else {
    std::memcpy(s.addr.sun_path, text.data(), text.size());
    s.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size() + 1);
  }
  return s;
}

// Waits for `events` until the deadline; false when it passed (EINTR retried).
bool wait_for(int fd, short events, Deadline deadline, std::string_view object) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, deadline.poll_timeout_ms());
    if (rc > 0) return true;
    if (rc == 0) {
      if (deadline.expired()) return false;
      continue;  // poll rounds to milliseconds; the deadline decides
    }
    if (errno != EINTR) sys::fail("poll", object, errno);
  }
}

// socket(2), close-on-exec; an Error naming `object` (and the descriptor limit on EMFILE).
Fd make_socket(int domain, int type, int protocol, std::string_view object) {
  int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd == -1) {
    int err = errno;
    sys::fail("socket", object, err, sys::descriptor_limit_hint(err));
  }
  return Fd{fd};
}

IoStatus expired_status(Deadline deadline) noexcept {
  return deadline.is_now() ? IoStatus::would_block : IoStatus::timed_out;
}

std::string connect_hint(const UnixAddress& address, int err) {
  const std::string text = address.to_string();
  switch (err) {
    case ENOENT:
      return "no socket at this path: is the server running, and is the path right?";
    case ECONNREFUSED:
      return address.is_abstract()
                 ? "nobody listens on this abstract name: is the server running?"
                 : "a socket file with nobody listening (stale): the server is gone; start it, "
                   "or remove the file";
    case EACCES:
      return sys::owner_and_mode(text, "the socket file") +
             "; connecting needs write permission on the socket file and search permission on "
             "its folders";
    case EPROTOTYPE:
      return "the socket there is of another type (stream, datagram or seqpacket)";
    case EMFILE:
    case ENFILE:
      return sys::descriptor_limit_hint(err);
    default:
      return {};
  }
}

// "127.0.0.1:80", "[::1]:80".
std::string host_port(std::string_view host, std::uint16_t port) {
  std::string h(host);
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

void set_nodelay(const Fd& fd, std::string_view object) {
  int on = 1;
  sys::check(::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on),
             "setsockopt(TCP_NODELAY)", object);
}

// getaddrinfo for HOST:PORT; Error naming both when the name does not resolve.
struct AddrInfoList {
  addrinfo* head = nullptr;
  AddrInfoList() = default;
  AddrInfoList(const AddrInfoList&) = delete;
  AddrInfoList& operator=(const AddrInfoList&) = delete;
  ~AddrInfoList() {
    if (head != nullptr) ::freeaddrinfo(head);
  }
};

void resolve(AddrInfoList& list, std::string_view host, std::uint16_t port, int flags) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = flags | AI_NUMERICSERV;
  const std::string h(host);
  const std::string p = std::to_string(port);
  int rc = ::getaddrinfo(h.empty() ? nullptr : h.c_str(), p.c_str(), &hints, &list.head);
  if (rc == 0) return;
  if (rc == EAI_SYSTEM) {
    const int err = errno;  // host_port allocates
    sys::fail("getaddrinfo", host_port(host, port), err);
  }
  sys::fail("getaddrinfo", host_port(host, port), 0,
            std::string(::gai_strerror(rc)) + ": check the host name (or use a numeric address)");
}

}  // namespace

// --- UnixAddress ------------------------------------------------------------------------

UnixAddress UnixAddress::path(const std::filesystem::path& path) {
  const std::string& p = path.native();
  if (p.empty()) sys::fail("UnixAddress::path", p, EINVAL, "the path is empty");
  if (p.find('\0') != std::string::npos)
    sys::fail("UnixAddress::path", p, EINVAL, "the path holds a NUL byte");
  if (p.size() > kMaxUnixName) {
    sys::fail("UnixAddress::path", p, ENAMETOOLONG,
              "the path has " + std::to_string(p.size()) +
                  " bytes and a Unix socket address holds at most " + std::to_string(kMaxUnixName) +
                  "; use a shorter path (e.g. under /run), or an abstract name");
  }
  UnixAddress a;
  a.name_ = p;
  return a;
}

UnixAddress UnixAddress::abstract(std::string_view name) {
  if (name.empty()) sys::fail("UnixAddress::abstract", "@", EINVAL, "the abstract name is empty");
  if (name.size() > kMaxUnixName) {
    sys::fail("UnixAddress::abstract", "@" + std::string(name), ENAMETOOLONG,
              "the name has " + std::to_string(name.size()) +
                  " bytes and an abstract name holds at most " + std::to_string(kMaxUnixName));
  }
  UnixAddress a;
  a.name_ = name;
  a.abstract_ = true;
  return a;
}

UnixAddress UnixAddress::parse(std::string_view text) {
  if (!text.empty() && text.front() == '@') return abstract(text.substr(1));
  if (!text.empty() && text.front() == '/') return path(std::filesystem::path(std::string(text)));
  sys::fail("UnixAddress::parse", text, EINVAL,
            "a Unix socket address is an absolute path (\"/run/app.sock\") or an abstract name "
            "(\"@app\")");
}

std::string UnixAddress::to_string() const {
  return abstract_ ? "@" + name_ : name_;
}

// --- Socket -----------------------------------------------------------------------------

std::pair<Socket, Socket> Socket::pair(SocketType type) {
  int fds[2];
  if (::socketpair(AF_UNIX, socket_type(type) | SOCK_CLOEXEC, 0, fds) == -1) {
    int err = errno;
    sys::fail("socketpair", "AF_UNIX", err, sys::descriptor_limit_hint(err));
  }
  return {Socket{Fd{fds[0]}}, Socket{Fd{fds[1]}}};
}

Socket Socket::connect_unix(const UnixAddress& address, SocketType type, Deadline deadline) {
  const std::string object = address.to_string();
  Fd fd = make_socket(AF_UNIX, socket_type(type), 0, object);
  // A Unix connect sleeps only while the listener's backlog is full, and that sleep obeys
  // SO_SNDTIMEO: set it to the time left, and back to "none" once connected.
  if (deadline.is_now()) {
    fd.set_nonblocking(true);
  } else if (!deadline.is_never()) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline.remaining());
    if (left.count() <= 0) left = std::chrono::microseconds(1);
    timeval tv{static_cast<time_t>(left.count() / 1000000),
               static_cast<suseconds_t>(left.count() % 1000000)};
    sys::check(::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv),
               "setsockopt(SO_SNDTIMEO)", object);
  }
  const UnixSockaddr s = to_sockaddr(address);
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&s.addr), s.length) == 0) break;
    int err = errno;
    if (err == EINTR) continue;
    if (err == EISCONN) break;  // an interrupted connect that completed meanwhile
    if (err == EAGAIN || err == EINPROGRESS) {
      sys::fail(
          "connect", object, ETIMEDOUT,
          "nobody accepted before the deadline: the listener's backlog is full (is the server "
          "accepting?)");
    }
    sys::fail("connect", object, err, connect_hint(address, err));
  }
  if (deadline.is_now()) {
    fd.set_nonblocking(false);
  } else if (!deadline.is_never()) {
    timeval none{};
    sys::check(::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none),
               "setsockopt(SO_SNDTIMEO)", object);
  }
  return Socket{std::move(fd)};
}

Socket Socket::connect_tcp(std::string_view host, std::uint16_t port, Deadline deadline) {
  const std::string object = host_port(host, port);
  AddrInfoList list;
  resolve(list, host, port, 0);
  int last_err = EHOSTUNREACH;
  for (addrinfo* ai = list.head; ai != nullptr; ai = ai->ai_next) {
    Fd fd{::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol)};
    if (!fd) {
      last_err = errno;
      if (last_err == EMFILE || last_err == ENFILE)
        sys::fail("socket", object, last_err, sys::descriptor_limit_hint(last_err));
      continue;
    }
    int rc = ::connect(fd.get(), ai->ai_addr, ai->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS || err == EINTR) {
      // The handshake goes on; its outcome is in SO_ERROR once the socket is writable.
      if (!wait_for(fd.get(), POLLOUT, deadline, object)) {
        sys::fail("connect", object, ETIMEDOUT,
                  "no answer before the deadline: is the host up and the port open?");
      }
      socklen_t len = sizeof err;
      sys::check(::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len), "getsockopt(SO_ERROR)",
                 object);
    }
    if (err != 0) {
      last_err = err;
      continue;
    }
    fd.set_nonblocking(false);
    set_nodelay(fd, object);
    return Socket{std::move(fd)};
  }
  std::string hint;
  if (last_err == ECONNREFUSED)
    hint = "nothing listens on port " + std::to_string(port) + " there";
  else if (last_err == ENETUNREACH || last_err == EHOSTUNREACH)
    hint = "no route to the host: check the address and the network";
  sys::fail("connect", object, last_err, hint);
}

IoResult Socket::send_fds(std::span<const int> fds, std::span<const std::byte> bytes,
                          Deadline deadline) const {
  const std::string object = "socket";
  if (fds.size() > kMaxFds) {
    sys::fail("sendmsg", detail::describe_fd(fd_.get()), EINVAL,
              std::to_string(fds.size()) +
                  " descriptors in one message; the kernel takes at most " +
                  std::to_string(kMaxFds) + " (SCM_MAX_FD): send them in several messages");
  }
  if (!fds.empty() && bytes.empty()) {
    sys::fail("sendmsg", detail::describe_fd(fd_.get()), EINVAL,
              "descriptors travel with at least one byte of data; send a byte with them");
  }
  iovec v{const_cast<std::byte*>(bytes.data()),
          bytes.size()};  // NOLINT: iovec is not const-correct
  msghdr msg{};
  msg.msg_iov = &v;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const int flags = MSG_NOSIGNAL | (deadline.is_never() ? 0 : MSG_DONTWAIT);
  for (;;) {
    ssize_t n = ::sendmsg(fd_.get(), &msg, flags);
    if (n >= 0) return {static_cast<std::size_t>(n), IoStatus::ok};
    int err = errno;
    if (err == EINTR) continue;
    if (err == EPIPE || err == ECONNRESET) return {0, IoStatus::peer_closed};
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (deadline.is_now() || !wait_for(fd_.get(), POLLOUT, deadline, object))
        return {0, expired_status(deadline)};
      continue;
    }
    sys::fail("sendmsg", detail::describe_fd(fd_.get()), err,
              err == ETOOMANYREFS ? "too many descriptors are in flight (RLIMIT_NOFILE bounds them)"
                                  : std::string{});
  }
}

Received Socket::receive_fds(std::span<std::byte> buffer, Deadline deadline) const {
  iovec v{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  const int flags = MSG_CMSG_CLOEXEC | (deadline.is_never() ? 0 : MSG_DONTWAIT);
  for (;;) {
    msghdr msg{};
    msg.msg_iov = &v;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd_.get(), &msg, flags);
    if (n == -1) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == ECONNRESET) return Received{IoStatus::end_of_stream, 0, {}};
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (deadline.is_now() || !wait_for(fd_.get(), POLLIN, deadline, "socket"))
          return Received{expired_status(deadline), 0, {}};
        continue;
      }
      sys::fail("recvmsg", detail::describe_fd(fd_.get()), err);
    }
    Received r;
    r.bytes = static_cast<std::size_t>(n);
    // Take ownership of every descriptor first, so none leaks whatever happens next.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        r.fds.emplace_back(fd);
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) {
      r.fds.clear();  // a partial set is of no use; and closing first frees room for what follows
      sys::fail("recvmsg", detail::describe_fd(fd_.get()), 0,
                "descriptors sent with the message were lost (MSG_CTRUNC): the process ran out of "
                "descriptors (RLIMIT_NOFILE), or more than " +
                    std::to_string(kMaxFds) + " came at once");
    }
    if (n == 0 && r.fds.empty() && !buffer.empty()) r.status = IoStatus::end_of_stream;
    return r;
  }
}

PeerCredentials Socket::peer_credentials() const {
  const std::string object = detail::describe_fd(fd_.get());
  int domain = 0;
  socklen_t len = sizeof domain;
  sys::check(::getsockopt(fd_.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len), "getsockopt(SO_DOMAIN)",
             object);
  if (domain != AF_UNIX) {
    sys::fail("getsockopt(SO_PEERCRED)", object, EINVAL,
              "only a Unix-domain socket knows its peer's credentials; this one is not");
  }
  ucred cred{};
  len = sizeof cred;
  sys::check(::getsockopt(fd_.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len),
             "getsockopt(SO_PEERCRED)", object);
  return {cred.pid, cred.uid, cred.gid};
}

void Socket::shutdown_write() const {
  sys::check(::shutdown(fd_.get(), SHUT_WR), "shutdown(SHUT_WR)", detail::describe_fd(fd_.get()));
}

// --- UnixListener -----------------------------------------------------------------------

namespace {

// A file already at the listener's path: refuses a non-socket and a live socket, and
// unlinks a stale one (nobody listens: a connect gets ECONNREFUSED) when allowed.
void clear_stale(const UnixListenOptions& o, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == -1) return;  // nothing there (or bind will say why)
  if (!S_ISSOCK(st.st_mode)) {
    sys::fail("bind", path, EEXIST,
              sys::describe_file_type(st.st_mode) +
                  " is at this path, not a socket; it is never replaced: pick another path or "
                  "remove it yourself");
  }
  const std::string in_use = "a process listens on this socket (`ss -xlp src " + path +
                             "` shows which); stop it or pick another path";
  if (!o.replace_stale) {
    sys::fail(
        "bind", path, EADDRINUSE,
        "a socket file is at this path and replace_stale is off; remove it if nobody listens, or " +
            in_use.substr(in_use.find("pick")));
  }
  Fd probe = make_socket(AF_UNIX, socket_type(o.type) | SOCK_NONBLOCK, 0, path);
  const UnixSockaddr s = to_sockaddr(o.address);
  int rc = ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&s.addr), s.length);
  int err = rc == 0 ? 0 : errno;
  if (err == ECONNREFUSED) {
    if (::unlink(path.c_str()) == -1 && errno != ENOENT) {
      const int unlink_err = errno;  // the hint allocates
      sys::fail("unlink", path, unlink_err,
                "the stale socket file cannot be removed; " + sys::owner_and_mode(path, "it"));
    }
    return;
  }
  if (err == 0 || err == EAGAIN || err == EINPROGRESS) sys::fail("bind", path, EADDRINUSE, in_use);
  if (err == EPROTOTYPE) {
    sys::fail("bind", path, EADDRINUSE,
              "a socket of another type (stream, datagram or seqpacket) is bound here; it is not "
              "replaced");
  }
  sys::fail("connect", path, err, "probing the socket file already at the path failed");
}

}  // namespace

UnixListener UnixListener::bind(const UnixListenOptions& o) {
  const std::string object = o.address.to_string();
  if (object.empty())
    sys::fail("bind", object, EINVAL, "no address: give UnixAddress::path(...) or ::abstract(...)");
  if (!o.address.is_abstract()) clear_stale(o, object);
  UnixListener l;
  l.fd_ = make_socket(AF_UNIX, socket_type(o.type) | SOCK_NONBLOCK, 0, object);
  const UnixSockaddr s = to_sockaddr(o.address);
  if (::bind(l.fd_.get(), reinterpret_cast<const sockaddr*>(&s.addr), s.length) == -1) {
    int err = errno;
    std::string hint;
    if (err == EADDRINUSE)
      hint = o.address.is_abstract()
                 ? "a process holds this abstract name (`ss -xlp | grep " + object +
                       "` shows which); pick another"
                 : "another listener bound this path just now; pick another path";
    else if (err == EACCES)
      hint = "binding needs write and search permission on the folder that holds the socket file";
    else if (err == ENOENT)
      hint = "the folder for the socket file does not exist; create it first";
    sys::fail("bind", object, err, hint);
  }
  if (!o.address.is_abstract()) {
    // The file's mode is set before listen(): until then every connect is refused, so no
    // client can get in through the looser mode bind gave it (umask-dependent).
    if (::chmod(object.c_str(), o.mode) == -1) {
      int err = errno;
      ::unlink(object.c_str());
      sys::fail("chmod", object, err);
    }
    struct stat st {};
    if (::lstat(object.c_str(), &st) == 0) {
      l.device_ = st.st_dev;
      l.inode_ = st.st_ino;
    }
  }
  if (o.type != SocketType::datagram && ::listen(l.fd_.get(), o.backlog) == -1) {
    int err = errno;
    if (!o.address.is_abstract()) ::unlink(object.c_str());
    sys::fail("listen", object, err);
  }
  l.address_ = o.address;
  return l;
}

std::optional<Socket> UnixListener::accept(Deadline deadline) const {
  const std::string object = address_.to_string();
  for (;;) {
    int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd != -1) return Socket{Fd{fd}};
    int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) {
      sys::fail("accept4", object, err,
                err == EMFILE || err == ENFILE ? sys::descriptor_limit_hint(err)
                : err == EINVAL || err == EOPNOTSUPP
                    ? "the socket is not listening (a datagram socket has no connections to accept)"
                    : std::string{});
    }
    if (deadline.is_now() || !wait_for(fd_.get(), POLLIN, deadline, object)) return std::nullopt;
  }
}

void UnixListener::remove() const {
  if (address_.is_abstract() || inode_ == 0) return;
  const std::string path = address_.to_string();
  struct stat st {};
  if (::lstat(path.c_str(), &st) == -1) {
    if (errno == ENOENT) return;
    sys::fail("lstat", path, errno);
  }
  if (st.st_dev != device_ || st.st_ino != inode_) return;  // another listener's file now
  if (::unlink(path.c_str()) == -1 && errno != ENOENT) sys::fail("unlink", path, errno);
}

// --- TcpListener ------------------------------------------------------------------------

TcpListener TcpListener::bind(const TcpListenOptions& o) {
  const std::string object = host_port(o.host, o.port);
  AddrInfoList list;
  resolve(list, o.host, o.port, AI_PASSIVE);
  const addrinfo* ai = list.head;
  TcpListener l;
  l.fd_ = make_socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol, object);
  int on = 1;
  sys::check(::setsockopt(l.fd_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on),
             "setsockopt(SO_REUSEADDR)", object);
  if (ai->ai_family == AF_INET6) {
    int off = 0;  // "::" takes IPv4 connections too, whatever net.ipv6.bindv6only says
    (void)::setsockopt(l.fd_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (::bind(l.fd_.get(), ai->ai_addr, ai->ai_addrlen) == -1) {
    int err = errno;
    std::string hint;
    if (err == EADDRINUSE)
      hint = "another socket holds port " + std::to_string(o.port) +
             " (`ss -tlnp 'sport = :" + std::to_string(o.port) +
             "'` shows which); stop it or pick another port (0: any free one)";
    else if (err == EACCES)
      hint = "ports below 1024 need CAP_NET_BIND_SERVICE; pick a port of 1024 or more";
    else if (err == EADDRNOTAVAIL)
      hint = "no interface of this machine has this address";
    sys::fail("bind", object, err, hint);
  }
  sys::check(::listen(l.fd_.get(), o.backlog), "listen", object);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  sys::check(::getsockname(l.fd_.get(), reinterpret_cast<sockaddr*>(&bound), &len), "getsockname",
             object);
  l.port_ = bound.ss_family == AF_INET6
                ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  return l;
}

std::optional<Socket> TcpListener::accept(Deadline deadline) const {
  const std::string object = "tcp port " + std::to_string(port_);
  for (;;) {
    int fd = ::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd != -1) {
      Fd owned{fd};
      set_nodelay(owned, object);
      return Socket{std::move(owned)};
    }
    int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err != EAGAIN && err != EWOULDBLOCK)
      sys::fail("accept4", object, err,
                err == EMFILE || err == ENFILE ? sys::descriptor_limit_hint(err) : std::string{});
    if (deadline.is_now() || !wait_for(fd_.get(), POLLIN, deadline, object)) return std::nullopt;
  }
}

}  // namespace ipckit
