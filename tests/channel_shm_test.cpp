// The shm:// transport beyond the conformance suite (channel_conformance_test.cpp runs every
// contract case over it as the parameter `shm`): how its segment is made and checked, what a
// second listener, a stale segment, a full slot table, a corrupt ring and a killed peer give,
// and that an idle end sleeps in the kernel. Processes are ordered with pipes and /proc, never
// with sleeps; every segment is removed by RAII even when a test fails.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <cinttypes>
#include <cstdio>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../src/channel/shm_layout.hpp"
#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/ring.hpp"
#include "ipckit/socket.hpp"
#include "shm_test_util.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::Forked;
using test::has_substring;
using test::ShmName;
namespace sc = detail::shm_channel;

// The documented layout (shm_layout.hpp's table), as a reader in another language sees it.
static_assert(offsetof(sc::ChannelHeader, ready) == 68);
static_assert(offsetof(sc::ChannelHeader, receiver_waiting) == 192);
static_assert(sc::geometry(8, 1 << 20)->rings_offset == 4096 - 320);  // data on a 4 KiB boundary
// Where ring 0 starts for up to 8 slots (its 320-byte header, then data at 4096), as literals
// below: the layout's table, not what the code under test computes.
constexpr std::uint64_t kRing0 = 3776;
static_assert(sc::geometry(1, 4096)->rings_offset == kRing0 && sc::geometry(8, 4096)->rings_offset == kRing0);
static_assert(sc::geometry(8, 1 << 20)->ring_stride == (1 << 20) + 4096);

/// The segment opened read-write by the test, to look at it or damage it.
Fd open_segment(const ShmName& name) {
  const int fd = ::shm_open(name.object().c_str(), O_RDWR | O_CLOEXEC, 0);
  EXPECT_NE(fd, -1) << name.object() << ": " << std::strerror(errno);
  return Fd{fd};
}

std::span<const std::byte> text(std::string_view s) {
  return std::as_bytes(std::span{s.data(), s.size()});
}

std::string as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// One blocking receive on a thread of its own, for a test that acts while the listener
/// waits. The thread is joined by message() or, at the latest, on destruction.
class ReceiveOnAThread {
 public:
  ReceiveOnAThread(Channel& rx, std::chrono::nanoseconds timeout)
      : buffer_(rx.max_message()), thread_([this, &rx, timeout] {
          tid_ = test::this_tid();
          result_ = rx.receive(buffer_, Deadline::after(timeout));
          ended_.set_value();
        }) {}
  /// The receiving thread's id (for test::wait_until_blocked_in).
  [[nodiscard]] pid_t tid() const {
    while (tid_.load() == 0) std::this_thread::yield();
    return tid_.load();
  }
  /// True when the receive has returned within `timeout`.
  [[nodiscard]] bool ended_within(std::chrono::nanoseconds timeout) const {
    return ended_future_.wait_for(timeout) == std::future_status::ready;
  }
  /// Waits for the receive; the message it got as text (a test failure unless it was ok).
  [[nodiscard]] std::string message() {
    thread_.join();
    EXPECT_EQ(result_.status, IoStatus::ok);
    return result_.ok() ? as_text(std::span{buffer_}.first(result_.bytes)) : std::string{};
  }

 private:
  std::vector<std::byte> buffer_;
  std::atomic<pid_t> tid_{0};
  IoResult result_{};
  std::promise<void> ended_;
  std::future<void> ended_future_ = ended_.get_future();
  std::jthread thread_;  // last: it starts once everything above exists
};

// Message `seq`: its size varies with seq (8..2000 bytes), its bytes are derived from seq.
std::vector<std::byte> numbered(std::uint32_t seq) {
  std::vector<std::byte> m(8 + (seq * 7919U) % 1993U);
  std::memcpy(m.data(), &seq, 4);
  for (std::size_t i = 4; i < m.size(); ++i) m[i] = std::byte((seq * 31U + i) & 0xFF);
  return m;
}

testing::AssertionResult is_numbered(std::span<const std::byte> got, std::uint32_t seq) {
  const std::vector<std::byte> want = numbered(seq);
  if (got.size() == want.size() && std::equal(got.begin(), got.end(), want.begin()))
    return testing::AssertionSuccess();
  std::uint32_t said = 0;
  if (got.size() >= 4) std::memcpy(&said, got.data(), 4);
  return testing::AssertionFailure() << "expected message " << seq << " (" << want.size()
                                     << " bytes), got " << got.size() << " bytes saying " << said;
}

// --- The segment ----------------------------------------------------------------------------

TEST(ChannelShm, SegmentIsOwnerOnlyAndSizedForItsRings) {
  ShmName name;
  const mode_t old_umask = ::umask(0);  // a permissive umask must not widen the mode
  std::optional<Channel> rx;
  try {
    rx.emplace(Channel::listen(name.url() + "?capacity=65536"));
  } catch (...) {
    ::umask(old_umask);
    throw;
  }
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat(name.path().c_str(), &st), 0) << name.path();
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  EXPECT_EQ(st.st_uid, ::geteuid());
  // 8 rings of 64 KiB: ring 0 at 3776 (its data on the 4 KiB boundary), 69632 bytes apart.
  constexpr std::uint64_t kTotal = 3776 + 8 * 69632;
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), kTotal);
  // Space reserved up front (posix_fallocate): the blocks are there before any write.
  EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512, kTotal);
  EXPECT_EQ(rx->max_message(), ring::max_message_for(65536));
  EXPECT_EQ(rx->url(), name.url() + "?capacity=65536");
}

TEST(ChannelShm, ListenerMapsTheSendersDataReadOnly) {
  if (::sysconf(_SC_PAGESIZE) != 4096) GTEST_SKIP() << "the data areas are 4 KiB-aligned";
  ShmName name;
  Channel rx = Channel::listen(name.url() + "?capacity=8192&senders=3");
  // /proc/self/maps: one read-only shared range per ring's data, the headers read-write.
  const std::string maps = test::file_bytes("/proc/self/maps");
  int read_only = 0;
  int read_write = 0;
  std::size_t at = 0;
  while ((at = maps.find(name.path().string(), at)) != std::string::npos) {
    const std::size_t line = maps.rfind('\n', at) + 1;  // npos + 1 == 0 for the first line
    const std::string perms = maps.substr(maps.find(' ', line) + 1, 4);
    if (perms == "r--s") ++read_only;
    if (perms == "rw-s") ++read_write;
    at += name.path().string().size();
  }
  EXPECT_EQ(read_only, 3) << maps;
  EXPECT_GE(read_write, 1) << maps;
}

// The /proc/self/maps line of the mapping that holds `address` ("" when none does).
std::string mapping_of(const void* address) {
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  std::istringstream maps(test::file_bytes("/proc/self/maps"));
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &begin, &end) == 2 && at >= begin && at < end) return line;
  }
  return {};
}

// Zero copy on shm://: a loan's room and a received Message's bytes are in the segment itself
// (a mapping of /dev/shm/ipckit-ch-NAME: the sender's read-write one, the listener's
// read-only one), not in a buffer of either end.
TEST(ChannelShm, LoansAndMessagesAreTheSegmentsOwnBytes) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  Channel tx = Channel::connect(name.url(), {}, Deadline::after(10s));
  Loan l = tx.loan(64, Deadline::after(10s));
  ASSERT_TRUE(l.ok());
  const std::string room = mapping_of(l.bytes().data());
  EXPECT_TRUE(has_substring(room, name.path().string()));
  EXPECT_TRUE(has_substring(room, " rw-s ")) << room;
  std::memset(l.bytes().data(), 'x', 64);
  ASSERT_TRUE(l.send().ok());
  const Message m = rx.receive(Deadline::after(10s));
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m.size(), 64U);
  const std::string seen = mapping_of(m.bytes().data());
  EXPECT_TRUE(has_substring(seen, name.path().string()));
  if (::sysconf(_SC_PAGESIZE) == 4096) {
    EXPECT_TRUE(has_substring(seen, " r--s ")) << seen;
  }
  EXPECT_EQ(std::to_integer<char>(m.bytes()[63]), 'x');
}

// A sender killed while it holds a loan loses only that message: the listener gets what it
// sent before, then end of stream, and never a part of the loaned one.
TEST(ChannelShm, ASenderKilledHoldingALoanLosesOnlyThatMessage) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  Pipe loaned = Pipe::create();
  test::Forked sender([&] {
    Channel tx = Channel::connect(name.url(), {}, Deadline::after(10s));
    if (!tx.send(std::as_bytes(std::span{"sent", 4}), Deadline::after(10s)).ok()) return 1;
    Loan l = tx.loan(4096, Deadline::after(10s));
    if (!l.ok()) return 2;
    std::memset(l.bytes().data(), 'h', l.bytes().size());
    test::notify(loaned.write_end);
    for (;;) ::pause();  // killed here, the loan held
  });
  ASSERT_TRUE(test::await(loaned.read_end));
  ASSERT_EQ(::kill(sender.pid(), SIGKILL), 0);
  EXPECT_EQ(sender.wait().signal, SIGKILL);
  Message m = rx.receive(Deadline::after(10s));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.bytes().data()), m.size()), "sent");
  m.release();
  EXPECT_EQ(rx.receive(Deadline::after(10s)).status(), IoStatus::end_of_stream);
}

