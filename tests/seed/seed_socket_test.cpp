// Conformance: the seed's claim about sockets (套接字), N1 — "sockets for processes on other
// hosts: TCP; and Unix-domain sockets on one host" — on the real kernel: two processes talk
// both ways over a Unix socket (by path and by abstract name) and over TCP (loopback stands
// in for the other host; ChannelCli.SendAndRecvTalkAcrossTwoNetworkNamespaces goes further).

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/socket.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span{s.data(), s.size()});
}

std::string read_n(const Fd& fd, std::size_t n) {
  std::string out(n, '\0');
  IoResult r = fd.read_exact(std::as_writable_bytes(std::span{out.data(), out.size()}),
                             Deadline::after(30s));
  if (r.status != IoStatus::ok) return "(" + std::string(to_string(r.status)) + ")";
  return out;
}

// The child asks, the parent (server) answers with the caller's pid it saw: a round trip
// between two processes, each direction checked.
int client(Socket c) {
  if (!c.fd().write_all(bytes("hello")).ok()) return 1;
  std::string answer = read_n(c.fd(), 5);
  return answer == "world" ? 0 : 2;
}

TEST(SeedSocket, N1_TwoProcessesTalkOverAUnixSocketByPath) {
  test::TempDir dir;
  const auto address = UnixAddress::path(dir / "server.sock");
  auto server = UnixListener::bind({.address = address});
  test::Forked child([&] {
    return client(Socket::connect_unix(address, SocketType::stream, Deadline::after(30s)));
  });
  std::optional<Socket> conn = server.accept(Deadline::after(30s));
  ASSERT_TRUE(conn);
  EXPECT_EQ(conn->peer_credentials().pid, child.pid());  // one host: the kernel knows the caller
  EXPECT_EQ(read_n(conn->fd(), 5), "hello");
  ASSERT_TRUE(conn->fd().write_all(bytes("world")).ok());
  EXPECT_TRUE(child.wait().success());
  server.remove();
}

TEST(SeedSocket, N1_TwoProcessesTalkOverAnAbstractUnixSocket) {
  const auto address = UnixAddress::abstract(test::unique_name());
  auto server = UnixListener::bind({.address = address});
  test::Forked child([&] {
    return client(Socket::connect_unix(address, SocketType::stream, Deadline::after(30s)));
  });
  std::optional<Socket> conn = server.accept(Deadline::after(30s));
  ASSERT_TRUE(conn);
  EXPECT_EQ(read_n(conn->fd(), 5), "hello");
  ASSERT_TRUE(conn->fd().write_all(bytes("world")).ok());
  EXPECT_TRUE(child.wait().success());
}

TEST(SeedSocket, N1_TwoProcessesTalkOverTcp) {
  auto server = TcpListener::bind({.host = "127.0.0.1", .port = 0});
  const std::uint16_t port = server.port();
  test::Forked child(
      [&] { return client(Socket::connect_tcp("127.0.0.1", port, Deadline::after(30s))); });
  std::optional<Socket> conn = server.accept(Deadline::after(30s));
  ASSERT_TRUE(conn);
  EXPECT_EQ(read_n(conn->fd(), 5), "hello");
  ASSERT_TRUE(conn->fd().write_all(bytes("world")).ok());
  EXPECT_TRUE(child.wait().success());
}

}  // namespace
}  // namespace ipckit
