// Conformance of every Channel transport to the one contract of include/ipckit/channel.hpp
// (docs/architecture.md, "The channel contract"): whole messages, in order, nothing lost or duplicated; end of
// stream once every sender has gone (and not before one joined); "peer closed", never SIGPIPE,
// once the receiver has gone; deadlines honoured and nothing partial sent by a send that timed
// out; a sender killed mid-message never delivers half a message; several senders merged.
//
// Every case runs over every transport. A transport is one TransportCase: how to make a fresh
// URL, what to remove if a test dies half-way, and the few facts the cases need (a byte stream
// or datagrams, how large a message fills its buffer, what several senders may send, its
// largest message). shm:// runs twice: named (/dev/shm) and the memfd variant (shm://@NAME).
//
// Processes: senders that must be separate processes are forked (test::Forked) BEFORE the
// listener exists and get its URL through a pipe, so no child holds a copy of the listener's
// descriptors (which would keep a FIFO's read end or a socket open after the listener has
// gone). Processes are ordered with pipes (notify/await, put_text/get_text) and /proc (a child
// asleep in its send), never with sleeps. No test asserts how long anything took.

#include <gtest/gtest.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "test_util.hpp"

namespace ipckit {

namespace {

using namespace std::chrono_literals;
using test::Forked;
using test::has_substring;

static_assert(!std::is_copy_constructible_v<Channel>);
static_assert(std::is_nothrow_move_constructible_v<Channel>);

constexpr std::size_t kSixteenMiB = std::size_t{16} << 20;
constexpr std::size_t kFifoSharedMax = kPipeAtomicWrite - 4;  // PIPE_BUF less the 4-byte length

// --- The transports -------------------------------------------------------------------------

struct TransportCase {
  const char* name;  ///< the test name's suffix: ctest -R 'ChannelConformance.*unix'
  /// A fresh URL for listen(), unique to this process and call. Senders connect to the
  /// listener's url() (tcp: the port it bound), never to this.
  std::string (*make_url)(const test::TempDir& dir);
  /// Removes what a listener at `url` may have left when its process died (nullptr: nothing
  /// can be left, or the TempDir holds it).
  void (*remove_leftovers)(const std::string& url);
  /// The largest message a listener made with default options carries (max_message()).
  std::size_t (*default_max)();
  /// fifo, unix, tcp: messages are frames on a byte stream, so the kernel may hold part of
  /// one (a sender killed mid-send leaves a partial frame).
  bool byte_stream;
  /// The message size used to fill the channel until try_send returns false (0: the
  /// largest). FIFO: PIPE_BUF - 4, so each frame is one atomic pipe write; unix, tcp: 64 KiB,
  /// as their 16 MiB maximum is larger than any socket buffer.
  std::size_t fill_message;
  /// The largest message several senders at once may send (fifo: PIPE_BUF - 4).
  std::size_t several_senders_max;
};

void PrintTo(const TransportCase& c, std::ostream* os) {
  *os << c.name;
}

std::size_t proc_number(const char* path) {
  std::ifstream in(path);
  std::size_t value = 0;
  in >> value;
  return value;
}

std::size_t stream_max() {
  return kSixteenMiB;
}
std::size_t mq_max() {
  return std::min(kSixteenMiB, proc_number("/proc/sys/fs/mqueue/msgsize_max"));
}
std::size_t sysv_max() {
  return proc_number("/proc/sys/kernel/msgmax");
}

std::string fifo_url(const test::TempDir& dir) {
  return "fifo://" + (dir / test::unique_name("ch")).string();
}
std::string unix_path_url(const test::TempDir& dir) {
  return "unix://" + (dir / (test::unique_name("s") + ".sock")).string();
}
std::string unix_abstract_url(const test::TempDir&) {
  return "unix://@" + test::unique_name();
}
std::string tcp_url(const test::TempDir&) {
  return "tcp://127.0.0.1:0";
}
std::string mq_url(const test::TempDir&) {
  return "mq:///" + test::unique_name();
}

// A System V key made of this process's pid and a counter (0x7c PPPP NN), skipping any key
// that already has a queue.
std::string sysv_url(const test::TempDir&) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 256; ++attempt) {
    const unsigned n = counter++ & 0xFFU;
    const auto key =
        static_cast<key_t>(0x7C000000U | ((static_cast<unsigned>(::getpid()) & 0xFFFFU) << 8) | n);
    if (::msgget(key, 0) == -1 && errno == ENOENT) {
      char text[32];
      std::snprintf(text, sizeof text, "sysv-msg://0x%08x", static_cast<unsigned>(key));
      return text;
    }
  }
  throw std::runtime_error("no free System V key for this pid");
}

std::string shm_url(const test::TempDir&) {
  return "shm://" + test::unique_name();
}
// The memfd variant: nothing in /dev/shm to remove, ever.
std::string shm_memfd_url(const test::TempDir&) {
  return "shm://@" + test::unique_name();
}
// The segment of "shm://NAME" is the POSIX shm object "/ipckit-ch-NAME".
std::size_t shm_max() {
  return (std::size_t{1} << 20) / 2 - 16;  // ring::max_message_for(the default 1 MiB)
}
void remove_shm(const std::string& url) {
  (void)::shm_unlink(("/ipckit-ch-" + url.substr(std::string_view("shm://").size())).c_str());
}

void remove_mq(const std::string& url) {
  // "mq:///NAME": the queue is "/NAME". A queue already gone is fine.
  (void)::mq_unlink(url.substr(std::string_view("mq://").size()).c_str());
}

void remove_sysv(const std::string& url) {
  const std::string hex = url.substr(std::string_view("sysv-msg://").size());
  const auto key = static_cast<key_t>(std::stoul(hex, nullptr, 16));
  const int id = ::msgget(key, 0);
  if (id != -1) (void)::msgctl(id, IPC_RMID, nullptr);
}

