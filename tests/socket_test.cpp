// Unit tests for ipckit sockets: Unix addresses, socketpair, Unix listeners (stale, live and
// non-socket files at the path, abstract names), descriptor passing, peer credentials, and
// TCP over IPv4 and IPv6 loopback. Seed claim N1 is shown in tests/seed/seed_socket_test.cpp.
//
// Socket files live in a test::TempDir (removed at the end); abstract names come from
// unique_name() and vanish with their last socket.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/shm.hpp"
#include "ipckit/socket.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::has_substring;

static_assert(!std::is_copy_constructible_v<Socket>);
static_assert(std::is_nothrow_move_constructible_v<Socket>);
static_assert(!std::is_copy_constructible_v<UnixListener>);
static_assert(std::is_nothrow_move_constructible_v<UnixListener>);
static_assert(!std::is_copy_constructible_v<TcpListener>);

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span{s.data(), s.size()});
}

// Reads until end of stream (or `limit` bytes).
std::string drain(const Fd& fd, std::size_t limit = 1 << 16) {
  std::string out;
  std::array<std::byte, 256> buf{};
  while (out.size() < limit) {
    IoResult r = fd.read_some(buf);
    if (r.status != IoStatus::ok) break;
    out.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
  }
  return out;
}

std::string read_n(const Fd& fd, std::size_t n) {
  std::string out(n, '\0');
  IoResult r = fd.read_exact(std::as_writable_bytes(std::span{out.data(), out.size()}));
  EXPECT_EQ(r.status, IoStatus::ok);
  return out;
}

UnixListenOptions at(const std::filesystem::path& p) {
  return {.address = UnixAddress::path(p)};
}

// --- UnixAddress ------------------------------------------------------------------------

TEST(UnixAddress, PathAndAbstractPrintAsWritten) {
  auto p = UnixAddress::path("/run/app.sock");
  EXPECT_FALSE(p.is_abstract());
  EXPECT_EQ(p.to_string(), "/run/app.sock");
  auto a = UnixAddress::abstract("app");
  EXPECT_TRUE(a.is_abstract());
  EXPECT_EQ(a.to_string(), "@app");
}

TEST(UnixAddress, ParseTakesAnAbsolutePathOrAnAtName) {
  EXPECT_EQ(UnixAddress::parse("/tmp/x.sock").to_string(), "/tmp/x.sock");
  EXPECT_FALSE(UnixAddress::parse("/tmp/x.sock").is_abstract());
  EXPECT_TRUE(UnixAddress::parse("@x").is_abstract());
  EXPECT_EQ(UnixAddress::parse("@x").to_string(), "@x");
}

TEST(UnixAddress, ParseRejectsRelativeAndEmptyTextShowingBothForms) {
  for (std::string_view bad : {"", "run/app.sock", "@"}) {
    Error e = test::error_from([&] { (void)UnixAddress::parse(bad); });
    EXPECT_EQ(e.errnum(), EINVAL) << bad;
  }
  EXPECT_TRUE(
      has_substring(test::message_of([] { (void)UnixAddress::parse("x.sock"); }), "\"@app\""));
}

TEST(UnixAddress, PathOf107BytesFitsAnd108FailsNamingTheLimit) {
  EXPECT_NO_THROW((void)UnixAddress::path("/" + std::string(106, 'a')));
  Error e = test::error_from([] { (void)UnixAddress::path("/" + std::string(107, 'a')); });
  EXPECT_EQ(e.errnum(), ENAMETOOLONG);
  EXPECT_TRUE(has_substring(e.what(), "108 bytes"));
  EXPECT_TRUE(has_substring(e.what(), "at most 107"));
}