TEST(ChannelShm, NothingLeftInDevShmWhenTheListenerCloses) {
  ShmName name;
  {
    Channel rx = Channel::listen(name.url());
    Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
    ASSERT_TRUE(std::filesystem::exists(name.path()));
    ASSERT_TRUE(tx.try_send(text("x")));
  }
  EXPECT_FALSE(std::filesystem::exists(name.path()));
  {
    // The listener goes first, while a sender still has the segment mapped.
    std::optional<Channel> rx{Channel::listen(name.url())};
    Channel tx = Channel::connect(rx->url(), {}, Deadline::after(10s));
    rx.reset();
    EXPECT_FALSE(std::filesystem::exists(name.path()));
    EXPECT_EQ(tx.send(text("y"), Deadline::after(10s)).status, IoStatus::peer_closed);
  }
  EXPECT_FALSE(std::filesystem::exists(name.path()));
}

TEST(ChannelShm, CapacityThatIsNotAPowerOfTwoIsAnErrorShowingACorrectUrl) {
  ShmName name;
  const Error e = test::error_from([&] { (void)Channel::listen(name.url() + "?capacity=100000"); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has_substring(e.what(), "power of two"));
  EXPECT_TRUE(has_substring(e.what(), name.url() + "?capacity=1048576"));
  EXPECT_FALSE(std::filesystem::exists(name.path()));
}

TEST(ChannelShm, SecondListenerIsRefused) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  const Error e = test::error_from([&] { (void)Channel::listen(name.url()); });
  EXPECT_EQ(e.errnum(), EEXIST);
  EXPECT_TRUE(has_substring(e.what(), "another listener is receiving on " + name.url()));
  // The first one is untouched: it still works.
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(tx.try_send(text("still here")));
  std::vector<std::byte> buffer(rx.max_message());
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "still here");
}

TEST(ChannelShm, StaleSegmentOfAKilledListenerIsReportedWithHowToRemoveIt) {
  ShmName name;
  Pipe ready = Pipe::create();
  Pipe never = Pipe::create();
  Forked listener([&] {
    Channel rx = Channel::listen(name.url());
    test::notify(ready.write_end);
    (void)test::await(never.read_end);  // killed here
    return 0;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  ASSERT_EQ(::kill(listener.pid(), SIGKILL), 0);
  ASSERT_EQ(listener.wait().signal, SIGKILL);
  ASSERT_TRUE(std::filesystem::exists(name.path()))
      << "a killed listener cannot remove its segment";

  const Error e = test::error_from([&] { (void)Channel::listen(name.url()); });
  EXPECT_EQ(e.errnum(), EEXIST);
  EXPECT_TRUE(has_substring(e.what(), "stale"));
  EXPECT_TRUE(has_substring(e.what(), "ipckit rm --shm " + name.object()));

  const Error c =
      test::error_from([&] { (void)Channel::connect(name.url(), {}, Deadline::after(100ms)); });
  EXPECT_EQ(c.errnum(), ETIMEDOUT);
  EXPECT_TRUE(has_substring(c.what(), "stale"));

  // Once removed, the name can be listened on again.
  ASSERT_EQ(::shm_unlink(name.object().c_str()), 0);
  Channel rx = Channel::listen(name.url());
  EXPECT_TRUE(rx.is_listener());
}

// --- connect's checks of the segment --------------------------------------------------------

TEST(ChannelShm, ConnectRefusesASegmentOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving the segment to another uid needs root";
  ShmName name;
  Channel rx = Channel::listen(name.url());
  Fd fd = open_segment(name);
  ASSERT_EQ(::fchown(fd.get(), 4321, static_cast<gid_t>(-1)), 0);
  const Error e =
      test::error_from([&] { (void)Channel::connect(name.url(), {}, Deadline::after(1s)); });
  EXPECT_EQ(e.errnum(), EACCES);
  EXPECT_TRUE(has_substring(e.what(), "belongs to uid 4321"));
}

TEST(ChannelShm, ConnectRefusesASegmentOthersMayOpen) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  Fd fd = open_segment(name);
  ASSERT_EQ(::fchmod(fd.get(), 0644), 0);
  const Error e =
      test::error_from([&] { (void)Channel::connect(name.url(), {}, Deadline::after(1s)); });
  EXPECT_EQ(e.errnum(), EACCES);
  EXPECT_TRUE(has_substring(e.what(), "0644"));
  EXPECT_TRUE(has_substring(e.what(), "0600"));
}

TEST(ChannelShm, ConnectRefusesASegmentWhoseSizeDisagreesWithItsHeader) {
  ShmName name;
  Channel rx = Channel::listen(name.url() + "?capacity=4096");
  Fd fd = open_segment(name);
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  ASSERT_EQ(::ftruncate(fd.get(), st.st_size + 4096), 0);
  const Error e =
      test::error_from([&] { (void)Channel::connect(name.url(), {}, Deadline::after(1s)); });
  EXPECT_EQ(e.errnum(), EPROTO);
  EXPECT_TRUE(
      has_substring(e.what(), std::to_string(st.st_size + 4096) + " bytes but its header says"));
}

// A segment made by hand, as another program (or a damaged one) would leave it.
class ForeignSegment {
 public:
  explicit ForeignSegment(const ShmName& name) {
    const int fd = ::shm_open(name.object().c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    EXPECT_NE(fd, -1) << std::strerror(errno);
    fd_ = Fd{fd};
    const auto g = sc::geometry(8, 4096);
    EXPECT_EQ(::ftruncate(fd_.get(), off_t{kRing0 + 8 * 8192}), 0);  // 8 rings of 4 KiB
    sc::ChannelHeader h = sc::make_header(*g, ring::max_message_for(4096), 0, false, {});
    h.ready = 1;
    header_ = h;
  }
  sc::ChannelHeader& header() { return header_; }
  void write() {
    ASSERT_EQ(::pwrite(fd_.get(), &header_, sizeof header_, 0),
              static_cast<ssize_t>(sizeof header_));
  }

 private:
  Fd fd_;
  sc::ChannelHeader header_{};
};

TEST(ChannelShm, ConnectRefusesASegmentWithWrongMagicOrVersion) {
  {
    ShmName name;
    ForeignSegment seg(name);
    seg.header().magic = 0x1122334455667788ULL;
    seg.write();
    const Error e =
        test::error_from([&] { (void)Channel::connect(name.url(), {}, Deadline::after(1s)); });
    EXPECT_EQ(e.errnum(), EPROTO);
    EXPECT_TRUE(has_substring(e.what(), "not an ipckit channel"));
    EXPECT_TRUE(has_substring(e.what(), "ipckit rm --shm " + name.object()));
  }
  {
    ShmName name;
    ForeignSegment seg(name);
    seg.header().version = 99;
    seg.write();
    const Error e =
        test::error_from([&] { (void)Channel::connect(name.url(), {}, Deadline::after(1s)); });
    EXPECT_EQ(e.errnum(), EPROTO);
    EXPECT_TRUE(has_substring(e.what(), "version 99"));
  }
  {
    ShmName name;
    ForeignSegment seg(name);
    seg.header().ring_stride = 64;  // rings overlapping: an impossible layout
    seg.write();
    const Error e =
        test::error_from([&] { (void)Channel::connect(name.url(), {}, Deadline::after(1s)); });
    EXPECT_EQ(e.errnum(), EPROTO);
    EXPECT_TRUE(has_substring(e.what(), "impossible layout"));
  }
}

// --- Senders --------------------------------------------------------------------------------

TEST(ChannelShm, NoFreeSlotIsAnErrorSayingHowManySendersTheChannelTakes) {
  ShmName name;
  Channel rx = Channel::listen(name.url() + "?capacity=4096&senders=3");
  std::vector<std::optional<Channel>> senders;
  for (int i = 0; i < 3; ++i)
    senders.emplace_back(Channel::connect(rx.url(), {}, Deadline::after(10s)));
  const Error e =
      test::error_from([&] { (void)Channel::connect(rx.url(), {}, Deadline::after(100ms)); });
  EXPECT_EQ(e.errnum(), EUSERS);
  EXPECT_TRUE(has_substring(e.what(), "at most 3 senders"));

  // A slot frees once its sender has closed and the listener has drained it.
  ASSERT_TRUE(senders[1]->try_send(text("last words")));
  senders[1].reset();
  std::vector<std::byte> buffer(rx.max_message());
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "last words");
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);  // drains slot 1: free
  Channel fourth = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(fourth.try_send(text("fourth")));
  const IoResult n = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(n.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(n.bytes)), "fourth");
}

TEST(ChannelShm, SenderMaxMessageFollowsTheListeners) {
  ShmName name;
  ChannelOptions small;
  small.max_message = 1000;
  Channel rx = Channel::listen(name.url(), small);
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  EXPECT_EQ(rx.max_message(), 1000U);
  EXPECT_EQ(tx.max_message(), 1000U)
      << "a sender may not send what the listener's buffer cannot hold";
}