const TransportCase kTransports[] = {
    {.name = "fifo",
     .make_url = fifo_url,
     .remove_leftovers = nullptr,
     .default_max = stream_max,
     .byte_stream = true,
     .fill_message = kFifoSharedMax,
     .several_senders_max = kFifoSharedMax},
    {.name = "unix_path",
     .make_url = unix_path_url,
     .remove_leftovers = nullptr,
     .default_max = stream_max,
     .byte_stream = true,
     .fill_message = 64 * 1024,
     .several_senders_max = kSixteenMiB},
    {.name = "unix_abstract",
     .make_url = unix_abstract_url,
     .remove_leftovers = nullptr,
     .default_max = stream_max,
     .byte_stream = true,
     .fill_message = 64 * 1024,
     .several_senders_max = kSixteenMiB},
    {.name = "tcp",
     .make_url = tcp_url,
     .remove_leftovers = nullptr,
     .default_max = stream_max,
     .byte_stream = true,
     .fill_message = 64 * 1024,
     .several_senders_max = kSixteenMiB},
    {.name = "mq",
     .make_url = mq_url,
     .remove_leftovers = remove_mq,
     .default_max = mq_max,
     .byte_stream = false,
     .fill_message = 0,
     .several_senders_max = kSixteenMiB},
    {.name = "sysv_msg",
     .make_url = sysv_url,
     .remove_leftovers = remove_sysv,
     .default_max = sysv_max,
     .byte_stream = false,
     .fill_message = 0,
     .several_senders_max = kSixteenMiB},
    {.name = "shm",
     .make_url = shm_url,
     .remove_leftovers = remove_shm,
     .default_max = shm_max,
     .byte_stream = false,
     .fill_message = 0,
     .several_senders_max = kSixteenMiB},
    {.name = "shm_memfd",
     .make_url = shm_memfd_url,
     .remove_leftovers = nullptr,
     .default_max = shm_max,
     .byte_stream = false,
     .fill_message = 0,
     .several_senders_max = kSixteenMiB},
};

// --- Messages the receiver can check without being told what was sent ----------------------
//
// Message `seq` of sender `stream` is `size` pseudo-random bytes seeded by (stream, seq); its
// first bytes are seq (4 bytes, little-endian) and the sender's number (1 byte), as far as the
// size allows, so a wrong message can say which one it was. The receiver regenerates the
// message it expects and compares every byte: order, content, count and boundaries at once.

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

void make_message(std::span<std::byte> out, std::uint32_t stream, std::uint32_t seq) {
  std::uint64_t state = mix((std::uint64_t{stream} << 32) | seq);
  std::size_t i = 0;
  for (; i + 8 <= out.size(); i += 8) {
    state += 0x9E3779B97F4A7C15ULL;
    const std::uint64_t word = mix(state);
    std::memcpy(out.data() + i, &word, 8);
  }
  if (i < out.size()) {
    state += 0x9E3779B97F4A7C15ULL;
    const std::uint64_t word = mix(state);
    std::memcpy(out.data() + i, &word, out.size() - i);
  }
  const std::array<std::byte, 5> header{std::byte(seq & 0xFF), std::byte((seq >> 8) & 0xFF),
                                        std::byte((seq >> 16) & 0xFF),
                                        std::byte((seq >> 24) & 0xFF), std::byte(stream & 0xFF)};
  std::memcpy(out.data(), header.data(), std::min(out.size(), header.size()));
}

std::uint32_t seq_of(std::span<const std::byte> message) {
  std::uint32_t seq = 0;
  for (std::size_t i = 0; i < 4 && i < message.size(); ++i)
    seq |= std::to_integer<std::uint32_t>(message[i]) << (8 * i);
  return seq;
}

testing::AssertionResult is_message(std::span<const std::byte> got, std::uint32_t stream,
                                    std::uint32_t seq, std::size_t size,
                                    std::vector<std::byte>& scratch) {
  if (scratch.size() < size) scratch.resize(size);
  const std::span<std::byte> expected = std::span{scratch}.first(size);
  make_message(expected, stream, seq);
  if (got.size() == size && std::equal(got.begin(), got.end(), expected.begin()))
    return testing::AssertionSuccess();
  auto failure = testing::AssertionFailure();
  failure << "expected message " << seq << " of sender " << stream << " (" << size
          << " bytes), got " << got.size() << " bytes";
  if (got.size() >= 5) {
    failure << " whose header says message " << seq_of(got) << " of sender "
            << std::to_integer<int>(got[4]);
  }
  if (got.size() == size) {
    auto diff = std::mismatch(got.begin(), got.end(), expected.begin());
    failure << "; first difference at byte " << (diff.first - got.begin());
  }
  return failure;
}

// --- Talking to the other processes --------------------------------------------------------

/// Sends one line of text (a URL, a number) through a pipe.
void put_text(const Fd& fd, std::string_view text) {
  const auto n = static_cast<std::uint32_t>(text.size());
  ASSERT_TRUE(fd.write_all(std::as_bytes(std::span{&n, 1})).ok());
  ASSERT_TRUE(fd.write_all(std::as_bytes(std::span{text.data(), text.size()})).ok());
}

/// put_text's text, or nullopt (and a failure) when none came within `timeout`.
std::optional<std::string> get_text(const Fd& fd, std::chrono::seconds timeout = 30s) {
  const Deadline deadline = Deadline::after(timeout);
  std::uint32_t n = 0;
  if (!fd.read_exact(std::as_writable_bytes(std::span{&n, 1}), deadline).ok()) {
    ADD_FAILURE() << "the other process said nothing within " << timeout.count() << " s";
    return std::nullopt;
  }
  std::string text(n, '\0');
  if (!fd.read_exact(std::as_writable_bytes(std::span{text.data(), text.size()}), deadline).ok()) {
    ADD_FAILURE() << "the other process stopped mid-sentence";
    return std::nullopt;
  }
  return text;
}

std::optional<std::uint32_t> get_number(const Fd& fd, std::chrono::seconds timeout = 30s) {
  auto text = get_text(fd, timeout);
  if (!text) return std::nullopt;
  return static_cast<std::uint32_t>(std::stoul(*text));
}

/// Waits until the task whose /proc stat file is `stat_path` sleeps ('S'): how a test knows
/// that a process or thread which announced "about to send" is now blocked inside that call.
bool wait_until_sleeping(const std::string& stat_path, std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream stat(stat_path);
    std::string line;
    std::getline(stat, line);
    const auto close_paren = line.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < line.size() &&
        line[close_paren + 2] == 'S')
      return true;
    std::this_thread::sleep_for(1ms);  // polling /proc, not standing in for synchronisation
  }
  return false;
}

/// Single-threaded process `pid`.
bool wait_until_asleep(pid_t pid, std::chrono::seconds timeout = 20s) {
  return wait_until_sleeping("/proc/" + std::to_string(pid) + "/stat", timeout);
}

