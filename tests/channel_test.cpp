// Unit tests for the Channel's front: URL parsing and its errors, the checks common to every
// transport, and what is particular to the byte-stream transports (fifo, unix, tcp): a bad
// frame ends one sender's connection while the others go on, a frame cut short by a deadline
// is finished later, one listener per channel. The behaviour every transport shares is in
// channel_conformance_test.cpp.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../src/channel/url.hpp"
#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "ipckit/socket.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using detail::ChannelUrl;
using detail::parse_channel_url;
using test::error_from;
using test::has_substring;

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span{s.data(), s.size()}); }

std::string text(std::span<const std::byte> b, std::size_t n) { return {reinterpret_cast<const char*>(b.data()), n}; }

// The wire format: 4-byte little-endian length, then the bytes.
std::string frame(std::string_view payload) {
  std::string f(4, '\0');
  auto n = static_cast<std::uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) f[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return f + std::string(payload);
}

// Only a length, as a client that lies about what follows would send it.
std::string raw_length(std::uint32_t n) { return std::string{static_cast<char>(n & 0xFF), static_cast<char>((n >> 8) & 0xFF), static_cast<char>((n >> 16) & 0xFF), static_cast<char>((n >> 24) & 0xFF)}; }

void write_raw(const Socket& s, std::string_view data) {
  ASSERT_TRUE(s.fd().write_all(bytes(data)).ok());
}

// --- URLs ---------------------------------------------------------------------------------

TEST(ChannelUrl, EveryFormParsesAndPrintsBack) {
  EXPECT_EQ(parse_channel_url("fifo:///run/app/in").name, "/run/app/in");
  EXPECT_EQ(parse_channel_url("unix:///run/app.sock").to_string(), "unix:///run/app.sock");
  EXPECT_EQ(parse_channel_url("unix://@app").name, "@app");
  EXPECT_FALSE(parse_channel_url("unix://@app").any_user);
  EXPECT_TRUE(parse_channel_url("unix://@app?users=any").any_user);
  EXPECT_EQ(parse_channel_url("unix://@app?users=any").name, "@app");
  EXPECT_EQ(parse_channel_url("unix:///run/app.sock?users=any").to_string(), "unix:///run/app.sock?users=any");
  ChannelUrl tcp = parse_channel_url("tcp://127.0.0.1:7000");
  EXPECT_EQ(tcp.host, "127.0.0.1");
  EXPECT_EQ(tcp.port, 7000);
  ChannelUrl v6 = parse_channel_url("tcp://[::1]:7000");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.to_string(), "tcp://[::1]:7000");
  EXPECT_EQ(parse_channel_url("mq:///app").name, "/app");
  EXPECT_EQ(parse_channel_url("sysv-msg://0x162e").key, 0x162e);
  EXPECT_EQ(parse_channel_url("sysv-msg://0x162e").to_string(), "sysv-msg://0x0000162e");
  ChannelUrl shm = parse_channel_url("shm://app?capacity=4096");
  EXPECT_EQ(shm.name, "app");
  EXPECT_EQ(shm.capacity, 4096U);
  EXPECT_EQ(shm.senders, 0U);
  ChannelUrl both = parse_channel_url("shm://app?senders=3&capacity=8192");
  EXPECT_EQ(both.capacity, 8192U);
  EXPECT_EQ(both.senders, 3U);
  EXPECT_EQ(both.to_string(), "shm://app?capacity=8192&senders=3");
  EXPECT_EQ(parse_channel_url("shm://app").to_string(), "shm://app");
}

// One list of URL forms: the parser's errors name every pattern, each example parses, and
// docs/channel.md's table has a row for each.
TEST(ChannelUrl, EveryFormIsNamedInErrorsParsesItsExampleAndIsDocumented) {
  const std::string unknown = test::error_from([] { (void)parse_channel_url("carrier-pigeon://x"); }).what();
  std::ifstream doc(std::string(IPCKIT_SOURCE_DIR) + "/docs/channel.md");
  ASSERT_TRUE(doc) << "docs/channel.md cannot be read";
  const std::string docs{std::istreambuf_iterator<char>(doc), std::istreambuf_iterator<char>()};
  ASSERT_EQ(channel_url_forms().size(), 8U);
  for (const ChannelUrlForm& f : channel_url_forms()) {
    SCOPED_TRACE(std::string(f.pattern));
    EXPECT_TRUE(test::has_substring(unknown, f.pattern));
    EXPECT_NO_THROW((void)parse_channel_url(f.example));
    EXPECT_TRUE(test::has_substring(docs, "| `" + std::string(f.pattern) + "` |"));
  }
}