TEST(ChannelShm, SenderWithACorruptRingIsDroppedAndTheOthersGoOn) {
  ShmName name;
  std::vector<std::string> dropped;
  ChannelOptions options;
  options.on_sender_dropped = [&](const std::string& why) { dropped.push_back(why); };
  Channel rx = Channel::listen(name.url() + "?capacity=4096", options);
  Channel a = Channel::connect(rx.url(), {}, Deadline::after(10s));  // slot 0
  Channel b = Channel::connect(rx.url(), {}, Deadline::after(10s));  // slot 1
  {
    // Damage ring 0's header before the listener has looked at it.
    Fd fd = open_segment(name);
    const std::uint64_t bad = 0xDEADBEEFULL;
    ASSERT_EQ(::pwrite(fd.get(), &bad, sizeof bad, off_t{kRing0}), 8);
  }
  ASSERT_TRUE(b.try_send(text("from b")));
  std::vector<std::byte> buffer(rx.max_message());
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "from b");
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_TRUE(has_substring(dropped[0], "corrupt"));
  EXPECT_TRUE(has_substring(dropped[0], "slot 0"));
  // The dropped sender learns it once its ring is full (nobody drains it): peer_closed.
  IoResult last{};
  std::vector<std::byte> chunk(1000);
  for (int i = 0; i < 100 && (last = a.send(chunk, Deadline::after(10s))).ok(); ++i) {
  }
  EXPECT_EQ(last.status, IoStatus::peer_closed);
  // b is the only sender that counts: its close ends the stream.
  { Channel gone = std::move(b); }
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
}

TEST(ChannelShm, SenderWhoseRingTheListenerCorruptedGetsPeerClosed) {
  ShmName name;
  Channel rx = Channel::listen(name.url() + "?capacity=4096");
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  {
    // read_pos (offset 128 of ring 0's header) far past anything the sender wrote.
    Fd fd = open_segment(name);
    const std::uint64_t bad = std::uint64_t{1} << 40;
    ASSERT_EQ(::pwrite(fd.get(), &bad, sizeof bad, off_t{kRing0 + 128}), 8);
  }
  // The sender reads read_pos only when its ring looks full; then it must not trust it.
  std::vector<std::byte> chunk(1000);
  IoResult last{};
  for (int i = 0; i < 100 && (last = tx.send(chunk, Deadline::after(10s))).ok(); ++i) {
  }
  EXPECT_EQ(last.status, IoStatus::peer_closed);
}

// A sender that died between claiming a slot and making its ring ready leaves the slot
// "claiming" with no lock on it: the listener gives it back.
TEST(ChannelShm, SlotOfASenderThatDiedWhileJoiningIsGivenBack) {
  ShmName name;
  Channel rx = Channel::listen(name.url() + "?capacity=4096&senders=1");
  {
    Fd fd = open_segment(name);
    const auto state = static_cast<std::uint32_t>(sc::SlotState::claiming);
    ASSERT_EQ(::pwrite(fd.get(), &state, sizeof state, sizeof(sc::ChannelHeader)), 4);
  }
  EXPECT_EQ(test::error_from([&] {
              (void)Channel::connect(rx.url(), {}, Deadline::after(50ms));
            }).errnum(),
            EUSERS);
  std::vector<std::byte> buffer(rx.max_message());
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block);  // finds no lock: frees it
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(tx.try_send(text("joined")));
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "joined");
}

// A sender killed while joining, while the listener sleeps with no sender at all: nobody
// woke it, yet the next sender must get the slot and be heard (a review found the sleep
// unbounded, and a connect finding no free slot did not wake the listener).
TEST(ChannelShm, ASenderKilledWhileJoiningDoesNotWedgeASleepingListener) {
  ShmName name;
  Channel rx = Channel::listen(name.url() + "?capacity=4096&senders=1");
  ReceiveOnAThread receiving(rx, 60s);
  ASSERT_TRUE(test::wait_until_blocked_in(receiving.tid(), SYS_futex)) << "the listener sleeps first";
  {
    // What a sender killed between its claim and its lock-holding exit leaves: claiming, no lock.
    Fd fd = open_segment(name);
    const auto state = static_cast<std::uint32_t>(sc::SlotState::claiming);
    ASSERT_EQ(::pwrite(fd.get(), &state, sizeof state, sizeof(sc::ChannelHeader)), 4);
  }
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(30s));
  ASSERT_TRUE(tx.try_send(text("heard")));
  EXPECT_EQ(receiving.message(), "heard");
}

// --- Crashes --------------------------------------------------------------------------------

// A sender streams numbered messages as fast as it can and is SIGKILLed at some point of that
// stream (mid-send, mid-commit, blocked on a full ring: wherever it is). The listener gets a
// gap-free prefix of the stream, each message whole, then end of stream.
TEST(ChannelShm, SenderKilledMidStreamGivesWholeMessagesThenEndOfStream) {
  ShmName name;
  Pipe to_sender = Pipe::create();
  Forked sender([&] {
    if (!test::await(to_sender.read_end)) return 2;  // the listener is there
    Channel tx = Channel::connect(name.url(), {}, Deadline::after(10s));
    for (std::uint32_t seq = 0;; ++seq) {
      const std::vector<std::byte> m = numbered(seq);
      if (tx.send(m, Deadline::after(30s)).status != IoStatus::ok) return 1;
    }
  });
  Channel rx = Channel::listen(name.url() + "?capacity=65536");
  test::notify(to_sender.write_end);
  std::vector<std::byte> buffer(rx.max_message());
  std::uint32_t next = 0;
  // Read some, then kill it while it is still streaming (it always has more to send: it is
  // copying, committing, or asleep on its full ring).
  for (; next < 500; ++next) {
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok) << "message " << next;
    ASSERT_TRUE(is_numbered(std::span{buffer}.first(r.bytes), next));
  }
  ASSERT_EQ(::kill(sender.pid(), SIGKILL), 0);
  ASSERT_EQ(sender.wait().signal, SIGKILL);
  for (;;) {
    const IoResult r = rx.receive(buffer, Deadline::after(10s));
    if (r.status == IoStatus::end_of_stream) break;
    ASSERT_EQ(r.status, IoStatus::ok)
        << "after message " << next << ": the end must come, not a timeout";
    ASSERT_TRUE(is_numbered(std::span{buffer}.first(r.bytes), next));
    ++next;
  }
  EXPECT_GE(next, 500U);
  // The slot is free again: a new sender joins and is heard.
  Channel again = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(again.try_send(text("next")));
  const IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "next");
}

TEST(ChannelShm, ReceiverKilledWhileASenderSleepsOnAFullRingGivesPeerClosed) {
  ShmName name;
  Pipe ready = Pipe::create();
  Pipe never = Pipe::create();
  Forked listener([&] {
    Channel rx = Channel::listen(name.url() + "?capacity=4096");
    test::notify(ready.write_end);
    (void)test::await(never.read_end);  // reads nothing; killed here
    return 0;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  Channel tx = Channel::connect(name.url(), {}, Deadline::after(10s));
  std::vector<std::byte> m(1000);
  int sent = 0;
  while (tx.try_send(m)) ASSERT_LT(++sent, 100) << "a 4 KiB ring never filled";
  std::atomic<pid_t> tid{0};
  IoResult result{};
  std::thread blocked([&] {
    tid = test::this_tid();
    result = tx.send(m, Deadline::after(60s));
  });
  while (tid.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(test::wait_until_blocked_in(tid.load(), SYS_futex))
      << "the sender should sleep in futex, not spin";
  ASSERT_EQ(::kill(listener.pid(), SIGKILL), 0);
  ASSERT_EQ(listener.wait().signal, SIGKILL);
  blocked.join();
  EXPECT_EQ(result.status, IoStatus::peer_closed);
  EXPECT_EQ(tx.send(m, Deadline::after(10s)).status, IoStatus::peer_closed)
      << "and it stays so";
  EXPECT_FALSE(tx.try_send(m));
}

// --- Waiting --------------------------------------------------------------------------------

TEST(ChannelShm, IdleReceiverSleepsInFutexAndWakesForAMessage) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ReceiveOnAThread receiving(rx, 60s);
  EXPECT_TRUE(test::wait_until_blocked_in(receiving.tid(), SYS_futex))
      << "an idle receiver must sleep in futex";
  ASSERT_TRUE(tx.try_send(text("wake up")));
  EXPECT_EQ(receiving.message(), "wake up");
}

// With no sender at all there is no liveness to check: the listener sleeps until a sender
// joins (the joining sender wakes it), and then gets its message.
TEST(ChannelShm, ListenerWithoutSendersSleepsUntilOneJoins) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  ReceiveOnAThread receiving(rx, 60s);
  EXPECT_TRUE(test::wait_until_blocked_in(receiving.tid(), SYS_futex));
  {
    Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
    ASSERT_TRUE(tx.try_send(text("first")));
  }
  EXPECT_EQ(receiving.message(), "first");
  std::vector<std::byte> buffer(rx.max_message());
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
}

TEST(ChannelShm, BusyPollModeDeliversWithoutSleeping) {
  ShmName name;
  ChannelOptions busy;
  busy.spin = std::chrono::nanoseconds::max();
  Channel rx = Channel::listen(name.url(), busy);
  Channel tx = Channel::connect(rx.url(), busy, Deadline::after(10s));
  std::vector<std::byte> buffer(rx.max_message());
  EXPECT_EQ(rx.receive(buffer, Deadline::after(20ms)).status, IoStatus::timed_out);
  std::thread sender([&] {
    for (std::uint32_t i = 0; i < 5000; ++i)
      ASSERT_EQ(tx.send(numbered(i), Deadline::after(30s)).status, IoStatus::ok);
  });
  for (std::uint32_t i = 0; i < 5000; ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok) << i;
    ASSERT_TRUE(is_numbered(std::span{buffer}.first(r.bytes), i));
  }
  sender.join();
}