/// Thread `tid` of this process.
bool wait_until_thread_asleep(pid_t tid, std::chrono::seconds timeout = 20s) {
  return wait_until_sleeping("/proc/self/task/" + std::to_string(tid) + "/stat", timeout);
}

/// In a sender child: joins the channel whose URL the parent put on `from` (put_text).
Channel connect_as_told(const Fd& from) {
  const std::optional<std::string> url = get_text(from);
  if (!url) throw std::runtime_error("no URL came from the parent");
  return Channel::connect(*url, {}, Deadline::after(10s));
}

/// A child's view of its own body: gtest failures inside it make it exit 101 (test::Forked).
int run_child(const std::function<void()>& body) {
  body();
  return 0;
}

// --- The fixture ----------------------------------------------------------------------------

class ChannelConformance : public ::testing::TestWithParam<TransportCase> {
 protected:
  /// A fresh URL for listen(); whatever may be left at it is removed in TearDown.
  std::string fresh_url() {
    urls_.push_back(GetParam().make_url(dir_));
    return urls_.back();
  }
  void TearDown() override {
    if (GetParam().remove_leftovers == nullptr) return;
    for (const std::string& url : urls_) GetParam().remove_leftovers(url);
  }
  /// The size of the messages that fill the channel.
  [[nodiscard]] std::size_t fill_size(std::size_t max_message) const {
    const std::size_t fill = GetParam().fill_message;
    return fill == 0 ? max_message : std::min(fill, max_message);
  }

  test::TempDir dir_;
  std::vector<std::string> urls_;
};

INSTANTIATE_TEST_SUITE_P(All, ChannelConformance, ::testing::ValuesIn(kTransports),
                         [](const testing::TestParamInfo<TransportCase>& info) {
                           return std::string(info.param.name);
                         });

// --- max_message() per transport -------------------------------------------------------------

TEST_P(ChannelConformance, MaxMessageIsTheTransportsLimit) {
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  EXPECT_EQ(rx.max_message(), GetParam().default_max());
  EXPECT_EQ(tx.max_message(), GetParam().default_max());
  EXPECT_TRUE(rx.is_listener());
  EXPECT_FALSE(tx.is_listener());
}

// --- 1. Order kept, nothing lost or duplicated ---------------------------------------------

constexpr std::uint32_t kStreamCount = 100'000;

// Sizes of the 100 000 messages, weighted to small ones so the test stays fast (a few seconds
// under ASan per transport): 90 % are 0..256 bytes, 9 % 257..4096, 1 % 257..64 KiB, all capped
// at max_message(); every 1000th (from the 7th) is exactly 0 bytes. Exactly max_message() is
// sent every 1000th message (from the 500th) where that is at most 64 KiB (mq, sysv-msg), and
// three times where it is 16 MiB (fifo, unix, tcp): enough to show the largest message passes
// whole, few enough to keep the test fast.
std::size_t stream_size(std::uint32_t i, std::size_t max) {
  if (i % 1000 == 7) return 0;
  if (max <= 64 * 1024 ? i % 1000 == 500 : (i == 500 || i == 50'500 || i == 99'500)) return max;
  const std::uint64_t h = mix(0x5EED0000ULL + i);
  const auto uniform = [&](std::size_t lo, std::size_t hi) {
    hi = std::min(hi, max);
    lo = std::min(lo, hi);
    return lo + static_cast<std::size_t>((h >> 8) % (hi - lo + 1));
  };
  const unsigned tier = static_cast<unsigned>(h % 100);
  if (tier < 90) return uniform(0, 256);
  if (tier < 99) return uniform(257, 4096);
  return uniform(257, 64 * 1024);
}

TEST_P(ChannelConformance, OrderKeptNothingLostOrDuplicated) {
  Pipe to_sender = Pipe::create();
  Pipe to_receiver = Pipe::create();
  Forked sender([&] {
    return run_child([&] {
      Channel tx = connect_as_told(to_sender.read_end);
      const std::size_t max = tx.max_message();
      put_text(to_receiver.write_end, std::to_string(max));
      std::vector<std::byte> message(max);
      for (std::uint32_t i = 0; i < kStreamCount; ++i) {
        const auto one = std::span{message}.first(stream_size(i, max));
        make_message(one, 0, i);
        const IoResult r = tx.send(one, Deadline::after(30s));
        ASSERT_EQ(r.status, IoStatus::ok)
            << "message " << i << " of " << one.size() << " bytes";
      }
    });
  });
  Channel rx = Channel::listen(fresh_url());
  put_text(to_sender.write_end, rx.url());
  const auto sender_max = get_number(to_receiver.read_end);
  ASSERT_TRUE(sender_max);
  ASSERT_EQ(*sender_max, rx.max_message()) << "both ends must agree on the largest message";
  const std::size_t max = rx.max_message();
  std::vector<std::byte> buffer(max);
  std::vector<std::byte> scratch(max);
  for (std::uint32_t i = 0; i < kStreamCount; ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok) << "message " << i;
    ASSERT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, i, stream_size(i, max), scratch))
        << "message " << i;
  }
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
  const ExitStatus status = sender.wait();
  EXPECT_TRUE(status.success()) << "sender " << status.to_string();
}

// --- 2. End of stream ---------------------------------------------------------------------

TEST_P(ChannelConformance, EndOfStreamWhenTheSenderCloses) {
  Channel rx = Channel::listen(fresh_url());
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  // No sender has joined yet: nothing to receive, but not the end either.
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);
  EXPECT_EQ(rx.receive(buffer, Deadline::after(50ms)).status, IoStatus::timed_out);

  std::vector<std::byte> message(100);
  {
    Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
    for (std::uint32_t i = 0; i < 3; ++i) {
      make_message(message, 0, i);
      ASSERT_EQ(tx.send(message, Deadline::after(10s)).status, IoStatus::ok);
    }
  }  // the only sender closes
  for (std::uint32_t i = 0; i < 3; ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(10s));
    ASSERT_EQ(r.status, IoStatus::ok) << "message " << i;
    EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, i, message.size(), scratch));
  }
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);

  // The listener stays bound: it waits for new senders, and serves the next one the same way.
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);
  {
    Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
    make_message(message, 1, 0);
    ASSERT_EQ(tx.send(message, Deadline::after(10s)).status, IoStatus::ok);
  }
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 1, 0, message.size(), scratch));
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
}

// --- 3. Peer closed, never SIGPIPE --------------------------------------------------------