TEST(ChannelUrl, MistakesAreErrorsThatShowACorrectUrl) {
  struct Case {
    std::string_view url;
    std::string_view says;
  };
  const std::array cases{
      Case{"pipe:///x", "unknown scheme \"pipe\""},
      Case{"/run/app.sock", "no scheme"},
      Case{"tcp://127.0.0.1", "the port is missing: tcp://127.0.0.1:7000"},
      Case{"tcp://127.0.0.1:", "the port is missing"},
      Case{"tcp://:7000", "the host is missing"},
      Case{"tcp://127.0.0.1:70000", "from 0 to 65535"},
      Case{"tcp://::1:7000", "goes in brackets"},
      Case{"fifo://run/app", "must be absolute"},
      Case{"unix://run/app.sock", "unix:///run/app.sock"},
      Case{"unix://@", "the abstract name is empty"},
      Case{"mq://app", "mq:///app"},
      Case{"mq:///a/b", "one slash"},
      Case{"sysv-msg://162e", "0x162e"},
      Case{"sysv-msg://0xZZ", "not a 32-bit hex number"},
      Case{"sysv-msg://0x0", "IPC_PRIVATE"},
      Case{"shm://app?size=1", "capacity=BYTES"},
      Case{"shm://app?senders=0", "senders=N"},
      Case{"shm://app?capacity=4096&x=1", "senders=N"},
      Case{"shm://app?capacity=4096&capacity=4096", "capacity is given twice"},
      Case{"shm://@", "the name after @ is missing"},
      Case{"mq:///..", "are not queue names"},
      Case{"unix://@app?users=all", "users=any"},
  };
  for (const Case& c : cases) {
    Error e = error_from([&] { (void)Channel::listen(c.url); });
    EXPECT_EQ(e.errnum(), EINVAL) << c.url;
    EXPECT_TRUE(has_substring(e.what(), c.says)) << c.url;
    EXPECT_TRUE(has_substring(e.what(), c.url)) << "the error names the URL it was given";
  }
}

TEST(ChannelUrl, ConnectToPortZeroIsRefused) {
  Error e = error_from([] { (void)Channel::connect("tcp://127.0.0.1:0", {}, Deadline::now()); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has_substring(e.what(), "only to listen"));
}

TEST(ChannelUrl, OptionsAreChecked) {
  test::TempDir dir;
  std::string url = "unix://" + (dir.path() / "s.sock").string();
  EXPECT_EQ(error_from([&] { (void)Channel::listen(url, {.max_message = 0}); }).errnum(), EINVAL);
  EXPECT_TRUE(has_substring(error_from([&] { (void)Channel::listen(url, {.max_message = 1ULL << 33}); }).what(),
                            "4-byte length"));
}

// --- checks common to every end -----------------------------------------------------------

TEST(ChannelFront, DirectionSizeAndBufferAreChecked) {
  test::TempDir dir;
  std::string url = "unix://" + (dir.path() / "s.sock").string();
  Channel rx = Channel::listen(url, {.max_message = 16});
  Channel tx = Channel::connect(rx.url(), {.max_message = 16});
  EXPECT_TRUE(rx.is_listener());
  EXPECT_FALSE(tx.is_listener());
  std::array<std::byte, 16> buf{};
  EXPECT_TRUE(has_substring(error_from([&] { (void)rx.send(bytes("x")); }).what(), "made by listen()"));
  EXPECT_TRUE(has_substring(error_from([&] { (void)tx.receive(buf); }).what(), "made by connect()"));
  Error big = error_from([&] { (void)tx.send(bytes("seventeen bytes!!")); });
  EXPECT_EQ(big.errnum(), EMSGSIZE);
  EXPECT_TRUE(has_substring(big.what(), "17 bytes"));
  std::array<std::byte, 8> small{};
  EXPECT_TRUE(has_substring(error_from([&] { (void)rx.receive(small); }).what(), "max_message() = 16"));
  // Nothing was sent or consumed by the refused calls.
  ASSERT_TRUE(tx.send(bytes("ok")).ok());
  IoResult r = rx.receive(buf);
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "ok");
}