// Each end says in the segment whether it busy-polls; its peer then skips the wake-up check.
// A sender that may sleep on a full ring is still woken by a listener that busy-polls. Its
// sleeps end at the liveness period anyway, so the messages would arrive without any wake-up:
// the ring's writer_wake (which only a waker adds to) shows that the listener woke it.
TEST(ChannelShm, ASenderAsleepOnAFullRingIsWokenByABusyPollingListener) {
  ShmName name;
  ChannelOptions busy;
  busy.spin = std::chrono::nanoseconds::max();
  Channel rx = Channel::listen(name.url() + "?capacity=4096", busy);
  ChannelOptions sleepy;
  sleepy.spin = 0ns;
  Channel tx = Channel::connect(rx.url(), sleepy, Deadline::after(10s));
  std::atomic<pid_t> tid{0};
  std::atomic<bool> sent_all{false};
  std::thread sender([&] {
    tid = test::this_tid();
    for (std::uint32_t i = 0; i < 200; ++i)  // 200 x 8..2000 bytes: the 4 KiB ring fills
      ASSERT_EQ(tx.send(numbered(i), Deadline::after(60s)).status, IoStatus::ok) << i;
    sent_all = true;
  });
  while (tid.load() == 0) std::this_thread::yield();
  EXPECT_TRUE(test::wait_until_blocked_in(tid.load(), SYS_futex))
      << "a sender with spin 0 must sleep on its full ring";
  std::vector<std::byte> buffer(rx.max_message());
  for (std::uint32_t i = 0; i < 200; ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(60s));
    ASSERT_EQ(r.status, IoStatus::ok) << i;
    ASSERT_TRUE(is_numbered(std::span{buffer}.first(r.bytes), i));
  }
  sender.join();
  EXPECT_TRUE(sent_all.load());
  test::MappedSegment seg(name);
  const std::size_t ring0 = kRing0;
  EXPECT_GT(seg.word(ring0 + offsetof(ring::Header, writer_wake)).load(), 0U)
      << "the listener never woke the sender asleep on its full ring (it woke at its "
         "liveness period only)";
}

// A busy-polling sender's ring has read_pos published per batch (an eighth of the ring), but
// never holds back room the listener has caught up with: once it has taken every message, the
// sender sees all of its ring free.
TEST(ChannelShm, RoomTakenByTheListenerIsFreeForABusyPollingSenderOnceItCaughtUp) {
  ShmName name;
  ChannelOptions busy;
  busy.spin = std::chrono::nanoseconds::max();
  Channel rx = Channel::listen(name.url() + "?capacity=4096");
  Channel tx = Channel::connect(rx.url(), busy, Deadline::after(10s));
  std::vector<std::byte> buffer(rx.max_message());
  // 1600 bytes, then 31 records of 16 bytes (496: under the batch of 512) taken one by one.
  ASSERT_TRUE(tx.try_send(std::vector<std::byte>(1584)));
  ASSERT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::ok);
  for (int i = 0; i < 31; ++i) ASSERT_TRUE(tx.try_send({})) << i;
  for (int i = 0; i < 31; ++i) ASSERT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::ok) << i;
  // The largest message needs the lap's last 2000 bytes as padding and 2048 from its start:
  // room only if all 2096 bytes taken are published.
  EXPECT_TRUE(tx.try_send(std::vector<std::byte>(tx.max_message())))
      << "the listener took everything, yet the ring looks full";
}

// A receive that may spin looks at its rings first and at the slot table later; a deadline
// that has passed must not make it skip that look. No timing here: the deadline is in the past.
TEST(ChannelShm, AReceiveWhoseDeadlineHasPassedStillSeesTheEndOfTheStream) {
  ShmName name;
  Channel rx = Channel::listen(name.url() + "?capacity=4096");
  std::vector<std::byte> buffer(rx.max_message());
  {
    Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
    ASSERT_TRUE(tx.try_send(text("only")));
    ASSERT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::ok);  // attached
  }  // the only sender closes
  const IoResult r = rx.receive(buffer, Deadline::at(Deadline::Clock::now() - 1s));
  EXPECT_EQ(r.status, IoStatus::end_of_stream);
}

// Writes a committed record of an unknown kind at `pos` of slot 0's ring (a one-slot channel
// of 4096-byte rings), as a sender gone wrong would.
void forge_corrupt_record(const ShmName& name, std::uint64_t pos) {
  Fd fd = open_segment(name);
  const std::uint64_t ring0 = kRing0;
  std::uint64_t key = 0;
  ASSERT_EQ(::pread(fd.get(), &key, 8, static_cast<off_t>(ring0 + offsetof(ring::Header, key))), 8);
  const std::uint32_t length_and_kind[2] = {0, 9};
  const std::uint64_t tag = (pos + 1) ^ key;
  const off_t record = static_cast<off_t>(ring0 + sizeof(ring::Header) + pos);
  ASSERT_EQ(::pwrite(fd.get(), length_and_kind, 8, record + 8), 8);
  ASSERT_EQ(::pwrite(fd.get(), &tag, 8, record), 8);
}

// A one-slot channel of 4096-byte rings, whose listener records why it drops a sender, and
// its sender.
struct OneSenderChannel {
  OneSenderChannel()
      : rx(Channel::listen(name.url() + "?capacity=4096&senders=1",
                           {.on_sender_dropped = [this](const std::string& why) { dropped.push_back(why); }})),
        tx(Channel::connect(rx.url(), {}, Deadline::after(10s))) {}
  OneSenderChannel(const OneSenderChannel&) = delete;
  OneSenderChannel& operator=(const OneSenderChannel&) = delete;

  ShmName name;
  std::vector<std::string> dropped;
  Channel rx;
  Channel tx;
};

// The only sender is dropped by the take that follows the scan of a try_receive (here the
// first receive, which attaches it): that same try_receive ends the stream.
TEST(ChannelShm, ASenderDroppedRightAfterTheScanEndsTheStreamInThatTryReceive) {
  OneSenderChannel ch;
  forge_corrupt_record(ch.name, 0);
  std::vector<std::byte> buffer(ch.rx.max_message());
  EXPECT_EQ(ch.rx.try_receive(buffer).status, IoStatus::end_of_stream);
  EXPECT_EQ(ch.dropped.size(), 1U);
}

// The same when the only sender is dropped (here for a corrupt record) while the listener
// takes from its ring in a receive whose deadline has passed. (That a receive with a far
// deadline ends the stream at once, not at the next liveness look, is not pinned: it would
// take a timing assertion.)
TEST(ChannelShm, ASenderDroppedInAReceiveEndsTheStreamInThatReceive) {
  OneSenderChannel ch;
  ASSERT_TRUE(ch.tx.try_send(text("first")));  // a 32-byte record at 0
  std::vector<std::byte> buffer(ch.rx.max_message());
  ASSERT_EQ(ch.rx.receive(buffer, Deadline::after(10s)).status, IoStatus::ok);
  forge_corrupt_record(ch.name, 32);
  const IoResult r = ch.rx.receive(buffer, Deadline::at(Deadline::Clock::now() - 1s));
  EXPECT_EQ(r.status, IoStatus::end_of_stream);
  ASSERT_EQ(ch.dropped.size(), 1U);
  EXPECT_TRUE(has_substring(ch.dropped[0], "corrupt")) << ch.dropped[0];
}

// --- Another process writing on what only the listener writes --------------------------------

// Writes `value` (8 bytes) at `offset` of the segment, as a same-user process gone wrong would.
void scribble(const ShmName& name, std::uint64_t offset, std::uint64_t value) {
  Fd fd = open_segment(name);
  ASSERT_EQ(::pwrite(fd.get(), &value, sizeof value, static_cast<off_t>(offset)), 8);
}

constexpr std::uint64_t kSlot0State = sizeof(sc::ChannelHeader) + offsetof(sc::SlotEntry, state);

// Receives until the stream ends (or 10 s pass): what a listener with a deadline does.
IoStatus receive_until_the_end(Channel& rx) {
  std::vector<std::byte> buffer(rx.max_message());
  for (;;) {
    const IoResult r = rx.receive(buffer, Deadline::after(10s));
    if (r.status != IoStatus::ok) return r.status;
  }
}

// What every scribble below must lead to: the stream ends (the one sender is dropped), the
// drop is said once with `says` in it, and counted.
void expect_dropped_once(OneSenderChannel& ch, std::string_view says) {
  EXPECT_EQ(receive_until_the_end(ch.rx), IoStatus::end_of_stream);
  ASSERT_EQ(ch.dropped.size(), 1U);
  EXPECT_TRUE(has_substring(ch.dropped[0], says)) << ch.dropped[0];
  EXPECT_EQ(ch.rx.corrupt_senders(), 1U);
}

// The first message sent and received: the listener has attached the sender's ring.
void attach_the_sender(OneSenderChannel& ch) {
  ASSERT_TRUE(ch.tx.try_send(text("first")));
  std::vector<std::byte> buffer(ch.rx.max_message());
  ASSERT_EQ(ch.rx.receive(buffer, Deadline::after(10s)).status, IoStatus::ok);
}