// In a sender whose receiver has gone, with SIGPIPE at its default action (which would kill
// the process): sends may still succeed while the kernel buffers them, then they give
// peer_closed, and go on giving it.
void send_until_peer_closed(Channel& tx) {
  ASSERT_NE(::signal(SIGPIPE, SIG_DFL), SIG_ERR);
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ASSERT_EQ(::sigprocmask(SIG_UNBLOCK, &pipe_only, nullptr), 0);
  std::vector<std::byte> message(std::min<std::size_t>(1024, tx.max_message()));
  for (std::uint32_t i = 0; i < 100'000; ++i) {
    make_message(message, 0, i);
    const IoResult r = tx.send(message, Deadline::after(10s));
    if (r.status == IoStatus::ok) continue;
    ASSERT_EQ(r.status, IoStatus::peer_closed) << "send " << i << " after the receiver went";
    EXPECT_EQ(tx.send(message, Deadline::after(10s)).status, IoStatus::peer_closed)
        << "and again";
    EXPECT_FALSE(tx.try_send(message)) << "and with try_send";
    return;
  }
  ADD_FAILURE() << "100000 sends succeeded after the receiver went; none gave peer_closed";
}

TEST_P(ChannelConformance, PeerClosedWhenTheReceiverGoes) {
  Pipe to_sender = Pipe::create();
  Pipe to_receiver = Pipe::create();
  Forked sender([&] {
    return run_child([&] {
      Channel tx = connect_as_told(to_sender.read_end);
      std::vector<std::byte> hello(10);
      make_message(hello, 0, 0);
      ASSERT_EQ(tx.send(hello, Deadline::after(10s)).status, IoStatus::ok);
      test::notify(to_receiver.write_end);
      ASSERT_TRUE(test::await(to_sender.read_end));  // the listener has gone
      send_until_peer_closed(tx);
    });
  });
  {
    Channel rx = Channel::listen(fresh_url());
    put_text(to_sender.write_end, rx.url());
    ASSERT_TRUE(test::await(to_receiver.read_end));
    std::vector<std::byte> buffer(rx.max_message());
    EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::ok);
  }  // the listener goes
  test::notify(to_sender.write_end);
  const ExitStatus status = sender.wait();
  EXPECT_TRUE(status.success()) << "sender " << status.to_string()
                                << " (killed by SIGPIPE: the send raised it)";
}

TEST_P(ChannelConformance, PeerClosedWhenTheReceiverIsKilled) {
  const std::string url = fresh_url();
  Pipe to_parent = Pipe::create();
  Pipe never = Pipe::create();
  Forked receiver([&] {
    return run_child([&] {
      Channel rx = Channel::listen(url);
      put_text(to_parent.write_end, rx.url());
      (void)test::await(never.read_end);  // killed before anything comes
    });
  });
  const auto listening = get_text(to_parent.read_end);
  ASSERT_TRUE(listening);
  Pipe to_sender = Pipe::create();
  Forked sender([&] {
    return run_child([&] {
      Channel tx = Channel::connect(*listening, {}, Deadline::after(10s));
      std::vector<std::byte> hello(10);
      make_message(hello, 0, 0);
      ASSERT_EQ(tx.send(hello, Deadline::after(10s)).status, IoStatus::ok);
      test::notify(to_parent.write_end);
      ASSERT_TRUE(test::await(to_sender.read_end));  // the listener was killed
      send_until_peer_closed(tx);
    });
  });
  ASSERT_TRUE(test::await(to_parent.read_end));
  ASSERT_EQ(::kill(receiver.pid(), SIGKILL), 0);
  const ExitStatus killed = receiver.wait();
  EXPECT_EQ(killed.signal, SIGKILL) << killed.to_string();
  test::notify(to_sender.write_end);
  const ExitStatus status = sender.wait();
  EXPECT_TRUE(status.success()) << "sender " << status.to_string()
                                << " (killed by SIGPIPE: the send raised it)";
}

// --- 4. Deadlines ---------------------------------------------------------------------------

TEST_P(ChannelConformance, DeadlinesHonoured) {
  Pipe to_sender = Pipe::create();
  Pipe to_receiver = Pipe::create();
  Forked sender([&] {
    return run_child([&] {
      Channel tx = connect_as_told(to_sender.read_end);
      test::notify(to_receiver.write_end);           // joined
      ASSERT_TRUE(test::await(to_sender.read_end));  // the receiver has tried its deadlines: fill
      // Fill the channel: try_send until it says no, then a send with a short deadline must
      // time out and try_send still say no. A send that gets through meanwhile (TCP moves data
      // from the sender's buffer to the receiver's) is counted and the filling goes on.
      std::vector<std::byte> message(fill_size(tx.max_message()));
      std::uint32_t sent = 0;
      bool full = false;
      for (std::size_t bytes = 0; !full && bytes < (std::size_t{256} << 20);
           bytes += message.size()) {
        make_message(message, 0, sent);
        if (tx.try_send(message)) {
          ++sent;
          continue;
        }
        const IoResult r = tx.send(message, Deadline::after(50ms));
        if (r.ok()) {
          ++sent;
          continue;
        }
        ASSERT_EQ(r.status, IoStatus::timed_out)
            << "a send on a full channel, with a deadline";
        if (tx.try_send(message)) {
          ++sent;
          continue;
        }
        full = true;
      }
      ASSERT_TRUE(full) << "256 MiB went in without the channel ever being full";
      put_text(to_receiver.write_end, std::to_string(sent));
      // Nothing of the message that timed out was sent: the next one follows the last whole one.
      std::vector<std::byte> last(100);
      make_message(last, 0, sent);
      EXPECT_EQ(tx.send(last, Deadline::after(30s)).status, IoStatus::ok);
    });
  });
  Channel rx = Channel::listen(fresh_url());
  put_text(to_sender.write_end, rx.url());
  ASSERT_TRUE(test::await(to_receiver.read_end));
  std::vector<std::byte> buffer(rx.max_message());
  // A sender is there but sends nothing.
  EXPECT_EQ(rx.receive(buffer, Deadline::after(50ms)).status, IoStatus::timed_out);
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);
  test::notify(to_sender.write_end);

  const auto sent = get_number(to_receiver.read_end, 20s);
  ASSERT_TRUE(sent)
      << "the sender did not fill the channel within 20 s: did a send block past its deadline?";
  const std::size_t fill = fill_size(rx.max_message());
  std::vector<std::byte> scratch;
  for (std::uint32_t i = 0; i <= *sent; ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok) << "message " << i << " of " << *sent + 1;
    ASSERT_TRUE(
        is_message(std::span{buffer}.first(r.bytes), 0, i, i < *sent ? fill : 100, scratch));
  }
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
  const ExitStatus status = sender.wait();
  EXPECT_TRUE(status.success()) << "sender " << status.to_string();
}