TEST(ChannelFront, TcpPortZeroListensOnAPortTheUrlShows) {
  Channel rx = Channel::listen("tcp://127.0.0.1:0");
  EXPECT_NE(rx.url(), "tcp://127.0.0.1:0");
  EXPECT_TRUE(rx.url().starts_with("tcp://127.0.0.1:"));
  Channel tx = Channel::connect(rx.url());
  ASSERT_TRUE(tx.send(bytes("over tcp")).ok());
  std::vector<std::byte> buf(rx.max_message());
  IoResult r = rx.receive(buf);
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "over tcp");
}

TEST(ChannelFront, ShmListensAndConnects) {
  const std::string url = "shm://" + test::unique_name() + "?capacity=4096&senders=2";
  Channel rx = Channel::listen(url);
  EXPECT_EQ(rx.url(), url);
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(tx.send(std::as_bytes(std::span{"over shm", 8})).ok());
  std::vector<std::byte> buf(rx.max_message());
  IoResult r = rx.receive(buf, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "over shm");
}

// A process whose stdin, stdout and stderr are closed: the channel's descriptors must not
// take their numbers (a stray printf would land in the segment or on a socket), so each
// closed one is /dev/null once a channel is set up, and messages go through as usual.
TEST(ChannelFront, ClosedStandardDescriptorsAreNeverAChannelsOwn) {
  const std::string name = test::unique_name();
  test::TempDir dir;
  const std::vector<std::string> urls = {"shm://" + name, "shm://@" + name, "mq:///" + name,
                                         "unix://" + (dir / "s.sock").string(),
                                         "fifo://" + (dir / "f").string()};
  for (const std::string& url : urls) {
    test::Forked child([&] {
      for (int fd = 0; fd <= 2; ++fd) ::close(fd);
      Channel rx = Channel::listen(url);
      Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
      if (url.starts_with("shm://")) (void)rx.readiness_fd();
      for (int fd = 0; fd <= 2; ++fd) {
        char target[64] = {};
        const std::string link = "/proc/self/fd/" + std::to_string(fd);
        if (::readlink(link.c_str(), target, sizeof target - 1) == -1) return 10 + fd;
        if (std::string_view(target) != "/dev/null") return 20 + fd;
      }
      if (!tx.send(bytes("through")).ok()) return 30;
      std::vector<std::byte> buf(rx.max_message());
      const IoResult r = rx.receive(buf, Deadline::after(10s));
      return r.ok() && text(buf, r.bytes) == "through" ? 0 : 31;
    });
    const ExitStatus status = child.wait();
    EXPECT_TRUE(status.success()) << url << ": " << status.to_string()
                                  << " (10+N: fd N closed, 20+N: fd N is not /dev/null)";
  }
}

// --- byte streams ---------------------------------------------------------------------------

struct Dropped {
  std::vector<std::string> reasons;
  ChannelOptions options() {
    return {.max_message = 1024, .on_sender_dropped = [this](const std::string& r) { reasons.push_back(r); }};
  }
};

TEST(ChannelStream, AnOversizedLengthEndsThatSenderOnlyAndSaysWhy) {
  test::TempDir dir;
  const auto path = dir.path() / "s.sock";
  Dropped dropped;
  Channel rx = Channel::listen("unix://" + path.string(), dropped.options());
  Socket good = Socket::connect_unix(UnixAddress::path(path));
  Socket bad = Socket::connect_unix(UnixAddress::path(path));
  write_raw(bad, raw_length(0xFFFFFFF0U));
  write_raw(good, frame("first") + frame(""));
  std::vector<std::byte> buf(rx.max_message());
  std::vector<std::string> got;
  for (int i = 0; i < 2; ++i) {
    IoResult r = rx.receive(buf, Deadline::after(10s));
    ASSERT_EQ(r.status, IoStatus::ok);
    got.push_back(text(buf, r.bytes));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"first", ""}));
  // The bad sender's connection is closed: it reads end of stream.
  std::array<std::byte, 1> one{};
  EXPECT_EQ(bad.fd().read_some(one, Deadline::after(10s)).status, IoStatus::end_of_stream);
  ASSERT_EQ(dropped.reasons.size(), 1U);
  EXPECT_TRUE(has_substring(dropped.reasons[0], "4294967280"));
  EXPECT_TRUE(has_substring(dropped.reasons[0], "maximum of 1024"));
  EXPECT_TRUE(has_substring(dropped.reasons[0], "pid " + std::to_string(::getpid())));
  // The good one goes on.
  write_raw(good, frame("after"));
  IoResult r = rx.receive(buf, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "after");
}