// The slot of an attached sender marked free, or given a state no end writes, by another
// process: the sender is dropped, said and counted, never left silently.
void slot_scribble_is_reported(std::uint32_t state, std::string_view says) {
  OneSenderChannel ch;
  attach_the_sender(ch);
  test::MappedSegment seg(ch.name);
  seg.word(kSlot0State).store(state);
  expect_dropped_once(ch, says);
}
TEST(ChannelShm, AnAttachedSlotMarkedFreeByAnotherProcessIsReported) {
  slot_scribble_is_reported(static_cast<std::uint32_t>(sc::SlotState::free), "marked free by another process");
}
TEST(ChannelShm, ASlotStateNoEndWritesIsReported) {
  slot_scribble_is_reported(77, "set to 77 by another process");
}

// A ring's read_pos overwritten: its writer would see room that is not there (or none) and
// stall. The listener finds it at its next liveness look.
TEST(ChannelShm, AnOverwrittenReadPositionIsReported) {
  OneSenderChannel ch;
  attach_the_sender(ch);
  const std::uint64_t ring0 = kRing0;
  scribble(ch.name, ring0 + offsetof(ring::Header, read_pos), 4096 * 3);
  expect_dropped_once(ch, "read position was overwritten");
}

// Random bytes over a committed record's tag: the reader finds nothing there while its writer
// goes on committing past it, and would wait for good. Two liveness looks that see the same.
TEST(ChannelShm, AnOverwrittenRecordIsReportedNotWaitedOnForGood) {
  OneSenderChannel ch;
  ASSERT_TRUE(ch.tx.try_send(text("first")));   // a 32-byte record at 0
  ASSERT_TRUE(ch.tx.try_send(text("second")));  // at 32
  const std::uint64_t ring0 = kRing0;
  scribble(ch.name, ring0 + sizeof(ring::Header), 0x5eed5eed5eed5eedULL);
  expect_dropped_once(ch, "the ring was overwritten");
}

// Found by shm_segment_fuzz: a sender refused before the listener ever attached it (its ring
// header broken) is a sender that came and went, so the stream ends instead of waiting for
// one to join.
TEST(ChannelShm, ASenderRefusedBeforeItWasAttachedEndsTheStream) {
  OneSenderChannel ch;
  const std::uint64_t ring0 = kRing0;
  scribble(ch.name, ring0 + offsetof(ring::Header, magic), 0);
  expect_dropped_once(ch, "its ring is corrupt");
}

// Found by shm_segment_fuzz: a sender whose slot another process marked free before the
// listener saw it holds its lock on a free slot. Two liveness looks that find that drop it
// (it hears peer_closed) and the stream ends.
TEST(ChannelShm, ASenderHiddenByASlotMarkedFreeIsFoundAndDropped) {
  OneSenderChannel ch;
  test::MappedSegment seg(ch.name);
  seg.word(kSlot0State).store(static_cast<std::uint32_t>(sc::SlotState::free));
  expect_dropped_once(ch, "marked free by another process while its sender held it");
  // Its sends give peer_closed once its ring is full or at its next periodic look.
  IoStatus last = IoStatus::ok;
  for (int i = 0; i < 100'000 && last == IoStatus::ok; ++i) last = ch.tx.send(text("after"), Deadline::after(10s)).status;
  EXPECT_EQ(last, IoStatus::peer_closed);
}

// `ipckit recv` prints why and exits 1 when a sender was dropped for corrupt shared memory.
TEST(ChannelShm, RecvExitsNonZeroWhenASenderWasDroppedForCorruption) {
  ShmName name;
  const std::string url = name.url() + "?capacity=4096&senders=1";
  auto recv = Child::spawn({.argv = {test::cli_path(), "recv", url, "--timeout", "20"},
                            .in = Stdio::null(), .out = Stdio::pipe(), .err = Stdio::pipe()});
  {
    Channel tx = Channel::connect(url, {}, Deadline::after(20s));  // waits for recv to listen
    ASSERT_TRUE(tx.try_send(text("first")));  // a 32-byte record at 0
    forge_corrupt_record(name, 32);
  }
  const std::string out = read_all(recv.stdout_pipe());
  const std::string err = read_all(recv.stderr_pipe());
  const auto status = recv.wait(Deadline::after(30s));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->shell_code(), 1) << status->to_string() << "\n" << err;
  EXPECT_EQ(out, "first\n");
  EXPECT_TRUE(has_substring(err, "corrupt record")) << err;
  EXPECT_TRUE(has_substring(err, "1 sender(s) were dropped")) << err;
}

// --- The readiness descriptor ---------------------------------------------------------------

bool readable(int fd, int timeout_ms = 0) {
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, timeout_ms);
  EXPECT_NE(n, -1) << std::strerror(errno);
  return n == 1 && (p.revents & POLLIN) != 0;
}

// Takes everything there is: the results up to (not including) would_block.
std::vector<IoResult> drain(Channel& rx, std::vector<std::byte>& buffer,
                                 std::vector<std::string>* texts = nullptr) {
  std::vector<IoResult> got;
  for (;;) {
    const IoResult r = rx.try_receive(buffer);
    if (r.status == IoStatus::would_block) return got;
    if (texts != nullptr && r.ok()) texts->push_back(as_text(std::span{buffer}.first(r.bytes)));
    got.push_back(r);
    if (got.size() > 100000) {
      ADD_FAILURE() << "try_receive never says would_block";
      return got;
    }
  }
}

// What drain takes, as text; anything that is not a message is a test failure.
std::vector<std::string> drain_texts(Channel& rx, std::vector<std::byte>& buffer) {
  std::vector<std::string> texts;
  for (const IoResult& r : drain(rx, buffer, &texts)) EXPECT_TRUE(r.ok());
  return texts;
}

// A sender of numbered(0..count-1) in a forked child, started by a byte on `go`.
std::unique_ptr<Forked> numbered_sender(const std::string& url, const Pipe& go, std::uint32_t count) {
  return std::make_unique<Forked>([&url, &go, count] {
    if (!test::await(go.read_end)) return 2;
    Channel tx = Channel::connect(url, {}, Deadline::after(10s));
    for (std::uint32_t i = 0; i < count; ++i) {
      if (tx.send(numbered(i), Deadline::after(30s)).status != IoStatus::ok) return 1;
    }
    return 0;
  });
}

// The event loop of a readiness descriptor user: each time `readable()` says so, try_receive
// until would_block; numbered messages in order, until end of stream. How many came (a test
// failure, and what came so far, when readiness did not come or a message was wrong).
std::uint32_t receive_numbered_until_end(Channel& rx, const std::function<bool()>& readable) {
  std::vector<std::byte> buffer(rx.max_message());
  std::uint32_t next = 0;
  for (;;) {
    if (!readable()) {
      ADD_FAILURE() << "no readiness within 30 s after message " << next;
      return next;
    }
    for (;;) {
      const IoResult r = rx.try_receive(buffer);
      if (r.status == IoStatus::would_block) break;
      if (r.status == IoStatus::end_of_stream) return next;
      if (r.status != IoStatus::ok || !is_numbered(std::span{buffer}.first(r.bytes), next)) {
        ADD_FAILURE() << "message " << next << " is wrong or missing";
        return next;
      }
      ++next;
    }
  }
}

TEST(ChannelShm, ReadinessDescriptorIsReadableFirstThenOnlyWhenSomethingCame) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  const int fd = rx.readiness_fd();
  EXPECT_EQ(rx.readiness_fd(), fd) << "one descriptor per channel";
  EXPECT_TRUE(readable(fd, 10000)) << "readable at first, so the first try_receive arms it";
  std::vector<std::byte> buffer(rx.max_message());
  EXPECT_TRUE(drain(rx, buffer).empty());
  EXPECT_FALSE(readable(fd)) << "armed, nothing came";
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  EXPECT_TRUE(readable(fd, 10000)) << "a sender joining rings";
  EXPECT_TRUE(drain(rx, buffer).empty());
  ASSERT_TRUE(tx.try_send(text("one")));
  ASSERT_TRUE(tx.try_send(text("two")));
  EXPECT_TRUE(readable(fd, 10000)) << "a message rings";
  std::vector<std::string> texts;
  EXPECT_EQ(drain(rx, buffer, &texts).size(), 2U);
  EXPECT_EQ(texts, (std::vector<std::string>{"one", "two"}));
}

// The descriptor in an epoll set beside a pipe, the way an event loop holds it; the sender is
// another process, and its going gives end of stream.
TEST(ChannelShm, ReadinessDescriptorWorksInEpollWithASenderInAnotherProcess) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  Pipe other = Pipe::create();  // never written: the loop must wake for the channel only
  Pipe go = Pipe::create();
  const Fd ep{::epoll_create1(EPOLL_CLOEXEC)};
  ASSERT_TRUE(ep.valid()) << std::strerror(errno);
  for (const int fd : {rx.readiness_fd(), other.read_end.get()}) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    ASSERT_EQ(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &e), 0) << std::strerror(errno);
  }
  const auto sender = numbered_sender(name.url(), go, 1000);
  test::notify(go.write_end);
  const std::uint32_t came = receive_numbered_until_end(rx, [&] {
    epoll_event e{};
    return ::epoll_wait(ep.get(), &e, 1, 30000) == 1 && e.data.fd == rx.readiness_fd();
  });
  EXPECT_EQ(came, 1000U);
  EXPECT_TRUE(sender->wait().success());
}