// A byte stream cannot take back half a frame: a send whose deadline passes after the kernel
// took part of the message says ok and the end keeps the rest, which goes first (flush(), the
// next send) and blocks what comes after it. A datagram transport holds nothing.
TEST_P(ChannelConformance, FlushSendsTheRestOfAMessageCutByADeadline) {
  const bool byte_stream = GetParam().byte_stream;
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  // Nobody reads yet: on a byte stream the 16 MiB frame is larger than any kernel buffer.
  std::vector<std::byte> large(tx.max_message());
  make_message(large, 0, 0);
  ASSERT_EQ(tx.send(large, Deadline::after(50ms)).status, IoStatus::ok);
  std::vector<std::byte> small(100);
  make_message(small, 0, 1);
  if (byte_stream) {
    EXPECT_EQ(tx.flush(Deadline::now()).status, IoStatus::would_block);
    EXPECT_EQ(tx.flush(Deadline::after(50ms)).status, IoStatus::timed_out);
    EXPECT_FALSE(tx.try_send(small)) << "the rest of the large message goes first";
    EXPECT_EQ(tx.send(small, Deadline::after(50ms)).status, IoStatus::timed_out);
  } else {
    EXPECT_EQ(tx.flush(Deadline::now()).status, IoStatus::ok)
        << "a datagram transport holds nothing";
  }
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  {
    IoResult flushed{};
    std::jthread flusher([&] { flushed = tx.flush(Deadline::after(30s)); });
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok);
    EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, 0, large.size(), scratch));
    flusher.join();
    EXPECT_EQ(flushed.status, IoStatus::ok);
  }
  // Nothing of the small message went while it was refused; now it goes, and nothing else.
  ASSERT_EQ(tx.send(small, Deadline::after(10s)).status, IoStatus::ok);
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, 1, small.size(), scratch));
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);
}

// A sender destroyed while it holds the rest of a cut frame waits for it at most a second;
// nobody reads here, so the frame stays cut: the listener drops it (and says so) and ends the
// stream. A datagram transport held nothing back: its message arrives whole.
TEST_P(ChannelConformance, SenderDestroyedWithAMessageCutByADeadline) {
  const bool byte_stream = GetParam().byte_stream;
  std::vector<std::string> dropped;
  ChannelOptions options;
  options.on_sender_dropped = [&](const std::string& reason) { dropped.push_back(reason); };
  Channel rx = Channel::listen(fresh_url(), options);
  std::size_t large_size = 0;
  {
    Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
    std::vector<std::byte> large(tx.max_message());
    large_size = large.size();
    make_message(large, 0, 0);
    ASSERT_EQ(tx.send(large, Deadline::after(50ms)).status, IoStatus::ok);
  }
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  if (!byte_stream) {
    const IoResult r = rx.receive(buffer, Deadline::after(10s));
    ASSERT_EQ(r.status, IoStatus::ok);
    EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, 0, large_size, scratch));
  }
  const IoResult last = rx.receive(buffer, Deadline::after(10s));
  EXPECT_EQ(last.status, IoStatus::end_of_stream)
      << (last.ok() ? "a message of " + std::to_string(last.bytes) + " bytes came: the cut one?"
                    : "");
  if (byte_stream) {
    EXPECT_EQ(dropped.size(), 1U)
        << "on_sender_dropped is called for the connection that ended mid-frame";
  }
}

// --- 5. A sender killed mid-message --------------------------------------------------------

// The sender sends some whole messages, then one as large as the transport allows, which
// blocks part-way: on a byte stream the 16 MiB frame is larger than any kernel buffer, so the
// kernel has taken part of it (the whole messages before it fit, so there was room); on a
// datagram transport the channel is filled first, so the large message waits whole. It is
// SIGKILLed while asleep in that send. The receiver must get every whole message, nothing of
// the partial one, then end of stream.
TEST_P(ChannelConformance, SenderKilledMidMessage) {
  const bool byte_stream = GetParam().byte_stream;
  Pipe to_sender = Pipe::create();
  Pipe to_receiver = Pipe::create();
  Forked sender([&] {
    return run_child([&] {
      Channel tx = connect_as_told(to_sender.read_end);
      std::uint32_t sent = 0;
      std::vector<std::byte> message(fill_size(tx.max_message()));
      if (byte_stream) {
        message.resize(1000);
        for (; sent < 3; ++sent) {
          make_message(message, 0, sent);
          ASSERT_EQ(tx.send(message, Deadline::after(10s)).status, IoStatus::ok);
        }
      } else {
        for (; sent < 100'000; ++sent) {
          make_message(message, 0, sent);
          if (!tx.try_send(message)) break;
        }
        ASSERT_LT(sent, 100'000U) << "the channel never filled";
      }
      std::vector<std::byte> large(tx.max_message());
      make_message(large, 0, sent);
      put_text(to_receiver.write_end, std::to_string(sent));
      const IoResult r = tx.send(large);  // blocks until killed
      ADD_FAILURE() << "the largest message did not block: " << to_string(r.status);
    });
  });
  std::mutex dropped_mutex;
  std::vector<std::string> dropped;
  ChannelOptions options;
  options.on_sender_dropped = [&](const std::string& reason) {
    std::lock_guard lock(dropped_mutex);
    dropped.push_back(reason);
  };
  Channel rx = Channel::listen(fresh_url(), options);
  put_text(to_sender.write_end, rx.url());
  const auto sent = get_number(to_receiver.read_end);
  ASSERT_TRUE(sent);
  ASSERT_TRUE(wait_until_asleep(sender.pid())) << "the sender never blocked in its large send";
  ASSERT_EQ(::kill(sender.pid(), SIGKILL), 0);
  const ExitStatus killed = sender.wait();
  ASSERT_EQ(killed.signal, SIGKILL) << "sender " << killed.to_string();

  const std::size_t whole_size = byte_stream ? 1000 : fill_size(rx.max_message());
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  for (std::uint32_t i = 0; i < *sent; ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(10s));
    ASSERT_EQ(r.status, IoStatus::ok) << "message " << i << " of " << *sent;
    ASSERT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, i, whole_size, scratch));
  }
  const IoResult last = rx.receive(buffer, Deadline::after(10s));
  EXPECT_EQ(last.status, IoStatus::end_of_stream)
      << (last.ok() ? "a message of " + std::to_string(last.bytes) + " bytes came: the partial one?"
                    : "");
  if (byte_stream) {
    std::lock_guard lock(dropped_mutex);
    EXPECT_EQ(dropped.size(), 1U)
        << "on_sender_dropped is called for the connection that ended mid-frame";
    for (const std::string& reason : dropped) EXPECT_FALSE(reason.empty());
  }
}