TEST(UnixAddress, AbstractNameEmptyOrLongerThan107BytesFails) {
  EXPECT_NO_THROW((void)UnixAddress::abstract(std::string(107, 'a')));
  EXPECT_EQ(test::error_from([] { (void)UnixAddress::abstract(std::string(108, 'a')); }).errnum(),
            ENAMETOOLONG);
  EXPECT_EQ(test::error_from([] { (void)UnixAddress::abstract(""); }).errnum(), EINVAL);
}

// --- Socket::pair, descriptors, credentials ----------------------------------------------

TEST(Socket, PairCarriesBytesBothWaysAndIsCloseOnExec) {
  auto [a, b] = Socket::pair();
  EXPECT_TRUE(a.fd().cloexec());
  EXPECT_TRUE(b.fd().cloexec());
  ASSERT_TRUE(a.fd().write_all(bytes("ping")).ok());
  EXPECT_EQ(read_n(b.fd(), 4), "ping");
  ASSERT_TRUE(b.fd().write_all(bytes("pong")).ok());
  EXPECT_EQ(read_n(a.fd(), 4), "pong");
}

TEST(Socket, SeqpacketPairKeepsMessageBoundaries) {
  auto [a, b] = Socket::pair(SocketType::seqpacket);
  ASSERT_TRUE(a.send_fds({}, bytes("one")).ok());
  ASSERT_TRUE(a.send_fds({}, bytes("two")).ok());
  std::array<std::byte, 16> buf{};
  Received r = b.receive_fds(buf);
  EXPECT_EQ(r.bytes, 3u);
  r = b.receive_fds(buf);
  EXPECT_EQ(r.bytes, 3u);
}

TEST(Socket, PeerCredentialsAreOurPidUidAndGid) {
  auto [a, b] = Socket::pair();
  PeerCredentials who = b.peer_credentials();
  EXPECT_EQ(who.pid, ::getpid());
  EXPECT_EQ(who.uid, ::getuid());
  EXPECT_EQ(who.gid, ::getgid());
}

TEST(Socket, PeerCredentialsNameTheForkedClient) {
  test::TempDir dir;
  auto server = UnixListener::bind(at(dir / "s"));
  auto go = Pipe::create();
  test::Forked child([&] {
    Socket c = Socket::connect_unix(UnixAddress::path(dir / "s"));
    return test::await(go.read_end) ? 0 : 1;
  });
  std::optional<Socket> conn = server.accept(Deadline::after(30s));
  ASSERT_TRUE(conn);
  EXPECT_EQ(conn->peer_credentials().pid, child.pid());
  test::notify(go.write_end);
  EXPECT_TRUE(child.wait().success());
}

TEST(Socket, PassedPipeReadEndIsReadThroughByAForkedChild) {
  auto [parent, child_end] = Socket::pair();
  test::Forked child([&, &sock = child_end] {
    std::array<std::byte, 1> buf{};
    Received r = sock.receive_fds(buf);
    if (r.status != IoStatus::ok || r.fds.size() != 1) return 1;
    std::string got = drain(r.fds[0]);  // the pipe, until its writer closes
    return sock.fd().write_all(bytes(got)).ok() ? 0 : 2;
  });
  { Socket gone = std::move(child_end); }  // only the child keeps that end
  {
    auto p = Pipe::create();
    int fd = p.read_end.get();
    ASSERT_TRUE(parent.send_fds(std::span{&fd, 1}, bytes("x")).ok());
    p.read_end.reset();  // the child holds the only read end now
    ASSERT_TRUE(p.write_end.write_all(bytes("through the pipe")).ok());
  }
  EXPECT_EQ(drain(parent.fd()), "through the pipe");
  EXPECT_TRUE(child.wait().success());
}