TEST(ChannelStream, AMessageCutShortIsDroppedAndTheStreamEnds) {
  test::TempDir dir;
  const auto path = dir.path() / "s.sock";
  Dropped dropped;
  Channel rx = Channel::listen("unix://" + path.string(), dropped.options());
  {
    Socket s = Socket::connect_unix(UnixAddress::path(path));
    write_raw(s, frame("whole") + frame("cut short").substr(0, 7));
  }
  std::vector<std::byte> buf(rx.max_message());
  IoResult r = rx.receive(buf, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "whole");
  EXPECT_EQ(rx.receive(buf, Deadline::after(10s)).status, IoStatus::end_of_stream);
  ASSERT_EQ(dropped.reasons.size(), 1U);
  EXPECT_TRUE(has_substring(dropped.reasons[0], "3 of 9 bytes"));
}

TEST(ChannelStream, EndOfStreamComesOnceAndThenTheListenerWaitsForNewSenders) {
  test::TempDir dir;
  Channel rx = Channel::listen("unix://" + (dir.path() / "s.sock").string());
  std::vector<std::byte> buf(rx.max_message());
  EXPECT_EQ(rx.try_receive(buf).status, IoStatus::would_block) << "no sender yet: not end of stream";
  { Channel tx = Channel::connect(rx.url()); }
  EXPECT_EQ(rx.receive(buf, Deadline::after(10s)).status, IoStatus::end_of_stream);
  EXPECT_EQ(rx.try_receive(buf).status, IoStatus::would_block);
  Channel tx = Channel::connect(rx.url());
  ASSERT_TRUE(tx.send(bytes("again")).ok());
  IoResult r = rx.receive(buf, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "again");
}

TEST(ChannelStream, ADeadlineThatCutsAFrameKeepsTheRestForLater) {
  test::TempDir dir;
  Channel rx = Channel::listen("unix://" + (dir.path() / "s.sock").string());
  Channel tx = Channel::connect(rx.url());
  // Fill the socket with small messages, then free a little room at a time until a large
  // try_send starts: the kernel then took at most part of it, and the rest is held.
  std::size_t smalls = 0;
  while (tx.try_send(bytes("f"))) ++smalls;
  ASSERT_GT(smalls, 0U);
  std::vector<std::byte> buf(rx.max_message());
  const std::string big(256 * 1024, 'b');
  std::size_t taken = 0;
  while (!tx.try_send(bytes(big))) {
    ASSERT_LT(taken, smalls) << "the large message never started";
    IoResult r = rx.receive(buf, Deadline::after(10s));
    ASSERT_EQ(r.status, IoStatus::ok);
    ASSERT_EQ(text(buf, r.bytes), "f");
    ++taken;
  }
  // Drain on a thread; here, finish the held rest and send one more.
  std::vector<std::string> got;
  std::thread reader([&] {
    for (;;) {
      IoResult r = rx.receive(buf, Deadline::after(20s));
      if (r.status != IoStatus::ok) return;
      got.push_back(text(buf, r.bytes));
      if (got.back() == "next") return;
    }
  });
  EXPECT_EQ(tx.flush(Deadline::after(20s)).status, IoStatus::ok);
  EXPECT_EQ(tx.send(bytes("next"), Deadline::after(20s)).status, IoStatus::ok);
  reader.join();
  std::vector<std::string> want(smalls - taken, "f");
  want.push_back(big);
  want.push_back("next");
  ASSERT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "every message whole and in order";
}

TEST(ChannelStream, OneListenerPerChannel) {
  test::TempDir dir;
  std::string unix_url = "unix://" + (dir.path() / "s.sock").string();
  Channel a = Channel::listen(unix_url);
  Error e = error_from([&] { (void)Channel::listen(unix_url); });
  EXPECT_EQ(e.errnum(), EADDRINUSE);
  EXPECT_TRUE(has_substring(e.what(), "another listener"));

  std::string fifo_url = "fifo://" + (dir.path() / "ch").string();
  Channel f = Channel::listen(fifo_url);
  Error ef = error_from([&] { (void)Channel::listen(fifo_url); });
  EXPECT_EQ(ef.errnum(), EADDRINUSE);
  EXPECT_TRUE(has_substring(ef.what(), "another listener"));
  struct stat st{};
  EXPECT_EQ(::lstat((dir.path() / "ch").c_str(), &st), 0) << "the refused listen removed nothing";
}