// --- 6. Several senders ---------------------------------------------------------------------

constexpr std::uint32_t kSenders = 4;
constexpr std::uint32_t kPerSender = 5000;

// 5 bytes at least (the header says which sender and message), mostly up to 256, a fifth up
// to `cap` (fifo: PIPE_BUF - 4, so that several senders may share it; at most 4092 anyway).
std::size_t several_size(std::uint32_t sender, std::uint32_t seq, std::size_t cap) {
  cap = std::min<std::size_t>(cap, kFifoSharedMax);
  const std::uint64_t h = mix((std::uint64_t{sender} << 32) ^ seq ^ 0xABCDEF);
  const std::size_t hi = h % 5 == 0 ? cap : std::min<std::size_t>(256, cap);
  return 5 + static_cast<std::size_t>((h >> 8) % (hi - 5 + 1));
}

TEST_P(ChannelConformance, SeveralSenders) {
  const std::size_t cap = GetParam().several_senders_max;
  std::vector<Pipe> urls;
  for (std::uint32_t s = 0; s < kSenders; ++s) urls.push_back(Pipe::create());
  Pipe joined = Pipe::create();
  Pipe go = Pipe::create();
  std::vector<std::unique_ptr<Forked>> senders;
  for (std::uint32_t s = 0; s < kSenders; ++s) {
    senders.push_back(std::make_unique<Forked>([&, s] {
      return run_child([&] {
        auto url = get_text(urls[s].read_end);
        ASSERT_TRUE(url);
        Channel tx = Channel::connect(*url, {}, Deadline::after(10s));
        // Every sender joins before any sends (and so before any leaves): the receiver's end
        // of stream must wait for all four.
        test::notify(joined.write_end);
        ASSERT_TRUE(test::await(go.read_end));
        std::vector<std::byte> message(std::min(cap, tx.max_message()));
        for (std::uint32_t i = 0; i < kPerSender; ++i) {
          const auto one =
              std::span{message}.first(several_size(s, i, std::min(cap, tx.max_message())));
          make_message(one, s, i);
          ASSERT_EQ(tx.send(one, Deadline::after(30s)).status, IoStatus::ok)
              << "sender " << s << " message " << i;
        }
      });
    }));
  }
  Channel rx = Channel::listen(fresh_url());
  for (std::uint32_t s = 0; s < kSenders; ++s) put_text(urls[s].write_end, rx.url());
  for (std::uint32_t s = 0; s < kSenders; ++s)
    ASSERT_TRUE(test::await(joined.read_end)) << "sender " << s << " of 4";
  for (std::uint32_t s = 0; s < kSenders; ++s) test::notify(go.write_end);

  const std::size_t max = std::min(cap, rx.max_message());
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  std::array<std::uint32_t, kSenders> next{};
  for (std::uint32_t n = 0; n < kSenders * kPerSender; ++n) {
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok) << "after " << n << " messages";
    const auto got = std::span{buffer}.first(r.bytes);
    ASSERT_GE(got.size(), 5U) << "message " << n << " is too short to be one of ours";
    const auto s = std::to_integer<std::uint32_t>(got[4]);
    ASSERT_LT(s, kSenders) << "message " << n;
    ASSERT_LT(next[s], kPerSender) << "sender " << s << " sent more than " << kPerSender;
    ASSERT_TRUE(is_message(got, s, next[s], several_size(s, next[s], max), scratch))
        << "message " << n;
    ++next[s];
  }
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
  for (std::uint32_t s = 0; s < kSenders; ++s) {
    const ExitStatus status = senders[s]->wait();
    EXPECT_TRUE(status.success()) << "sender " << s << " " << status.to_string();
  }
}

// --- 7. Errors common to all ----------------------------------------------------------------

TEST_P(ChannelConformance, MessageAboveMaxIsAnErrorAndSendsNothing) {
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::vector<std::byte> too_large(tx.max_message() + 1);
  const Error e = test::error_from([&] { (void)tx.send(too_large); });
  EXPECT_EQ(e.errnum(), EMSGSIZE) << e.what();
  EXPECT_EQ(test::error_from([&] { (void)tx.try_send(too_large); }).errnum(), EMSGSIZE);

  std::vector<std::byte> small(10);
  make_message(small, 0, 0);
  ASSERT_EQ(tx.send(small, Deadline::after(10s)).status, IoStatus::ok);
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, 0, small.size(), scratch));
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);
}

TEST_P(ChannelConformance, ReceiveBufferBelowMaxIsAnErrorAndConsumesNothing) {
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::vector<std::byte> small(10);
  make_message(small, 0, 0);
  ASSERT_EQ(tx.send(small, Deadline::after(10s)).status, IoStatus::ok);
  std::vector<std::byte> short_buffer(rx.max_message() - 1);
  const Error e = test::error_from([&] { (void)rx.receive(short_buffer, Deadline::after(10s)); });
  EXPECT_TRUE(has_substring(e.what(), std::to_string(rx.max_message())));
  (void)test::error_from([&] { (void)rx.try_receive(short_buffer); });

  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, 0, small.size(), scratch));
}

TEST_P(ChannelConformance, WrongDirectionIsAnError) {
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::vector<std::byte> message(10);
  std::vector<std::byte> buffer(std::max(rx.max_message(), tx.max_message()));
  EXPECT_TRUE(has_substring(test::message_of([&] { (void)rx.send(message); }), rx.url()));
  EXPECT_TRUE(has_substring(test::message_of([&] { (void)tx.receive(buffer); }), tx.url()));
  // Neither mistake moved anything.
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);
}

TEST_P(ChannelConformance, ConnectWithoutListenerFailsAtTheDeadline) {
  std::string url;
  {
    Channel rx = Channel::listen(fresh_url());
    url = rx.url();  // tcp: the port it bound; then nothing listens there
  }
  const Error e =
      test::error_from([&] { (void)Channel::connect(url, {}, Deadline::after(100ms)); });
  EXPECT_EQ(e.errnum(), ETIMEDOUT) << e.what();
  EXPECT_TRUE(has_substring(e.what(), url));
}