// A SIGKILLed sender rings nothing: the liveness timer makes the descriptor readable, and the
// try_receive that follows gives what it sent, then end of stream.
TEST(ChannelShm, ReadinessDescriptorTellsOfASenderKilledWhileIdle) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  const int fd = rx.readiness_fd();
  Pipe sent = Pipe::create();
  Pipe never = Pipe::create();
  Forked sender([&] {
    Channel tx = Channel::connect(name.url(), {}, Deadline::after(10s));
    if (!tx.try_send(text("last words"))) return 1;
    test::notify(sent.write_end);
    (void)test::await(never.read_end);  // idle until killed
    return 0;
  });
  ASSERT_TRUE(test::await(sent.read_end));
  std::vector<std::byte> buffer(rx.max_message());
  ASSERT_TRUE(readable(fd, 30000));
  EXPECT_EQ(drain_texts(rx, buffer), std::vector<std::string>{"last words"});
  ASSERT_EQ(::kill(sender.pid(), SIGKILL), 0);
  ASSERT_EQ(sender.wait().signal, SIGKILL);
  bool ended = false;
  for (int round = 0; round < 100 && !ended; ++round) {  // each round: one liveness period
    ASSERT_TRUE(readable(fd, 30000)) << "the descriptor must turn readable for a dead sender";
    for (const IoResult& r : drain(rx, buffer)) ended |= r.status == IoStatus::end_of_stream;
  }
  EXPECT_TRUE(ended);
}

TEST(ChannelShm, ReadinessDescriptorErrorsNameWhatIsWrong) {
  ShmName name;
  ChannelOptions busy;
  busy.spin = std::chrono::nanoseconds::max();
  {
    Channel rx = Channel::listen(name.url(), busy);
    const Error e = test::error_from([&] { (void)rx.readiness_fd(); });
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_TRUE(has_substring(e.what(), "busy-polls"));
  }
  Channel rx = Channel::listen(name.url());
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  EXPECT_EQ(test::error_from([&] { (void)tx.readiness_fd(); }).errnum(), EBADF);
  Channel unix_rx = Channel::listen("unix://@" + test::unique_name());
  const Error e = test::error_from([&] { (void)unix_rx.readiness_fd(); });
  EXPECT_EQ(e.errnum(), ENOTSUP);
  EXPECT_TRUE(has_substring(e.what(), "shm://"));
}

// --- The memfd variant: shm://@NAME -----------------------------------------------------------

// Every name in /dev/shm that contains `part`.
std::vector<std::string> dev_shm_entries_with(const std::string& part) {
  std::vector<std::string> found;
  for (const auto& e : std::filesystem::directory_iterator("/dev/shm")) {
    const std::string n = e.path().filename().string();
    if (n.find(part) != std::string::npos) found.push_back(n);
  }
  return found;
}

TEST(ChannelShm, MemfdVariantCarriesMessagesAndLeavesNothingInDevShm) {
  const std::string name = test::unique_name();
  Pipe go = Pipe::create();
  Forked sender([&] {
    if (!test::await(go.read_end)) return 2;
    Channel tx = Channel::connect("shm://@" + name, {}, Deadline::after(10s));
    for (std::uint32_t i = 0; i < 2000; ++i) {
      if (tx.send(numbered(i), Deadline::after(30s)).status != IoStatus::ok) return 1;
    }
    return 0;
  });
  Channel rx = Channel::listen("shm://@" + name + "?capacity=65536");
  EXPECT_EQ(rx.url(), "shm://@" + name + "?capacity=65536");
  test::notify(go.write_end);
  std::vector<std::byte> buffer(rx.max_message());
  for (std::uint32_t i = 0; i < 2000; ++i) {
    const IoResult r = rx.receive(buffer, Deadline::after(30s));
    ASSERT_EQ(r.status, IoStatus::ok) << i;
    ASSERT_TRUE(is_numbered(std::span{buffer}.first(r.bytes), i));
    if (i == 0) {
      EXPECT_EQ(dev_shm_entries_with(name), std::vector<std::string>{}) << "nothing named";
    }
  }
  EXPECT_EQ(rx.receive(buffer, Deadline::after(30s)).status, IoStatus::end_of_stream);
  EXPECT_TRUE(sender.wait().success());
}