TEST(ChannelStream, ListenRemovesWhatItMadeAndLeavesWhatWasThere) {
  test::TempDir dir;
  const auto sock = dir.path() / "s.sock";
  const auto made = dir.path() / "made";
  const auto there = dir.path() / "there";
  ASSERT_EQ(::mkfifo(there.c_str(), 0600), 0);
  {
    Channel a = Channel::listen("unix://" + sock.string());
    Channel b = Channel::listen("fifo://" + made.string());
    Channel c = Channel::listen("fifo://" + there.string());
    EXPECT_TRUE(std::filesystem::exists(sock));
    EXPECT_TRUE(std::filesystem::exists(made));
  }
  EXPECT_FALSE(std::filesystem::exists(sock));
  EXPECT_FALSE(std::filesystem::exists(made));
  EXPECT_TRUE(std::filesystem::exists(there));
}

// A FIFO that was there is used only when it is this user's and closed to everyone else;
// otherwise another user who made it first would read the messages (or forge them).
TEST(ChannelStream, FifoListenerRefusesAFifoOfAnotherUser) {
  if (!test::can_become_nobody()) GTEST_SKIP() << "needs root to make a FIFO as user nobody";
  test::TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 01777), 0);  // a shared folder, like /tmp
  const auto path = dir.path() / "taken";
  test::Forked other([&] {
    if (!test::become_nobody()) return 10;
    ::umask(0);
    return ::mkfifo(path.c_str(), 0666) == 0 ? 0 : 11;
  });
  ASSERT_TRUE(other.wait().success());
  const Error e = error_from([&] { (void)Channel::listen("fifo://" + path.string()); });
  EXPECT_EQ(e.errnum(), EACCES) << e.what();
  EXPECT_TRUE(has_substring(e.what(), "uid 65534"));
  EXPECT_TRUE(has_substring(e.what(), "mode 0666"));
  EXPECT_TRUE(std::filesystem::exists(path));  // not ours to remove
}

TEST(ChannelStream, FifoListenerRefusesAFifoOthersMayWrite) {
  test::TempDir dir;
  const auto path = dir.path() / "open";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0620), 0);
  const Error e = error_from([&] { (void)Channel::listen("fifo://" + path.string()); });
  EXPECT_EQ(e.errnum(), EACCES) << e.what();
  EXPECT_TRUE(has_substring(e.what(), "has mode 0620"));
}

TEST(ChannelStream, FifoSenderRefusesAFifoOthersMayRead) {
  test::TempDir dir;
  const std::string url = "fifo://" + (dir.path() / "f").string();
  Channel rx = Channel::listen(url);
  ASSERT_EQ(::chmod((dir.path() / "f").c_str(), 0604), 0);
  const Error e = error_from([&] { (void)Channel::connect(url, {}, Deadline::after(10s)); });
  EXPECT_EQ(e.errnum(), EACCES) << e.what();
  EXPECT_TRUE(has_substring(e.what(), "has mode 0604"));
}

// An abstract name has no permissions: whoever binds it first is the listener, and anyone may
// connect. Both ends check the other's user (SO_PEERCRED); ?users=any lets others in.
TEST(ChannelStream, UnixSenderRefusesAListenerOfAnotherUserUnlessUsersAny) {
  if (!test::can_become_nobody()) GTEST_SKIP() << "needs root to listen as user nobody";
  const std::string url = "unix://@" + test::unique_name();
  Pipe listening = Pipe::create();
  test::Forked squatter([&] {
    if (!test::become_nobody()) return 10;
    Channel rx = Channel::listen(url + "?users=any");
    test::notify(listening.write_end);
    std::vector<std::byte> buf(rx.max_message());
    const IoResult r = rx.receive(buf, Deadline::after(20s));
    return r.ok() && text(buf, r.bytes) == "meant for nobody" ? 0 : 11;
  });
  ASSERT_TRUE(test::await(listening.read_end));
  const Error e = error_from([&] { (void)Channel::connect(url, {}, Deadline::after(10s)); });
  EXPECT_EQ(e.errnum(), EACCES) << e.what();
  EXPECT_TRUE(has_substring(e.what(), "uid 65534"));
  EXPECT_TRUE(has_substring(e.what(), "?users=any"));
  {
    Channel tx = Channel::connect(url + "?users=any", {}, Deadline::after(10s));
    ASSERT_TRUE(tx.send(bytes("meant for nobody")).ok());
  }
  EXPECT_TRUE(squatter.wait().success());
}