// --- Threads: an end is one thread's at a time ----------------------------------------------

// While one thread waits inside receive(), another thread's receive() on the same end throws
// EBUSY at once and takes nothing; the first one then gets its message.
TEST_P(ChannelConformance, ASecondThreadInsideAnEndIsAnError) {
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::atomic<pid_t> tid{0};
  std::atomic<bool> entering{false};
  std::string got;
  std::thread waiter([&] {
    std::vector<std::byte> buffer(rx.max_message());
    tid = test::this_tid();
    entering = true;
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    if (r.ok()) got.assign(reinterpret_cast<const char*>(buffer.data()), r.bytes);
  });
  while (!entering) std::this_thread::yield();
  ASSERT_TRUE(wait_until_thread_asleep(tid)) << "the receiving thread never slept";
  std::vector<std::byte> buffer(rx.max_message());
  const Error e = test::error_from([&] { (void)rx.receive(buffer, Deadline::now()); });
  EXPECT_EQ(e.errnum(), EBUSY) << e.what();
  EXPECT_TRUE(has_substring(e.what(), "one thread's at a time"));
  const std::string text = "for the first thread";
  ASSERT_EQ(tx.send(std::as_bytes(std::span{text}), Deadline::after(10s)).status, IoStatus::ok);
  waiter.join();
  EXPECT_EQ(got, text);
}

// Two threads sending on one end as fast as they can: each send either went (ok) or was
// refused loudly (EBUSY). Every ok message arrives once, whole, in its thread's order.
TEST_P(ChannelConformance, TwoThreadsOnOneEndLoseNothingSilently) {
  constexpr std::uint32_t kPerThread = 2000;
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::vector<std::pair<std::uint32_t, std::uint32_t>> received;  // (thread, sequence)
  std::string bad;
  std::thread receiver([&] {
    std::vector<std::byte> buffer(rx.max_message());
    for (;;) {
      const IoResult r = rx.receive(buffer, Deadline::after(30s));
      if (r.status != IoStatus::ok) {
        if (r.status != IoStatus::end_of_stream) bad = std::string("receive gave ") + to_string(r.status);
        return;
      }
      std::uint32_t thread = 0;
      std::uint32_t sequence = 0;
      if (r.bytes != 2 * sizeof(std::uint32_t) + 8 ||
          std::memcmp(buffer.data() + 2 * sizeof(std::uint32_t), "two-thrd", 8) != 0) {
        bad = "a message of " + std::to_string(r.bytes) + " bytes that no thread sent";
        continue;
      }
      std::memcpy(&thread, buffer.data(), sizeof thread);
      std::memcpy(&sequence, buffer.data() + sizeof thread, sizeof sequence);
      received.emplace_back(thread, sequence);
    }
  });
  std::atomic<std::uint32_t> refused{0};
  std::uint32_t sent[2] = {0, 0};
  std::vector<std::thread> senders;
  for (std::uint32_t t = 0; t < 2; ++t) {
    senders.emplace_back([&, t] {
      std::byte message[2 * sizeof(std::uint32_t) + 8];
      std::memcpy(message + 2 * sizeof(std::uint32_t), "two-thrd", 8);
      for (std::uint32_t i = 0; i < kPerThread; ++i) {
        std::memcpy(message, &t, sizeof t);
        std::memcpy(message + sizeof t, &sent[t], sizeof sent[t]);
        try {
          if (tx.send(message, Deadline::after(30s)).ok()) ++sent[t];
        } catch (const Error& e) {
          if (e.errnum() != EBUSY) throw;
          ++refused;
        }
      }
    });
  }
  for (std::thread& s : senders) s.join();
  { Channel gone = std::move(tx); }  // end of stream for the receiver
  receiver.join();
  EXPECT_EQ(bad, "");
  std::uint32_t next[2] = {0, 0};
  for (const auto& [thread, sequence] : received) {
    ASSERT_LT(thread, 2U);
    EXPECT_EQ(sequence, next[thread]) << "thread " << thread;
    next[thread] = sequence + 1;
  }
  EXPECT_EQ(next[0], sent[0]);
  EXPECT_EQ(next[1], sent[1]);
  EXPECT_EQ(sent[0] + sent[1] + refused, 2 * kPerThread);
}

// --- fifo: several senders and PIPE_BUF ------------------------------------------------------

TEST(ChannelConformanceFifo, LargeMessageWithOtherSendersIsAnErrorThatSaysSo) {
  test::TempDir dir;
  Channel rx = Channel::listen(fifo_url(dir));
  Channel a = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::optional<Channel> b{Channel::connect(rx.url(), {}, Deadline::after(10s))};
  std::vector<std::byte> large(kFifoSharedMax + 1);
  make_message(large, 0, 99);
  const std::string message = test::message_of([&] { (void)a.send(large); });
  EXPECT_TRUE(has_substring(message, "sender"))
      << "the error says why: other senders share the FIFO";
  EXPECT_TRUE(has_substring(message, std::to_string(kFifoSharedMax)));

  // Up to PIPE_BUF - 4 bytes both may send; the large message sent nothing.
  std::vector<std::byte> largest_shared(kFifoSharedMax);
  make_message(largest_shared, 0, 0);
  ASSERT_EQ(a.send(largest_shared, Deadline::after(10s)).status, IoStatus::ok);
  make_message(largest_shared, 1, 0);
  ASSERT_EQ(b->send(largest_shared, Deadline::after(10s)).status, IoStatus::ok);
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  for (std::uint32_t s = 0; s < 2; ++s) {
    const IoResult r = rx.receive(buffer, Deadline::after(10s));
    ASSERT_EQ(r.status, IoStatus::ok);
    EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), s, 0, kFifoSharedMax, scratch));
  }

  // Once b has gone, a is alone and may send the large message.
  b.reset();
  ASSERT_EQ(a.send(large, Deadline::after(10s)).status, IoStatus::ok);
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, 99, large.size(), scratch));
}