// What a sender is handed: a memfd whose size is sealed for good, so no peer can shrink it
// under a mapping (SIGBUS).
TEST(ChannelShm, MemfdVariantHandsOutASizeSealedMemfd) {
  const std::string name = test::unique_name();
  Channel rx = Channel::listen("shm://@" + name);
  Socket s = Socket::connect_unix(UnixAddress::abstract("ipckit/shm/" + name), SocketType::seqpacket,
                                  Deadline::after(10s));
  std::array<std::byte, 256> bytes{};
  Received got = s.receive_fds(bytes, Deadline::after(10s));
  ASSERT_EQ(got.status, IoStatus::ok);
  ASSERT_EQ(got.fds.size(), 1U);
  const int seals = ::fcntl(got.fds[0].get(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_EQ(::ftruncate(got.fds[0].get(), 4096), -1);
  EXPECT_EQ(errno, EPERM);
}

TEST(ChannelShm, MemfdVariantHasOneListenerAndConnectWaitsForIt) {
  const std::string url = "shm://@" + test::unique_name();
  Error e = test::error_from([&] { (void)Channel::connect(url, {}, Deadline::after(50ms)); });
  EXPECT_EQ(e.errnum(), ETIMEDOUT);
  EXPECT_TRUE(has_substring(e.what(), url));
  Channel rx = Channel::listen(url);
  e = test::error_from([&] { (void)Channel::listen(url); });
  EXPECT_EQ(e.errnum(), EADDRINUSE);
  EXPECT_TRUE(has_substring(e.what(), "another listener"));
}

// The socket has no permissions of its own (abstract), so both sides ask who is there
// (SO_PEERCRED): the listener hands its memfd only to its own user, and a sender sends only to
// a listener of its own user.
TEST(ChannelShm, MemfdVariantJoinsOnlyProcessesOfOneUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "running a process as another user (setresuid) needs root";
  const std::string url = "shm://@" + test::unique_name();
  Pipe go = Pipe::create();
  Pipe said = Pipe::create();
  Forked stranger([&] {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 10;
    if (!test::await(go.read_end)) return 2;
    std::string report;
    // Through the channel: the sender refuses a listener of another user.
    try {
      (void)Channel::connect(url, {}, Deadline::after(10s));
      report = "joined\n";
    } catch (const Error& e) {
      report = std::to_string(e.errnum()) + " " + e.what() + "\n";
    }
    // By hand, past that check: the listener refuses to hand its memfd out.
    const std::string name = url.substr(std::string_view("shm://@").size());
    Socket s = Socket::connect_unix(UnixAddress::abstract("ipckit/shm/" + name), SocketType::seqpacket,
                                    Deadline::after(10s));
    std::array<std::byte, 512> bytes{};
    Received got = s.receive_fds(bytes, Deadline::after(30s));
    report += std::to_string(got.fds.size()) + " " +
              std::string(reinterpret_cast<const char*>(bytes.data()), got.bytes);
    return ::write(said.write_end.get(), report.data(), report.size()) == static_cast<ssize_t>(report.size())
               ? 0
               : 3;
  });
  Channel rx = Channel::listen(url);
  test::notify(go.write_end);
  EXPECT_TRUE(stranger.wait().success());
  std::string text(4096, '\0');
  const ssize_t n = ::read(said.read_end.get(), text.data(), text.size());
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  const std::string sender_side = text.substr(0, text.find('\n'));
  const std::string listener_side = text.substr(text.find('\n') + 1);
  EXPECT_EQ(sender_side.substr(0, sender_side.find(' ')), std::to_string(EACCES)) << text;
  EXPECT_TRUE(has_substring(sender_side, "refusing to send there")) << text;
  EXPECT_EQ(listener_side.substr(0, 2), "0 ") << "no descriptor for a stranger: " << text;
  EXPECT_TRUE(has_substring(listener_side, "takes senders running as")) << text;
  EXPECT_TRUE(has_substring(listener_side, "65534")) << text;
}

TEST(ChannelShm, MemfdVariantSenderGetsPeerClosedWhenTheListenerIsKilled) {
  const std::string url = "shm://@" + test::unique_name();
  Pipe ready = Pipe::create();
  Pipe never = Pipe::create();
  Forked listener([&] {
    Channel rx = Channel::listen(url + "?capacity=4096");
    test::notify(ready.write_end);
    std::vector<std::byte> buffer(rx.max_message());
    (void)rx.receive(buffer, Deadline::after(30s));  // serves the join, takes one message
    (void)test::await(never.read_end);               // then takes nothing more until killed
    return 0;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  Channel tx = Channel::connect(url, {}, Deadline::after(10s));
  ASSERT_EQ(tx.send(text("first"), Deadline::after(10s)).status, IoStatus::ok);
  ASSERT_EQ(::kill(listener.pid(), SIGKILL), 0);
  ASSERT_EQ(listener.wait().signal, SIGKILL);
  IoResult r{};
  for (int i = 0; i < 100000 && r.status == IoStatus::ok; ++i) r = tx.send(text("more"), Deadline::after(10s));
  EXPECT_EQ(r.status, IoStatus::peer_closed);
}

// --- Wake-ups that must not be lost (review of the readiness descriptor and busy-poll) ------

// CPU time (clock ticks) that thread `tid` of this process has used so far: a thread that
// busy-polls is in no syscall /proc could show, but this grows while it spins.
long cpu_ticks(pid_t tid) {
  const std::string stat = test::file_bytes("/proc/self/task/" + std::to_string(tid) + "/stat");
  const std::size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  // After "pid (comm)": state is field 3, utime field 14, stime field 15.
  std::istringstream fields(stat.substr(close_paren + 1));
  std::string field;
  long utime = 0;
  long stime = 0;
  for (int n = 3; n <= 15 && fields >> field; ++n) {
    if (n == 14) utime = std::stol(field);
    if (n == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// Waits (20 s at most) until thread `tid` has used `ticks` more clock ticks of CPU: it is
// spinning, not about to start.
bool keeps_spinning(pid_t tid, long ticks) {
  const long start = cpu_ticks(tid);
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    if (cpu_ticks(tid) >= start + ticks) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

// What of the readiness descriptor's epoll set is ready now: "bell" (the doorbell socket) and
// "timer" (the liveness timer). epoll_wait on it only reports (level-triggered): it takes
// nothing, so the channel's state is as it was.
std::vector<std::string> ready_members(int readiness_fd) {
  std::array<epoll_event, 4> events{};
  const int n = ::epoll_wait(readiness_fd, events.data(), static_cast<int>(events.size()), 0);
  EXPECT_NE(n, -1) << std::strerror(errno);
  std::vector<std::string> members;
  for (int i = 0; i < n; ++i) {
    const int member = events[static_cast<std::size_t>(i)].data.fd;
    std::error_code ec;
    const std::string what =
        std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(member), ec).string();
    if (what.starts_with("socket:")) {
      members.push_back("bell");
    } else if (what.find("timerfd") != std::string::npos) {
      members.push_back("timer");
    } else {
      members.push_back(what);
    }
  }
  return members;
}

bool bell_rang(int readiness_fd) {
  const std::vector<std::string> members = ready_members(readiness_fd);
  return std::find(members.begin(), members.end(), "bell") != members.end();
}

// Clears receiver_waiting as a sender does in its wake-up (exchange with 0), as one killed right
// after would leave it: the listener not woken, and its flag gone for the senders that follow.
// `announced` is what the listener stored (kAsleepOnFutex or kWaitingOnBell); for a futex
// sleeper, `tid` is its thread, seen asleep before each try (its sleeps may end and begin again).
testing::AssertionResult clear_waiting_flag_of(const ShmName& name, std::uint32_t announced,
                                               pid_t tid = 0) {
  test::MappedSegment seg(name);
  std::atomic_ref<std::uint32_t> waiting = seg.word(offsetof(sc::ChannelHeader, receiver_waiting));
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (tid != 0 && !test::wait_until_blocked_in(tid, SYS_futex))
      return testing::AssertionFailure() << "the listener does not sleep in futex";
    std::uint32_t expected = announced;
    if (waiting.compare_exchange_strong(expected, sc::kAwake)) return testing::AssertionSuccess();
    if (tid == 0) {
      return testing::AssertionFailure()
             << "receiver_waiting is " << expected << ", not " << announced;
    }
  }
  return testing::AssertionFailure() << "receiver_waiting was never " << announced;
}

// A sender killed between clearing the listener's flag and waking it, while no sender at all
// is connected: the listener, asleep in futex for as long as its deadline allows, must still
// hear the next sender that joins (joins wake it whatever the flag says). The sleep would end
// at the 30 s deadline, and the message would then be taken too: the 10 s bound on the wait
// for the receive is what fails when the join did not wake it.
TEST(ChannelShm, ListenerWakesForAJoinerAfterAFlagWasClearedByOneThatDied) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  ReceiveOnAThread receiving(rx, 30s);
  ASSERT_TRUE(clear_waiting_flag_of(name, sc::kAsleepOnFutex, receiving.tid()));
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(tx.try_send(text("heard")));
  EXPECT_TRUE(receiving.ended_within(10s))
      << "the listener slept on: neither the join nor the message woke it";
  EXPECT_EQ(receiving.message(), "heard");
}

// The same with a listener armed on its readiness descriptor and no sender at all: its
// descriptor must turn readable (a join rings whatever the flag says, and an armed listener
// with no sender looks again once a second).
TEST(ChannelShm, ReadinessDescriptorWakesForAJoinerAfterAFlagWasClearedByOneThatDied) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  const int fd = rx.readiness_fd();
  std::vector<std::byte> buffer(rx.max_message());
  ASSERT_TRUE(readable(fd, 10000));
  EXPECT_TRUE(drain(rx, buffer).empty());  // armed: receiver_waiting is kWaitingOnBell
  ASSERT_TRUE(clear_waiting_flag_of(name, sc::kWaitingOnBell));
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(tx.try_send(text("heard")));
  ASSERT_TRUE(readable(fd, 10000)) << "the descriptor never turned readable for the new sender";
  EXPECT_EQ(drain_texts(rx, buffer), std::vector<std::string>{"heard"});
}

// A sender in another network namespace cannot ring the doorbell (an abstract socket belongs
// to one network namespace; the segment in /dev/shm does not). A listener armed with no
// sender at all must still see it come: its timer brings it back within about a second.
TEST(ChannelShm, ReadinessDescriptorHearsASenderThatCannotRingTheBell) {
  if (::geteuid() != 0) GTEST_SKIP() << "a network namespace of its own (unshare) needs root";
  {
    Forked probe([] { return ::unshare(CLONE_NEWNET) == 0 ? 0 : 20; });
    if (probe.wait().code == 20) GTEST_SKIP() << "unshare(CLONE_NEWNET) is not allowed here";
  }
  ShmName name;
  Channel rx = Channel::listen(name.url());
  const int fd = rx.readiness_fd();
  std::vector<std::byte> buffer(rx.max_message());
  ASSERT_TRUE(readable(fd, 10000));
  EXPECT_TRUE(drain(rx, buffer).empty());  // armed, with no sender
  Pipe go = Pipe::create();
  Pipe sent = Pipe::create();
  Pipe leave = Pipe::create();
  Forked sender([&] {
    if (::unshare(CLONE_NEWNET) != 0) return 20;
    if (!test::await(go.read_end)) return 2;
    Channel tx = Channel::connect(name.url(), {}, Deadline::after(10s));
    if (!tx.try_send(text("from another namespace"))) return 1;
    test::notify(sent.write_end);
    return test::await(leave.read_end) ? 0 : 3;
  });
  test::notify(go.write_end);
  ASSERT_TRUE(test::await(sent.read_end))
      << "the sender did not send: " << sender.wait().to_string();
  ASSERT_TRUE(readable(fd, 10000))
      << "the descriptor never turned readable for a sender whose rings go nowhere";
  EXPECT_EQ(drain_texts(rx, buffer), std::vector<std::string>{"from another namespace"});
  test::notify(leave.write_end);
  EXPECT_TRUE(sender.wait().success());
  bool ended = false;
  for (int round = 0; round < 100 && !ended; ++round) {
    ASSERT_TRUE(readable(fd, 10000)) << "its close was never seen";
    for (const IoResult& r : drain(rx, buffer))
      ended |= r.status == IoStatus::end_of_stream;
  }
  EXPECT_TRUE(ended);
}

// A sender killed while claiming a slot leaves it "claiming" with no lock. A listener that
// busy-polls (it never sleeps, so no liveness sleep brings it to the locks) gives it back
// too, while it spins: the next sender gets the only slot.
TEST(ChannelShm, BusyPollingListenerGivesBackASlotLeftClaiming) {
  ShmName name;
  ChannelOptions busy;
  busy.spin = std::chrono::nanoseconds::max();
  Channel rx = Channel::listen(name.url() + "?capacity=4096&senders=1", busy);
  std::vector<std::byte> buffer(rx.max_message());
  std::atomic<pid_t> tid{0};
  IoResult result{};
  Pipe spinning = Pipe::create();
  std::jthread receiver([&] {
    tid = test::this_tid();
    // The first receive looks at the locks; the next has a liveness period to go before it
    // looks again, and spins: the slot is spoiled during that spin.
    if (rx.try_receive(buffer).status != IoStatus::would_block) return;
    test::notify(spinning.write_end);
    result = rx.receive(buffer, Deadline::after(30s));
  });
  ASSERT_TRUE(test::await(spinning.read_end));
  ASSERT_TRUE(keeps_spinning(tid.load(), 3)) << "the listener does not spin";
  test::MappedSegment seg(name);
  seg.word(sizeof(sc::ChannelHeader) + offsetof(sc::SlotEntry, state))
      .store(static_cast<std::uint32_t>(sc::SlotState::claiming));
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(tx.try_send(text("joined")));
  receiver.join();
  ASSERT_EQ(result.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(result.bytes)), "joined");
}

// A sender in busy-poll mode still wakes a listener asleep in futex. The listener's sleeps
// end at the liveness period (a sender is connected), so it would find the message anyway:
// receiver_wake, which only a waker adds to, shows that the sender woke it. One message may
// land while the listener is between two sleeps (then nobody needs to wake it): a few tries.
TEST(ChannelShm, AListenerAsleepIsWokenByABusyPollingSender) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  ChannelOptions busy;
  busy.spin = std::chrono::nanoseconds::max();
  Channel tx = Channel::connect(rx.url(), busy, Deadline::after(10s));
  test::MappedSegment seg(name);
  std::atomic_ref<std::uint32_t> wake = seg.word(offsetof(sc::ChannelHeader, receiver_wake));
  bool woken = false;
  for (int attempt = 0; attempt < 5 && !woken; ++attempt) {
    ReceiveOnAThread receiving(rx, 30s);
    ASSERT_TRUE(test::wait_until_blocked_in(receiving.tid(), SYS_futex));
    const std::uint32_t before = wake.load();
    ASSERT_TRUE(tx.try_send(text("wake up")));
    EXPECT_EQ(receiving.message(), "wake up");
    woken = wake.load() != before;
  }
  EXPECT_TRUE(woken) << "in 5 tries the sender never woke the sleeping listener";
}

// A blocking receive on a listener that has a readiness descriptor sleeps in futex (which
// takes the flag the descriptor was armed with). When it times out the descriptor must be
// armed again, or the caller, back in poll, would not hear the next sender.
TEST(ChannelShm, ABlockingReceiveThatTimesOutLeavesTheReadinessDescriptorArmed) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  const int fd = rx.readiness_fd();
  std::vector<std::byte> buffer(rx.max_message());
  ASSERT_TRUE(readable(fd, 10000));
  EXPECT_TRUE(drain(rx, buffer).empty());
  EXPECT_EQ(rx.receive(buffer, Deadline::after(20ms)).status, IoStatus::timed_out);
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(tx.try_send(text("after the timeout")));
  ASSERT_TRUE(readable(fd, 10000)) << "the descriptor was left disarmed";
  EXPECT_EQ(drain_texts(rx, buffer), std::vector<std::string>{"after the timeout"});
}

// The doorbell itself rings, not only the liveness timer: sendto on a Unix datagram socket
// queues the datagram before it returns, so the bell member of the epoll set is ready as soon
// as the send (or the close) that rang it has returned.
TEST(ChannelShm, ReadinessDescriptorsBellRingsAtOnceForAMessageAndForAClose) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  const int fd = rx.readiness_fd();
  Channel tx = Channel::connect(rx.url(), {}, Deadline::after(10s));
  std::vector<std::byte> buffer(rx.max_message());
  ASSERT_TRUE(readable(fd, 10000));
  EXPECT_TRUE(drain(rx, buffer).empty());  // attaches the sender, then arms
  ASSERT_TRUE(tx.try_send(text("ring")));
  EXPECT_TRUE(bell_rang(fd)) << "ready now: " << testing::PrintToString(ready_members(fd));
  EXPECT_EQ(drain_texts(rx, buffer), std::vector<std::string>{"ring"});  // re-arms
  { Channel gone = std::move(tx); }
  EXPECT_TRUE(bell_rang(fd)) << "ready now: " << testing::PrintToString(ready_members(fd));
  const std::vector<IoResult> after = drain(rx, buffer);
  ASSERT_EQ(after.size(), 1U);
  EXPECT_EQ(after[0].status, IoStatus::end_of_stream);
}