TEST(ChannelStream, UnixListenerHearsOnlyItsOwnUserUnlessUsersAny) {
  if (!test::can_become_nobody()) GTEST_SKIP() << "needs root to send as user nobody";
  for (const bool any : {false, true}) {
    const std::string url = "unix://@" + test::unique_name() + (any ? "?users=any" : "");
    Dropped dropped;
    Channel rx = Channel::listen(url, dropped.options());
    test::Forked intruder([&] {
      if (!test::become_nobody()) return 10;
      Channel tx = Channel::connect(url + (any ? "" : "?users=any"), {}, Deadline::after(10s));
      return tx.send(bytes("from nobody")).ok() ? 0 : 11;
    });
    ASSERT_TRUE(intruder.wait().success());
    {
      Channel tx = Channel::connect(url, {}, Deadline::after(10s));
      ASSERT_TRUE(tx.send(bytes("mine")).ok());
    }
    std::vector<std::string> got;
    std::vector<std::byte> buf(rx.max_message());
    for (IoResult r; (r = rx.receive(buf, Deadline::after(10s))).ok();) got.push_back(text(buf, r.bytes));
    std::sort(got.begin(), got.end());
    if (any) {
      EXPECT_EQ(got, (std::vector<std::string>{"from nobody", "mine"}));
      EXPECT_TRUE(dropped.reasons.empty());
    } else {
      EXPECT_EQ(got, std::vector<std::string>{"mine"});
      ASSERT_EQ(dropped.reasons.size(), 1U);
      EXPECT_TRUE(has_substring(dropped.reasons[0], "uid 65534"));
      EXPECT_TRUE(has_substring(dropped.reasons[0], "its connection was closed"));
    }
  }
}

TEST(ChannelStream, FifoMessagesAboveAtomicSizeNeedASenderAlone) {
  test::TempDir dir;
  Channel rx = Channel::listen("fifo://" + (dir.path() / "ch").string());
  Channel one = Channel::connect(rx.url());
  std::string big(8000, 'x');
  ASSERT_TRUE(one.send(bytes(big), Deadline::after(10s)).ok()) << "alone: large messages go";
  Channel two = Channel::connect(rx.url());
  Error e = error_from([&] { (void)one.send(bytes(big), Deadline::after(10s)); });
  EXPECT_EQ(e.errnum(), EBUSY);
  EXPECT_TRUE(has_substring(e.what(), "another sender has this FIFO open"));
  EXPECT_TRUE(has_substring(e.what(), "unix://"));
  // The refused conversion must not have left `one` without its shared lock: `two` is not
  // alone either.
  EXPECT_EQ(error_from([&] { (void)two.send(bytes(big), Deadline::after(10s)); }).errnum(), EBUSY);
  ASSERT_TRUE(two.send(bytes("small"), Deadline::after(10s)).ok()) << "small ones still go";
  std::vector<std::byte> buf(rx.max_message());
  IoResult r = rx.receive(buf, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), big);
  r = rx.receive(buf, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "small");
}

TEST(ChannelStream, FifoSkipsAFrameAboveItsMaximumExactlyAndGoesOn) {
  test::TempDir dir;
  Dropped dropped;
  Channel rx = Channel::listen("fifo://" + (dir.path() / "ch").string(), dropped.options());
  Channel tx = Channel::connect(rx.url());  // its maximum is 16 MiB, the listener's 1024
  const std::string huge(200000, '\0');
  std::thread sender([&] {
    EXPECT_TRUE(tx.send(bytes(huge), Deadline::after(20s)).ok());
    EXPECT_TRUE(tx.send(bytes("after"), Deadline::after(20s)).ok());
  });
  std::vector<std::byte> buf(rx.max_message());
  IoResult r = rx.receive(buf, Deadline::after(20s));
  sender.join();
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "after") << "the long frame's bytes were skipped, not read as frames";
  ASSERT_EQ(dropped.reasons.size(), 1U);
  EXPECT_TRUE(has_substring(dropped.reasons[0], "200000"));
}