TEST(ChannelConformanceFifo, SenderAloneMaySendLargeMessages) {
  test::TempDir dir;
  const std::array<std::size_t, 3> sizes{kFifoSharedMax + 1, (64 << 10) + 1,
                                         1 << 20};  // the last two exceed the pipe
  Pipe to_sender = Pipe::create();
  Forked sender([&] {
    return run_child([&] {
      Channel tx = connect_as_told(to_sender.read_end);
      for (std::uint32_t i = 0; i < sizes.size(); ++i) {
        std::vector<std::byte> message(sizes[i]);
        make_message(message, 0, i);
        ASSERT_EQ(tx.send(message, Deadline::after(30s)).status, IoStatus::ok)
            << sizes[i] << " bytes";
      }
    });
  });
  Channel rx = Channel::listen(fifo_url(dir));
  put_text(to_sender.write_end, rx.url());
  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  for (std::uint32_t i = 0; i < sizes.size(); ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok) << "message " << i;
    EXPECT_TRUE(is_message(std::span{buffer}.first(r.bytes), 0, i, sizes[i], scratch));
  }
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
  const ExitStatus status = sender.wait();
  EXPECT_TRUE(status.success()) << "sender " << status.to_string();
}

// --- Messages without copies: loan() and receive(deadline) -------------------------------------

// Loaned messages (some sent shorter than the loan, some by the copying send between them)
// and messages received in place keep the contract: whole, in order, nothing lost.
TEST_P(ChannelConformance, LoanedMessagesReceivedInPlaceKeepOrderAndBoundaries) {
  constexpr std::uint32_t kCount = 20'000;
  Pipe to_sender = Pipe::create();
  Forked sender([&] {
    return run_child([&] {
      Channel tx = connect_as_told(to_sender.read_end);
      const std::size_t max = tx.max_message();
      std::vector<std::byte> copy(max);
      for (std::uint32_t i = 0; i < kCount; ++i) {
        const std::size_t size = stream_size(i, max);
        if (i % 3 == 2) {  // the copying send, between loans
          make_message(std::span{copy}.first(size), 0, i);
          ASSERT_EQ(tx.send(std::span{copy}.first(size), Deadline::after(30s)).status, IoStatus::ok) << i;
          continue;
        }
        // Every other loan asks for more than it sends.
        Loan l = tx.loan(i % 3 == 1 ? std::min(max, size + 100) : size, Deadline::after(30s));
        ASSERT_EQ(l.status(), IoStatus::ok) << "loan " << i;
        make_message(l.bytes().first(size), 0, i);
        ASSERT_EQ(l.send(size).status, IoStatus::ok) << "message " << i;
      }
    });
  });
  Channel rx = Channel::listen(fresh_url());
  put_text(to_sender.write_end, rx.url());
  const std::size_t max = rx.max_message();
  std::vector<std::byte> scratch(max);
  for (std::uint32_t i = 0; i < kCount; ++i) {
    const Message m = rx.receive(Deadline::after(30s));
    ASSERT_EQ(m.status(), IoStatus::ok) << "message " << i;
    ASSERT_TRUE(is_message(m.bytes(), 0, i, stream_size(i, max), scratch)) << "message " << i;
  }
  EXPECT_EQ(rx.receive(Deadline::after(10s)).status(), IoStatus::end_of_stream);
  const ExitStatus status = sender.wait();
  EXPECT_TRUE(status.success()) << "sender " << status.to_string();
}

// A loan dropped unsent sends nothing; the room is there for the next message.
TEST_P(ChannelConformance, AnAbandonedLoanSendsNothing) {
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  {
    Loan dropped = tx.loan(10, Deadline::after(10s));
    ASSERT_TRUE(dropped.ok());
    make_message(dropped.bytes(), 0, 99);
  }
  Loan abandoned = tx.loan(10, Deadline::after(10s));
  ASSERT_TRUE(abandoned.ok());
  abandoned.abandon();
  EXPECT_TRUE(abandoned.bytes().empty());
  std::vector<std::byte> small(10);
  make_message(small, 0, 0);
  ASSERT_EQ(tx.send(small, Deadline::after(10s)).status, IoStatus::ok);
  std::vector<std::byte> scratch;
  Message m = rx.receive(Deadline::after(10s));
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(is_message(m.bytes(), 0, 0, small.size(), scratch));
  m.release();
  EXPECT_TRUE(m.bytes().empty());
  EXPECT_EQ(rx.receive(Deadline::now()).status(), IoStatus::would_block);
}

// One Message and one Loan of an end at a time, and no copying call beside them: each mistake
// is an Error that moves nothing.
TEST_P(ChannelConformance, OneMessageAndOneLoanAtATime) {
  Channel rx = Channel::listen(fresh_url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::vector<std::byte> small(10);
  for (std::uint32_t i = 0; i < 2; ++i) {
    make_message(small, 0, i);
    ASSERT_EQ(tx.send(small, Deadline::after(10s)).status, IoStatus::ok);
  }
  Loan held = tx.loan(8, Deadline::after(10s));
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(test::error_from([&] { (void)tx.loan(8, Deadline::now()); }).errnum(), EBUSY);
  EXPECT_EQ(test::error_from([&] { (void)tx.send(small, Deadline::now()); }).errnum(), EBUSY);
  held.abandon();
  EXPECT_EQ(test::error_from([&] { (void)held.send(); }).errnum(), EINVAL);
  EXPECT_EQ(test::error_from([&] { (void)tx.loan(tx.max_message() + 1); }).errnum(), EMSGSIZE);
  EXPECT_EQ(test::error_from([&] { (void)rx.loan(8); }).errnum(), EBADF);
  EXPECT_EQ(test::error_from([&] { (void)tx.receive(Deadline::now()); }).errnum(), EBADF);

  std::vector<std::byte> buffer(rx.max_message());
  std::vector<std::byte> scratch;
  Message first = rx.receive(Deadline::after(10s));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(test::error_from([&] { (void)rx.receive(Deadline::now()); }).errnum(), EBUSY);
  EXPECT_EQ(test::error_from([&] { (void)rx.try_receive(buffer); }).errnum(), EBUSY);
  EXPECT_TRUE(is_message(first.bytes(), 0, 0, small.size(), scratch));  // still whole
  Message moved = std::move(first);
  EXPECT_TRUE(first.bytes().empty());  // NOLINT(bugprone-use-after-move): what a moved-from one holds
  moved = Message{};                   // assigning releases what it held
  const IoResult second = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(second.status, IoStatus::ok);
  EXPECT_TRUE(is_message(std::span{buffer}.first(second.bytes), 0, 1, small.size(), scratch));
}

}  // namespace
}  // namespace ipckit