TEST(Socket, ReceivedDescriptorsAreCloseOnExec) {
  auto [a, b] = Socket::pair();
  auto p = Pipe::create();
  p.read_end.set_cloexec(false);  // sent without the flag: the receiver must set it
  std::array<int, 2> fds{p.read_end.get(), p.write_end.get()};
  ASSERT_TRUE(a.send_fds(fds, bytes("x")).ok());
  std::array<std::byte, 4> buf{};
  Received r = b.receive_fds(buf, Deadline::after(30s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(r.bytes, 1u);
  ASSERT_EQ(r.fds.size(), 2u);
  EXPECT_TRUE(r.fds[0].cloexec());
  EXPECT_TRUE(r.fds[1].cloexec());
  EXPECT_NE(r.fds[0].get(), p.read_end.get());
}

TEST(Socket, SealedMemfdPassedToAForkedChildArrivesSealedWithItsContents) {
  auto [parent, child_end] = Socket::pair();
  auto shm = Memfd::create({.name = "passed", .size = 4096});
  ASSERT_TRUE(shm.fd().write_all(bytes("shared")).ok());
  shm.seal_size();
  test::Forked child([&, &sock = child_end] {
    std::array<std::byte, 1> buf{};
    Received r = sock.receive_fds(buf, Deadline::after(30s));
    if (r.status != IoStatus::ok || r.fds.size() != 1) return 1;
    Memfd got = Memfd::adopt(std::move(r.fds[0]));
    if (!got.size_sealed() || got.size() != 4096) return 2;
    std::array<char, 6> text{};
    if (::pread(got.fd().get(), text.data(), text.size(), 0) != 6) return 3;
    return std::string_view(text.data(), text.size()) == "shared" ? 0 : 4;
  });
  int fd = shm.fd().get();
  ASSERT_TRUE(parent.send_fds(std::span{&fd, 1}, bytes("m")).ok());
  EXPECT_TRUE(child.wait().success());
}

TEST(Socket, SendToAClosedPeerReportsPeerClosedWithoutSigpipe) {
  auto [a, b] = Socket::pair();
  { Socket gone = std::move(b); }  // the peer goes away
  // SIGPIPE is at its default here: a raised one would kill the test.
  IoResult r = a.send_fds({}, bytes("lost"));
  EXPECT_EQ(r.status, IoStatus::peer_closed);
  EXPECT_EQ(a.fd().write_all(bytes("lost")).status, IoStatus::peer_closed);
}

TEST(Socket, APeerThatGoesWithDataUnreadResetsAndFdReportsTheEnd) {
  auto [a, b] = Socket::pair();
  ASSERT_TRUE(a.fd().write_all(bytes("unread")).ok());
  { Socket gone = std::move(b); }  // closes with "unread" in its queue: a gets ECONNRESET
  std::array<std::byte, 8> buf{};
  EXPECT_EQ(a.fd().read_some(buf).status, IoStatus::end_of_stream);
  EXPECT_EQ(a.fd().write_all(bytes("lost")).status, IoStatus::peer_closed);
}

TEST(Socket, ReceiveWithNothingThereWouldBlockOrTimesOut) {
  auto [a, b] = Socket::pair();
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(b.receive_fds(buf, Deadline::now()).status, IoStatus::would_block);
  EXPECT_EQ(b.receive_fds(buf, Deadline::after(20ms)).status, IoStatus::timed_out);
}

TEST(Socket, ShutdownWriteGivesThePeerEndOfStreamAndStillReads) {
  auto [a, b] = Socket::pair();
  a.shutdown_write();
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(b.receive_fds(buf).status, IoStatus::end_of_stream);
  ASSERT_TRUE(b.fd().write_all(bytes("back")).ok());
  EXPECT_EQ(read_n(a.fd(), 4), "back");
}

TEST(Socket, SendingMoreThan253DescriptorsOrNoBytesFails) {
  auto [a, b] = Socket::pair();
  std::vector<int> many(254, a.fd().get());
  Error e = test::error_from([&] { (void)a.send_fds(many, bytes("x")); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has_substring(e.what(), "253"));
  int fd = a.fd().get();
  EXPECT_EQ(test::error_from([&] { (void)a.send_fds(std::span{&fd, 1}, {}); }).errnum(), EINVAL);
}

TEST(Socket, DescriptorsLostToTheReceiversLimitAreAnError) {
  auto [a, b] = Socket::pair();
  auto p = Pipe::create();
  std::array<int, 4> fds{p.read_end.get(), p.write_end.get(), p.read_end.get(), p.write_end.get()};
  ASSERT_TRUE(a.send_fds(fds, bytes("x")).ok());
  test::Forked child([&, &sock = b] {
    // Room for two more descriptors, not four: the kernel drops the rest (MSG_CTRUNC).
    // (Two, not none: the sanitizers need a pipe of their own while the Error is built.)
    int next = ::dup(0);
    if (next < 0) return 3;
    ::close(next);
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = static_cast<rlim_t>(next + 2);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) return 4;
    try {
      std::array<std::byte, 1> buf{};
      (void)sock.receive_fds(buf);
    } catch (const Error& e) {
      return std::string_view(e.what()).find("MSG_CTRUNC") != std::string_view::npos ? 0 : 1;
    }
    return 2;
  });
  EXPECT_TRUE(child.wait().success());
}

TEST(Socket, PeerCredentialsOfATcpSocketFail) {
  auto server = TcpListener::bind({});
  Socket c = Socket::connect_tcp("127.0.0.1", server.port());
  Error e = test::error_from([&] { (void)c.peer_credentials(); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has_substring(e.what(), "Unix-domain"));
}

// --- UnixListener -----------------------------------------------------------------------

TEST(UnixListener, BindsAnOwnerOnlySocketFileAndAcceptsAClient) {
  test::TempDir dir;
  auto server = UnixListener::bind(at(dir / "s"));
  struct stat st {};
  ASSERT_EQ(::lstat((dir / "s").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_TRUE(server.fd().cloexec());
  Socket c = Socket::connect_unix(server.address(), SocketType::stream, Deadline::after(30s));
  std::optional<Socket> s = server.accept(Deadline::after(30s));
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->fd().cloexec());
  EXPECT_FALSE(s->fd().nonblocking());
  ASSERT_TRUE(c.fd().write_all(bytes("hi")).ok());
  EXPECT_EQ(read_n(s->fd(), 2), "hi");
}

TEST(UnixListener, ModeOptionSetsTheSocketFilesMode) {
  test::TempDir dir;
  auto server = UnixListener::bind({.address = UnixAddress::path(dir / "s"), .mode = 0660});
  struct stat st {};
  ASSERT_EQ(::lstat((dir / "s").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST(UnixListener, DestructorLeavesTheFileAndRemoveUnlinksIt) {
  test::TempDir dir;
  { auto server = UnixListener::bind(at(dir / "s")); }
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::symlink_status(dir / "s")));
  auto server = UnixListener::bind(at(dir / "s"));  // replaces the stale one
  server.remove();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(dir / "s")));
}

TEST(UnixListener, RemoveLeavesAnotherListenersFileAlone) {
  test::TempDir dir;
  auto first = UnixListener::bind(at(dir / "s"));
  std::filesystem::remove(dir / "s");
  auto second = UnixListener::bind(at(dir / "s"));
  first.remove();
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::symlink_status(dir / "s")));
  EXPECT_NO_THROW((void)Socket::connect_unix(second.address()));
}

TEST(UnixListener, ConnectToAStaleSocketFileFailsSayingStale) {
  test::TempDir dir;
  { auto gone = UnixListener::bind(at(dir / "s")); }
  Error e = test::error_from([&] { (void)Socket::connect_unix(UnixAddress::path(dir / "s")); });
  EXPECT_EQ(e.errnum(), ECONNREFUSED);
  EXPECT_TRUE(has_substring(e.what(), "stale"));
  EXPECT_TRUE(has_substring(e.what(), (dir / "s").string()));
}

TEST(UnixListener, ConnectToAMissingPathFailsWithEnoent) {
  test::TempDir dir;
  Error e = test::error_from([&] { (void)Socket::connect_unix(UnixAddress::path(dir / "none")); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has_substring(e.what(), "is the server running"));
}

TEST(UnixListener, StaleSocketFileIsReplaced) {
  test::TempDir dir;
  { auto gone = UnixListener::bind(at(dir / "s")); }
  auto server = UnixListener::bind(at(dir / "s"));
  Socket c = Socket::connect_unix(server.address());
  EXPECT_TRUE(server.accept(Deadline::after(30s)));
}

TEST(UnixListener, StaleSocketFileIsRefusedWhenReplaceStaleIsOff) {
  test::TempDir dir;
  { auto gone = UnixListener::bind(at(dir / "s")); }
  Error e = test::error_from([&] {
    (void)UnixListener::bind({.address = UnixAddress::path(dir / "s"), .replace_stale = false});
  });
  EXPECT_EQ(e.errnum(), EADDRINUSE);
  EXPECT_TRUE(has_substring(e.what(), "replace_stale"));
}

TEST(UnixListener, LiveSocketIsRefusedWithEaddrinuseNamingThePath) {
  test::TempDir dir;
  auto live = UnixListener::bind(at(dir / "s"));
  Error e = test::error_from([&] { (void)UnixListener::bind(at(dir / "s")); });
  EXPECT_EQ(e.errnum(), EADDRINUSE);
  EXPECT_TRUE(has_substring(e.what(), (dir / "s").string()));
  EXPECT_TRUE(has_substring(e.what(), "a process listens"));
  // The live listener still works.
  Socket c = Socket::connect_unix(live.address());
  EXPECT_TRUE(live.accept(Deadline::after(30s)));
}

TEST(UnixListener, NonSocketFileIsNeverReplaced) {
  test::TempDir dir;
  std::ofstream(dir / "data") << "precious";
  Error e = test::error_from([&] { (void)UnixListener::bind(at(dir / "data")); });
  EXPECT_EQ(e.errnum(), EEXIST);
  EXPECT_TRUE(has_substring(e.what(), "a regular file"));
  EXPECT_EQ(test::file_bytes(dir / "data"), "precious");
}

TEST(UnixListener, AbstractNameMakesNoFileAndRefusesASecondBind) {
  const std::string name = test::unique_name();
  auto server = UnixListener::bind({.address = UnixAddress::abstract(name)});
  Socket c = Socket::connect_unix(UnixAddress::abstract(name));
  ASSERT_TRUE(server.accept(Deadline::after(30s)));
  Error e =
      test::error_from([&] { (void)UnixListener::bind({.address = UnixAddress::abstract(name)}); });
  EXPECT_EQ(e.errnum(), EADDRINUSE);
  EXPECT_TRUE(has_substring(e.what(), "@" + name));
  EXPECT_NO_THROW(server.remove());  // nothing to unlink
}

TEST(UnixListener, AbstractNameWithNobodyListeningIsRefused) {
  Error e = test::error_from(
      [] { (void)Socket::connect_unix(UnixAddress::abstract(test::unique_name())); });
  EXPECT_EQ(e.errnum(), ECONNREFUSED);
  EXPECT_TRUE(has_substring(e.what(), "abstract name"));
}

TEST(UnixListener, AcceptReturnsNothingWhenTheDeadlinePasses) {
  test::TempDir dir;
  auto server = UnixListener::bind(at(dir / "s"));
  EXPECT_FALSE(server.accept(Deadline::now()));
  EXPECT_FALSE(server.accept(Deadline::after(20ms)));
}

TEST(UnixListener, ConnectTimesOutWhileTheBacklogIsFull) {
  test::TempDir dir;
  auto server = UnixListener::bind({.address = UnixAddress::path(dir / "s"), .backlog = 0});
  std::vector<Socket> waiting;
  Error e{"", "", 0};
  bool failed = false;
  for (int i = 0; i < 16 && !failed; ++i) {
    try {
      waiting.push_back(
          Socket::connect_unix(server.address(), SocketType::stream, Deadline::after(20ms)));
    } catch (const Error& err) {
      e = err;
      failed = true;
    }
  }
  ASSERT_TRUE(failed) << "the backlog never filled";
  EXPECT_EQ(e.errnum(), ETIMEDOUT);
  EXPECT_TRUE(has_substring(e.what(), "backlog"));
}

// --- TCP --------------------------------------------------------------------------------

// A server thread that echoes one connection until end of stream.
void echo_once(const TcpListener& server) {
  std::optional<Socket> s = server.accept(Deadline::after(30s));
  if (!s) return;
  std::string got = drain(s->fd());
  (void)s->fd().write_all(bytes(got));
}

void expect_echo(const TcpListener& server, std::string_view host) {
  std::thread t([&] { echo_once(server); });
  Socket c = Socket::connect_tcp(host, server.port(), Deadline::after(30s));
  int nodelay = 0;
  socklen_t len = sizeof nodelay;
  ASSERT_EQ(::getsockopt(c.fd().get(), IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
  EXPECT_EQ(nodelay, 1);
  EXPECT_TRUE(c.fd().cloexec());
  EXPECT_FALSE(c.fd().nonblocking());
  ASSERT_TRUE(c.fd().write_all(bytes("echo me")).ok());
  c.shutdown_write();
  EXPECT_EQ(drain(c.fd()), "echo me");
  t.join();
}

TEST(TcpListener, PortZeroPicksAFreePortAndEchoesOver127001) {
  auto server = TcpListener::bind({.host = "127.0.0.1", .port = 0});
  EXPECT_NE(server.port(), 0);
  EXPECT_TRUE(server.fd().cloexec());
  expect_echo(server, "127.0.0.1");
}

TEST(TcpListener, EchoesOverIpv6Loopback) {
  std::optional<TcpListener> server;
  try {
    server = TcpListener::bind({.host = "::1"});
  } catch (const Error& e) {
    GTEST_SKIP() << "IPv6 loopback is not usable here: " << e.what();
  }
  expect_echo(*server, "::1");
}

TEST(TcpListener, TakenPortFailsWithEaddrinuseNamingIt) {
  auto first = TcpListener::bind({});
  Error e = test::error_from([&] { (void)TcpListener::bind({.port = first.port()}); });
  EXPECT_EQ(e.errnum(), EADDRINUSE);
  EXPECT_TRUE(has_substring(e.what(), "127.0.0.1:" + std::to_string(first.port())));
  EXPECT_TRUE(has_substring(e.what(), "ss -tlnp"));
}

TEST(TcpListener, AcceptReturnsNothingWhenTheDeadlinePasses) {
  auto server = TcpListener::bind({});
  EXPECT_FALSE(server.accept(Deadline::now()));
  EXPECT_FALSE(server.accept(Deadline::after(20ms)));
}

TEST(Socket, TcpConnectToAClosedPortFailsNamingHostAndPort) {
  std::uint16_t port = 0;
  { port = TcpListener::bind({}).port(); }
  Error e =
      test::error_from([&] { (void)Socket::connect_tcp("127.0.0.1", port, Deadline::after(30s)); });
  EXPECT_EQ(e.errnum(), ECONNREFUSED);
  EXPECT_TRUE(has_substring(e.what(), "127.0.0.1:" + std::to_string(port)));
  EXPECT_TRUE(has_substring(e.what(), "nothing listens"));
}

TEST(Socket, TcpConnectToAnUnknownHostFailsNamingIt) {
  std::string msg = test::message_of([] { (void)Socket::connect_tcp("no-such-host.invalid", 80); });
  EXPECT_TRUE(has_substring(msg, "no-such-host.invalid:80"));
}

}  // namespace
}  // namespace ipckit