TEST(ChannelStream, MemoryFollowsTheBytesThatCameNotTheLengthAnnounced) {
  test::TempDir dir;
  const auto path = dir.path() / "s.sock";
  Channel rx = Channel::listen("unix://" + path.string());
  auto resident = [] {
    std::ifstream statm("/proc/self/statm");
    std::size_t size = 0;
    std::size_t pages = 0;
    statm >> size >> pages;
    return pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  };
  std::vector<Socket> liars;
  std::vector<std::byte> buf(rx.max_message());
  (void)rx.try_receive(buf);  // the receive buffer itself is touched before measuring
  std::fill(buf.begin(), buf.end(), std::byte{1});
  const std::size_t before = resident();
  for (int i = 0; i < 32; ++i) {
    liars.push_back(Socket::connect_unix(UnixAddress::path(path)));
    write_raw(liars.back(), raw_length(16U << 20) + "x");  // announces 16 MiB, sends 1 byte
  }
  for (int i = 0; i < 8; ++i) EXPECT_EQ(rx.try_receive(buf).status, IoStatus::would_block);
  const std::size_t grown = resident() - std::min(before, resident());
  // Trusting the lengths would take 32 x 16 MiB = 512 MiB; 64 KiB each is 2 MiB.
  EXPECT_LT(grown, 64U << 20) << "resident memory grew by " << grown << " bytes";
}