// --- fork() ----------------------------------------------------------------------------------
//
// A forked child has a copy of every channel end of its parent (sharing its liveness lock).
// Destroying that copy in the child closes the child's descriptors only: the parent's end
// goes on. Forked's child leaves with _exit, so the child destroys its copy explicitly.

TEST(ChannelShm, ForkedChildDestroyingItsCopyOfTheListenerLeavesTheParentsListening) {
  ShmName name;
  std::optional<Channel> rx{Channel::listen(name.url())};
  Channel before = Channel::connect(name.url(), {}, Deadline::after(10s));
  Forked child([&] {
    rx.reset();
    return 0;
  });
  ASSERT_TRUE(child.wait(10s).success());
  EXPECT_TRUE(std::filesystem::exists(name.path())) << "the child removed the parent's segment";
  std::vector<std::byte> buffer(rx->max_message());
  EXPECT_EQ(before.send(text("from before the fork"), Deadline::after(10s)).status,
            IoStatus::ok);
  IoResult r = rx->receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "from before the fork");
  Channel after = Channel::connect(name.url(), {}, Deadline::after(10s));
  ASSERT_TRUE(after.try_send(text("from after the fork")));
  r = rx->receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "from after the fork");
}

// The memfd variant's listener has a thread that hands the memfd out: the child's copy has
// no such thread (fork copies the calling thread only) and must not stop the parent's.
TEST(ChannelShm, ForkedChildDestroyingItsCopyOfAMemfdListenerLeavesTheParentsListening) {
  const std::string url = "shm://@" + test::unique_name();
  std::optional<Channel> rx{Channel::listen(url)};
  Channel before = Channel::connect(url, {}, Deadline::after(10s));
  Forked child([&] {
    rx.reset();
    return 0;
  });
  const ExitStatus st = child.wait(10s);
  EXPECT_TRUE(st.success()) << "the child, destroying its copy, " << st.to_string();
  std::vector<std::byte> buffer(rx->max_message());
  EXPECT_EQ(before.send(text("from before the fork"), Deadline::after(10s)).status,
            IoStatus::ok);
  IoResult r = rx->receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "from before the fork");
  Channel after = Channel::connect(url, {}, Deadline::after(10s));
  ASSERT_TRUE(after.try_send(text("from after the fork")));
  r = rx->receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "from after the fork");
}

TEST(ChannelShm, ForkedChildDestroyingItsCopyOfASenderLeavesTheParentsSending) {
  ShmName name;
  Channel rx = Channel::listen(name.url());
  std::optional<Channel> tx{Channel::connect(rx.url(), {}, Deadline::after(10s))};
  std::vector<std::byte> buffer(rx.max_message());
  ASSERT_TRUE(tx->try_send(text("before the fork")));
  IoResult r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);  // attached
  Forked child([&] {
    tx.reset();
    return 0;
  });
  ASSERT_TRUE(child.wait(10s).success());
  ASSERT_EQ(tx->send(text("after the fork"), Deadline::after(10s)).status, IoStatus::ok);
  r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "after the fork");
  EXPECT_EQ(rx.try_receive(buffer).status, IoStatus::would_block)
      << "the child's copy closed the parent's sender";
  ASSERT_EQ(tx->send(text("still here"), Deadline::after(10s)).status, IoStatus::ok);
  r = rx.receive(buffer, Deadline::after(10s));
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(as_text(std::span{buffer}.first(r.bytes)), "still here");
  tx.reset();  // the parent's close is the one that ends the stream
  EXPECT_EQ(rx.receive(buffer, Deadline::after(10s)).status, IoStatus::end_of_stream);
}

// --- The memfd variant, more -------------------------------------------------------------------

// A "listener" that is not ipckit's (the test binds the rendezvous socket itself) hands out a
// memfd whose size is not sealed: a peer could shrink it under the sender's mapping (SIGBUS),
// so the sender refuses it.
TEST(ChannelShm, MemfdVariantRefusesASegmentWhoseSizeIsNotSealed) {
  const std::string name = test::unique_name();
  const UnixListener fake = UnixListener::bind(
      {.address = UnixAddress::abstract("ipckit/shm/" + name), .type = SocketType::seqpacket});
  const Fd memfd{::memfd_create("ipckit-t-unsealed", MFD_CLOEXEC)};
  ASSERT_TRUE(memfd.valid()) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(memfd.get(), 65536), 0);
  std::jthread handing([&] {
    try {
      const std::optional<Socket> caller = fake.accept(Deadline::after(10s));
      if (!caller) return;
      const int passed = memfd.get();
      (void)caller->send_fds(std::span{&passed, 1}, std::as_bytes(std::span{"m", 1}),
                             Deadline::after(10s));
      // The caller reads what was queued even after this end closes.
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the fake listener: " << e.what();
    }
  });
  const Error e =
      test::error_from([&] { (void)Channel::connect("shm://@" + name, {}, Deadline::after(10s)); });
  EXPECT_EQ(e.errnum(), EPROTO);
  EXPECT_TRUE(has_substring(e.what(), "sealed"));
}

// The readiness descriptor works on the memfd variant as on the named one: a sender in
// another process, its messages, its close.
TEST(ChannelShm, MemfdVariantHasAReadinessDescriptorToo) {
  const std::string url = "shm://@" + test::unique_name();
  Channel rx = Channel::listen(url);
  const int fd = rx.readiness_fd();
  std::vector<std::byte> buffer(rx.max_message());
  ASSERT_TRUE(readable(fd, 10000));
  EXPECT_TRUE(drain(rx, buffer).empty());
  Pipe go = Pipe::create();
  const auto sender = numbered_sender(url, go, 1000);
  test::notify(go.write_end);
  EXPECT_EQ(receive_numbered_until_end(rx, [&] { return readable(fd, 30000); }), 1000U);
  EXPECT_TRUE(sender->wait().success());
}

}  // namespace
}  // namespace ipckit