// max_buffered bounds what a listener holds for messages in flight. While sender A's large
// message, half sent, holds memory beyond its first 64 KiB, a second large message (B's) gets
// none: its bytes wait in the kernel (B's send blocks) until A's is handed out. Both arrive
// whole. (Without a budget, 8 senders that stall mid-message took 131 MB.)
TEST(ChannelStream, MaxBufferedHoldsBackASecondLargeMessageUntilTheFirstIsOut) {
  test::TempDir dir;
  const auto path = dir.path() / "s.sock";
  Channel rx = Channel::listen("unix://" + path.string(),
                               {.max_message = 4U << 20, .max_buffered = 1U << 20});
  std::vector<std::byte> buf(rx.max_message());
  const std::string a_message(3U << 20, 'a');
  const std::string b_message(2U << 20, 'b');
  Socket a = Socket::connect_unix(UnixAddress::path(path));
  Pipe finish_a = Pipe::create();
  std::atomic<bool> a_half_sent{false};
  // jthreads: joined even when an assertion returns early (each ends within 30 s by itself).
  std::jthread a_writer([&] {
    const std::string frame_a = frame(a_message);
    write_raw(a, std::string_view(frame_a).substr(0, 4 + (2U << 20)));  // blocks until read
    a_half_sent = true;
    if (!test::await(finish_a.read_end)) return;
    write_raw(a, std::string_view(frame_a).substr(4 + (2U << 20)));
  });
  // The listener reads A's bytes while it looks for a whole message (there is none yet).
  while (!a_half_sent) EXPECT_EQ(rx.receive(buf, Deadline::after(50ms)).status, IoStatus::timed_out);
  std::atomic<bool> b_sent{false};
  std::jthread b_sender([&] {
    Channel tx = Channel::connect("unix://" + path.string(), {.max_message = 4U << 20});
    b_sent = tx.send(bytes(b_message), Deadline::after(30s)).ok();
  });
  // A holds ~2 MiB beyond its 64 KiB, more than the budget: B's message cannot be taken in.
  EXPECT_EQ(rx.receive(buf, Deadline::after(500ms)).status, IoStatus::timed_out);
  test::notify(finish_a.write_end);
  IoResult r = rx.receive(buf, Deadline::after(30s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_TRUE(text(buf, r.bytes) == a_message) << r.bytes << " bytes";
  r = rx.receive(buf, Deadline::after(30s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_TRUE(text(buf, r.bytes) == b_message) << r.bytes << " bytes";
  b_sender.join();
  EXPECT_TRUE(b_sent);
}

// A sender whose large message was handed out keeps its larger buffer for the next one; when
// another sender's message needs room the budget has not, that idle memory is given back
// (else the second would wait for good).
TEST(ChannelStream, AnIdleSendersMemoryIsGivenBackWhenAnotherNeedsIt) {
  test::TempDir dir;
  const std::string url = "unix://" + (dir.path() / "s.sock").string();
  const ChannelOptions options{.max_message = 256U << 10, .max_buffered = 16U << 10};
  Channel rx = Channel::listen(url, options);
  std::vector<std::byte> buf(rx.max_message());
  const std::string large(100U << 10, 'L');
  Channel first = Channel::connect(url, options, Deadline::after(10s));
  ASSERT_TRUE(first.send(bytes(large), Deadline::after(30s)).ok());
  IoResult r = rx.receive(buf, Deadline::after(30s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(r.bytes, large.size());
  // `first` stays connected and idle; a second sender's large message must still come.
  std::jthread second([&] {
    Channel tx = Channel::connect(url, options, Deadline::after(10s));
    (void)tx.send(bytes(large), Deadline::after(30s));
  });
  r = rx.receive(buf, Deadline::after(30s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), large);
}

// Several large messages at once under a small budget: each inbox grows part-way, then none
// may grow further and none can finish. One is let past the limit until its message is out,
// then the next: all arrive, whole.
TEST(ChannelStream, LargeMessagesAtOnceUnderASmallBudgetAllArrive) {
  test::TempDir dir;
  const std::string url = "unix://" + (dir.path() / "s.sock").string();
  const ChannelOptions options{.max_message = 4U << 20, .max_buffered = 1U << 20};
  Channel rx = Channel::listen(url, options);
  constexpr int kSenders = 4;
  std::vector<std::jthread> senders;
  for (int i = 0; i < kSenders; ++i) {
    senders.emplace_back([&, i] {
      Channel tx = Channel::connect(url, options, Deadline::after(10s));
      (void)tx.send(bytes(std::string(1U << 20, static_cast<char>('a' + i))), Deadline::after(60s));
    });
  }
  std::vector<std::byte> buf(rx.max_message());
  std::string firsts;
  for (int i = 0; i < kSenders; ++i) {
    const IoResult r = rx.receive(buf, Deadline::after(60s));
    ASSERT_EQ(r.status, IoStatus::ok) << "message " << i;
    ASSERT_EQ(r.bytes, 1U << 20);
    const std::string got = text(buf, r.bytes);
    EXPECT_EQ(got, std::string(got.size(), got[0]));
    firsts += got[0];
  }
  std::sort(firsts.begin(), firsts.end());
  EXPECT_EQ(firsts, "abcd");
}

// max_senders caps the connections a listener serves at once; the next waits in the backlog
// and is served once one goes. The listener says so once.
TEST(ChannelStream, SendersAboveMaxSendersWaitUntilOneGoes) {
  test::TempDir dir;
  const std::string url = "unix://" + (dir.path() / "s.sock").string();
  Dropped said;
  ChannelOptions options = said.options();
  options.max_senders = 2;
  Channel rx = Channel::listen(url, options);
  std::vector<std::byte> buf(rx.max_message());
  std::vector<Channel> senders;
  for (int i = 1; i <= 3; ++i) {
    senders.push_back(Channel::connect(url, {}, Deadline::after(10s)));
    ASSERT_TRUE(senders.back().send(bytes("from " + std::to_string(i))).ok());
  }
  std::vector<std::string> got;
  for (int i = 0; i < 2; ++i) {
    const IoResult r = rx.receive(buf, Deadline::after(10s));
    ASSERT_EQ(r.status, IoStatus::ok);
    got.push_back(text(buf, r.bytes));
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"from 1", "from 2"}));
  EXPECT_EQ(rx.receive(buf, Deadline::after(300ms)).status, IoStatus::timed_out);
  ASSERT_EQ(said.reasons.size(), 1U);
  EXPECT_TRUE(has_substring(said.reasons[0], "max_senders"));
  senders.erase(senders.begin());  // the first goes: the third is served
  const IoResult r = rx.receive(buf, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(text(buf, r.bytes), "from 3");
}

TEST(ChannelStream, ConnectWaitsForTheListenerUntilTheDeadline) {
  test::TempDir dir;
  for (std::string url : {"unix://" + (dir.path() / "none.sock").string(), "fifo://" + (dir.path() / "none").string(),
                          std::string("unix://@") + test::unique_name()}) {
    Error e = error_from([&] { (void)Channel::connect(url, {}, Deadline::after(50ms)); });
    EXPECT_EQ(e.errnum(), ETIMEDOUT) << url;
    EXPECT_TRUE(has_substring(e.what(), url));
    EXPECT_TRUE(has_substring(e.what(), "no listener"));
  }
}

}  // namespace
}  // namespace ipckit
