// Unit tests for ipckit::sysv::MessageQueue: create, open and from_id; send and receive by
// type (0, positive, negative) with and without waiting; stat; remove; and the messages of
// every error a user may meet (taken keys, types <= 0, messages above msgmax, buffers too
// small, removed queues, missing permission). The seed's claim Q1 is shown in
// tests/seed/seed_sysv_queue_test.cpp.
//
// Every queue made here is removed when its test ends, passed or failed (RemoveAtEnd, in the
// parent only); keyed ones use keys from files of the test's own TempDir.

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/sysv.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::RemoveAtEnd;
using sysv::Key;
using sysv::MessageQueue;
using sysv::MsgReceived;

static_assert(std::is_trivially_copyable_v<MessageQueue>);  // a plain handle: owns nothing

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}
bool is_gone(int errnum) {
  return errnum == EINVAL || errnum == EIDRM;
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span{text.data(), text.size()});
}

// A key no queue holds yet, from a file of `dir` (ftok keys may collide with unrelated
// queues; then the next file is tried).
Key free_key(const test::TempDir& dir) {
  for (int attempt = 0;; ++attempt) {
    auto path = dir / ("key" + std::to_string(attempt));
    std::ofstream(path) << "ipckit sysv msg key file\n";
    Key key = Key::from_path(path, 'Q');
    if (::msgget(key.value(), 0) == -1 && errno == ENOENT) return key;
    if (attempt == 20) throw std::runtime_error("no free ftok key found");
  }
}

void send_text(const MessageQueue& q, long type, std::string_view text) {
  ASSERT_EQ(q.send(type, bytes_of(text)), IoStatus::ok);
}

struct Got {
  long type = 0;
  std::string text;
};

// Receives one message (waiting), as type and text.
Got receive_text(const MessageQueue& q, long type = 0, Deadline wait = Deadline::never()) {
  std::array<std::byte, 512> buffer{};
  MsgReceived r = q.receive(buffer, type, wait);
  EXPECT_TRUE(r.ok()) << to_string(r.status);
  if (!r.ok()) return {};
  return {r.type, std::string(reinterpret_cast<const char*>(buffer.data()), r.bytes)};
}

// In a child: becomes uid and gid 65534 (nobody), with no supplementary groups and so no
// capabilities. false when this process may not (not root).
bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0;
}
constexpr int kCannotDropPrivileges = 77;
constexpr int kCannotRun = 78;

unsigned long long msgmax() {
  unsigned long long value = 0;
  std::ifstream("/proc/sys/kernel/msgmax") >> value;
  return value;
}

// --- create, open, from_id ----------------------------------------------------------------

TEST(SysvMessageQueue, PrivateKeyMakesANewOwnerOnlyQueueEachTime) {
  MessageQueue a = MessageQueue::create({});
  RemoveAtEnd guard_a(a);
  MessageQueue b = MessageQueue::create({});
  RemoveAtEnd guard_b(b);
  EXPECT_NE(a.id(), b.id());
  const auto s = a.stat();
  EXPECT_TRUE(s.key.is_private());
  EXPECT_EQ(s.mode, 0600u);
  EXPECT_EQ(s.uid, ::geteuid());
  EXPECT_EQ(s.messages, 0u);
  EXPECT_EQ(s.bytes, 0u);
  EXPECT_GT(s.max_bytes, 0u);
}

TEST(SysvMessageQueue, OpenByKeyAndFromIdFindTheSameQueue) {
  test::TempDir dir;
  const Key key = free_key(dir);
  MessageQueue created = MessageQueue::create({.key = key, .mode = 0640});
  RemoveAtEnd guard(created);
  EXPECT_EQ(MessageQueue::open(key).id(), created.id());
  EXPECT_EQ(MessageQueue::from_id(created.id()).id(), created.id());
  EXPECT_EQ(created.stat().key, key);
  EXPECT_EQ(created.stat().mode, 0640u);
  send_text(created, 1, "through the key");
  EXPECT_EQ(receive_text(MessageQueue::open(key)).text, "through the key");
}

TEST(SysvMessageQueue, CreateExclusiveOnATakenKeyFailsSayingHowToRemoveIt) {
  test::TempDir dir;
  const Key key = free_key(dir);
  MessageQueue first = MessageQueue::create({.key = key});
  RemoveAtEnd guard(first);
  const Error e =
      test::error_from([&] { RemoveAtEnd unexpected(MessageQueue::create({.key = key})); });
  EXPECT_EQ(e.errnum(), EEXIST);
  EXPECT_EQ(e.syscall(), "msgget");
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "key " + key.to_string())) << what;
  EXPECT_TRUE(contains(what, "(id " + std::to_string(first.id()) + ")")) << what;
  EXPECT_TRUE(contains(what, "`ipckit rm -Q " + key.to_string() + "`")) << what;
  EXPECT_TRUE(contains(what, "`ipcrm -Q " + key.to_string() + "`")) << what;
}

TEST(SysvMessageQueue, CreateNotExclusiveOpensTheExistingQueueWithItsMessages) {
  test::TempDir dir;
  const Key key = free_key(dir);
  MessageQueue first = MessageQueue::create({.key = key});
  RemoveAtEnd guard(first);
  send_text(first, 3, "kept");
  MessageQueue again = MessageQueue::create({.key = key, .exclusive = false});
  EXPECT_EQ(again.id(), first.id());
  EXPECT_EQ(again.stat().messages, 1u);
}

TEST(SysvMessageQueue, OpenOfAMissingKeyOrOfIpcPrivateFailsClearly) {
  test::TempDir dir;
  const Key key = free_key(dir);
  const Error missing = test::error_from([&] { (void)MessageQueue::open(key); });
  EXPECT_EQ(missing.errnum(), ENOENT);
  // Worded for programs and for `ipckit rm -Q KEY` users alike: how to list the keys, no API.
  EXPECT_TRUE(contains(missing.what(), "no queue has key " + key.to_string())) << missing.what();
  EXPECT_TRUE(contains(missing.what(), "`ipckit ls -q` lists the queues and their keys"))
      << missing.what();
  EXPECT_FALSE(contains(missing.what(), "MessageQueue::")) << missing.what();
  const Error private_key = test::error_from([&] { (void)MessageQueue::open(Key::private_key()); });
  EXPECT_EQ(private_key.errnum(), EINVAL);
  EXPECT_TRUE(contains(private_key.what(), "from_id")) << private_key.what();
}

TEST(SysvMessageQueue, FromIdOfNoQueueFails) {
  MessageQueue q = MessageQueue::create({});
  const int id = q.id();
  q.remove();
  const Error gone = test::error_from([&] { (void)MessageQueue::from_id(id); });
  EXPECT_TRUE(is_gone(gone.errnum())) << gone.what();
  EXPECT_TRUE(contains(gone.what(), "msqid " + std::to_string(id))) << gone.what();
  EXPECT_TRUE(contains(gone.what(), "ipckit ls -q")) << gone.what();
  const Error negative = test::error_from([&] { (void)MessageQueue::from_id(-1); });
  EXPECT_EQ(negative.errnum(), EINVAL);
}

TEST(SysvMessageQueue, ModeWithBitsBeyondTheNinePermissionBitsIsRefused) {
  const Error e =
      test::error_from([&] { RemoveAtEnd unexpected(MessageQueue::create({.mode = 01600})); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "01600")) << e.what();
  EXPECT_TRUE(contains(e.what(), "msgget flags")) << e.what();
}

// --- send and receive ---------------------------------------------------------------------

TEST(SysvMessageQueue, EachReceiveGetsOneWholeMessageWithItsType) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  send_text(q, 7, "first");
  send_text(q, 7, "second, longer");
  send_text(q, 1, "");  // an empty message is a message
  Got a = receive_text(q);
  EXPECT_EQ(a.type, 7);
  EXPECT_EQ(a.text, "first");
  EXPECT_EQ(receive_text(q).text, "second, longer");
  Got empty = receive_text(q);
  EXPECT_EQ(empty.type, 1);
  EXPECT_EQ(empty.text, "");
}

TEST(SysvMessageQueue, TypeZeroTakesMessagesInTheOrderSentWhateverTheirType) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  send_text(q, 5, "a");
  send_text(q, 1, "b");
  send_text(q, 3, "c");
  EXPECT_EQ(receive_text(q, 0).text, "a");
  EXPECT_EQ(receive_text(q, 0).text, "b");
  EXPECT_EQ(receive_text(q, 0).text, "c");
}

TEST(SysvMessageQueue, PositiveTypeTakesTheFirstMessageOfThatTypeOnly) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  send_text(q, 1, "one-a");
  send_text(q, 2, "two-a");
  send_text(q, 1, "one-b");
  send_text(q, 2, "two-b");
  EXPECT_EQ(receive_text(q, 2).text, "two-a");
  EXPECT_EQ(receive_text(q, 2).text, "two-b");
  std::array<std::byte, 16> buffer{};
  EXPECT_EQ(q.receive(buffer, 2, Deadline::now()).status, IoStatus::would_block);  // type 1 left
  EXPECT_EQ(receive_text(q, 1).text, "one-a");
  EXPECT_EQ(receive_text(q, 1).text, "one-b");
}

TEST(SysvMessageQueue, NegativeTypeTakesTheLowestTypeUpToItFirstInOrderAmongEquals) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  send_text(q, 9, "nine");
  send_text(q, 3, "three-a");
  send_text(q, 2, "two");
  send_text(q, 3, "three-b");
  send_text(q, 1, "one");
  EXPECT_EQ(receive_text(q, -3).text, "one");
  EXPECT_EQ(receive_text(q, -3).text, "two");
  EXPECT_EQ(receive_text(q, -3).text, "three-a");
  EXPECT_EQ(receive_text(q, -3).text, "three-b");
  std::array<std::byte, 16> buffer{};
  EXPECT_EQ(q.receive(buffer, -3, Deadline::now()).status, IoStatus::would_block);  // 9 > 3
  Got nine = receive_text(q, LONG_MIN);  // |LONG_MIN| does not fit a long: every type
  EXPECT_EQ(nine.type, 9);
  EXPECT_EQ(nine.text, "nine");
}

TEST(SysvMessageQueue, NoWaitReceiveOnAnEmptyQueueWouldBlock) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  std::array<std::byte, 16> buffer{};
  MsgReceived r = q.receive(buffer, 0, Deadline::now());
  EXPECT_EQ(r.status, IoStatus::would_block);
  EXPECT_FALSE(r.ok());
}

TEST(SysvMessageQueue, NoWaitSendOnAFullQueueWouldBlockAndQueuesNothing) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  const std::size_t room = q.stat().max_bytes;
  const std::vector<std::byte> chunk(std::min<std::size_t>(room, 1024));
  std::size_t sent = 0;
  while (q.send(1, chunk, Deadline::now()) == IoStatus::ok) {
    ++sent;
    ASSERT_LE(sent * chunk.size(), room);
  }
  EXPECT_EQ(q.stat().messages, sent);
  EXPECT_EQ(q.stat().bytes, sent * chunk.size());
}

// A finite deadline: System V has no timed wait, so the calls try again until it passes and
// then say timed_out (not would_block, which is for Deadline::now()).
TEST(SysvMessageQueue, ReceiveWithADeadlineOnAnEmptyQueueTimesOut) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  std::array<std::byte, 16> buffer{};
  const MsgReceived r = q.receive(buffer, 0, Deadline::after(30ms));
  EXPECT_EQ(r.status, IoStatus::timed_out);
}

TEST(SysvMessageQueue, SendWithADeadlineOnAFullQueueTimesOutAndQueuesNothing) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  const std::vector<std::byte> chunk(std::min<std::size_t>(q.stat().max_bytes, 1024));
  while (q.send(1, chunk, Deadline::now()) == IoStatus::ok) {
  }
  const std::size_t held = q.stat().messages;
  EXPECT_EQ(q.send(1, chunk, Deadline::after(30ms)), IoStatus::timed_out);
  EXPECT_EQ(q.stat().messages, held);
}

// A message sent while a receive with a deadline waits is taken (by one of its tries).
TEST(SysvMessageQueue, ReceiveWithADeadlineTakesAMessageSentMeanwhile) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  std::thread sender([&] { send_text(q, 3, "in time"); });
  std::array<std::byte, 16> buffer{};
  const MsgReceived r = q.receive(buffer, 3, Deadline::after(20s));
  sender.join();
  ASSERT_EQ(r.status, IoStatus::ok);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(buffer.data()), r.bytes), "in time");
}

TEST(SysvMessageQueue, BlockedReceiverIsWokenBySendFromAnotherProcess) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  test::Forked receiver([&]() -> int {
    Got got = receive_text(q, 4);
    EXPECT_EQ(got.type, 4);
    EXPECT_EQ(got.text, "wake up");
    return 0;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(receiver.pid(), SYS_msgrcv));
  send_text(q, 2, "not for it");  // another type does not wake it for good
  send_text(q, 4, "wake up");
  EXPECT_TRUE(receiver.wait().success());
  EXPECT_EQ(q.stat().messages, 1u);
  EXPECT_EQ(receive_text(q).text, "not for it");
}

TEST(SysvMessageQueue, BlockedSenderIsWokenWhenAReceiveMakesRoom) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  const std::size_t room = q.stat().max_bytes;
  const std::vector<std::byte> chunk(std::min<std::size_t>(room, 1024));
  while (q.send(1, chunk, Deadline::now()) == IoStatus::ok) {
  }
  const std::size_t full = q.stat().messages;
  test::Forked sender([&]() -> int { return q.send(2, chunk) == IoStatus::ok ? 0 : 1; });
  ASSERT_TRUE(test::wait_until_blocked_in(sender.pid(), SYS_msgsnd));
  std::vector<std::byte> buffer(chunk.size());
  ASSERT_TRUE(q.receive(buffer, 1).ok());
  EXPECT_TRUE(sender.wait().success());
  EXPECT_EQ(q.stat().messages, full);
  EXPECT_EQ(q.receive(buffer, 2).type, 2);
}

TEST(SysvMessageQueue, StatCountsMessagesBytesAndTheLastPids) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  test::Forked sender([&]() -> int {
    send_text(q, 1, "12345");
    send_text(q, 2, "678");
    return 0;
  });
  ASSERT_TRUE(sender.wait().success());
  auto s = q.stat();
  EXPECT_EQ(s.messages, 2u);
  EXPECT_EQ(s.bytes, 8u);
  EXPECT_EQ(s.last_send_pid, sender.pid());
  EXPECT_EQ(s.last_receive_pid, 0);
  EXPECT_NE(s.stime, 0);
  EXPECT_EQ(s.rtime, 0);
  (void)receive_text(q);
  s = q.stat();
  EXPECT_EQ(s.messages, 1u);
  EXPECT_EQ(s.bytes, 3u);
  EXPECT_EQ(s.last_receive_pid, ::getpid());
  EXPECT_NE(s.rtime, 0);
}

// --- errors ---------------------------------------------------------------------------------

TEST(SysvMessageQueue, MessageLongerThanTheBufferStaysQueuedAndTheErrorSaysTheSizeNeeded) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  send_text(q, 1, "short");
  const std::string long_text(300, 'x');
  send_text(q, 5, long_text);
  std::array<std::byte, 100> small{};
  const Error e = test::error_from([&] { (void)q.receive(small, 5); });
  EXPECT_EQ(e.errnum(), E2BIG);
  EXPECT_EQ(e.syscall(), "msgrcv");
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "msqid " + std::to_string(q.id()))) << what;
  EXPECT_TRUE(contains(what, "stays in the queue")) << what;
  // The exact size when the kernel has MSG_COPY (CONFIG_CHECKPOINT_RESTORE), else msgmax.
  EXPECT_TRUE(contains(what, "the first message of type 5 has 300 bytes") ||
              contains(what, "msgmax"))
      << what;
  EXPECT_EQ(q.stat().messages, 2u);
  Got got = receive_text(q, 5);  // a big enough buffer takes it
  EXPECT_EQ(got.text, long_text);
  EXPECT_EQ(receive_text(q).text, "short");
}

TEST(SysvMessageQueue, TooSmallBufferWithNegativeTypeNamesTheSelectedMessage) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  send_text(q, 8, "eight, but too high");
  send_text(q, 4, std::string(40, 'y'));
  std::array<std::byte, 10> small{};
  const Error e = test::error_from([&] { (void)q.receive(small, -5); });
  EXPECT_EQ(e.errnum(), E2BIG);
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "the lowest type up to 5 has 40 bytes") || contains(what, "msgmax"))
      << what;
  EXPECT_EQ(q.stat().messages, 2u);
}

TEST(SysvMessageQueue, TypeZeroOrNegativeIsRefusedOnSend) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  for (long type : {0L, -1L, LONG_MIN}) {
    const Error e = test::error_from([&] { (void)q.send(type, bytes_of("x")); });
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_EQ(e.syscall(), "msgsnd");
    EXPECT_TRUE(contains(e.what(), "must be > 0")) << e.what();
  }
  EXPECT_EQ(q.stat().messages, 0u);
}

TEST(SysvMessageQueue, MessageLongerThanMsgmaxNamesTheLimitAndItsValue) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  const unsigned long long limit = msgmax();
  ASSERT_GT(limit, 0u);
  const std::vector<std::byte> too_long(limit + 1);
  const Error e = test::error_from([&] { (void)q.send(1, too_long); });
  EXPECT_EQ(e.errnum(), EINVAL);
  const std::string what = e.what();
  EXPECT_TRUE(contains(what, "/proc/sys/kernel/msgmax (" + std::to_string(limit) + ")")) << what;
  EXPECT_TRUE(contains(what, std::to_string(limit + 1) + " bytes")) << what;
  EXPECT_EQ(q.stat().messages, 0u);
}

TEST(SysvMessageQueue, MessageFarLongerThanMsgmaxIsRefusedNamingTheLimit) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  const unsigned long long limit = msgmax();
  ASSERT_GT(limit, 0u);
  const std::size_t size = std::max<std::size_t>(limit + 1, 4 << 20);  // above what is kept
  const std::vector<std::byte> too_long(size);
  const Error e = test::error_from([&] { (void)q.send(1, too_long); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(contains(e.what(), "/proc/sys/kernel/msgmax (" + std::to_string(limit) + ")"))
      << e.what();
  EXPECT_TRUE(contains(e.what(), std::to_string(size) + " bytes")) << e.what();
  EXPECT_EQ(q.stat().messages, 0u);
}

TEST(SysvMessageQueue, MessagesAbove64KiBTravelWholeWhereMsgmaxAllowsThem) {
  // In a private IPC namespace: its own msgmax and msgmnb (raised here) and its own queues,
  // which vanish with the child.
  test::Forked child([&]() -> int {
    if (::unshare(CLONE_NEWIPC) != 0) return kCannotRun;
    for (const auto& [path, value] : {std::pair{"/proc/sys/kernel/msgmax", 1 << 20},
                                      std::pair{"/proc/sys/kernel/msgmnb", 1 << 21}}) {
      std::ofstream limit(path);
      limit << value << std::flush;
      if (!limit) return kCannotRun;
    }
    MessageQueue q = MessageQueue::create({});
    std::vector<std::byte> big(200'000);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 7);
    EXPECT_EQ(q.send(7, big), IoStatus::ok);
    // A buffer above 64 KiB but too small: E2BIG, and the message stays.
    std::vector<std::byte> small(100'000);
    const Error e = test::error_from([&] { (void)q.receive(small); });
    EXPECT_EQ(e.errnum(), E2BIG);
    EXPECT_TRUE(contains(e.what(), "200000 bytes") || contains(e.what(), "msgmax")) << e.what();
    std::vector<std::byte> buffer(1 << 20);
    MsgReceived r = q.receive(buffer);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.type, 7);
    EXPECT_EQ(r.bytes, big.size());
    EXPECT_TRUE(std::equal(big.begin(), big.end(), buffer.begin()));
    // A short message into the same big buffer.
    send_text(q, 2, "hi");
    r = q.receive(buffer);
    EXPECT_EQ(r.bytes, 2u);
    EXPECT_EQ(r.type, 2);
    const std::vector<std::byte> too_long((1 << 20) + 1);
    const Error refused = test::error_from([&] { (void)q.send(1, too_long); });
    EXPECT_EQ(refused.errnum(), EINVAL);
    EXPECT_TRUE(contains(refused.what(), "/proc/sys/kernel/msgmax (1048576)")) << refused.what();
    return 0;
  });
  const ExitStatus status = child.wait();
  if (status.exited && status.code == kCannotRun)
    GTEST_SKIP() << "no private IPC namespace with its own msgmax here";
  EXPECT_TRUE(status.success()) << status.to_string();
}

TEST(SysvMessageQueue, MessageThatCanNeverFitIsAnErrorInsteadOfAWaitForever) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  struct msqid_ds ds {};
  ASSERT_EQ(::msgctl(q.id(), IPC_STAT, &ds), 0);
  ds.msg_qbytes = 100;  // the owner may lower it
  ASSERT_EQ(::msgctl(q.id(), IPC_SET, &ds), 0);
  ASSERT_EQ(q.stat().max_bytes, 100u);
  const std::vector<std::byte> message(200);
  for (Deadline wait : {Deadline::never(), Deadline::now()}) {
    const Error e = test::error_from([&] { (void)q.send(1, message, wait); });
    EXPECT_TRUE(contains(e.what(), "may hold only 100")) << e.what();
    EXPECT_TRUE(contains(e.what(), "msg_qbytes")) << e.what();
  }
  EXPECT_EQ(q.send(1, std::span{message}.first(100)), IoStatus::ok);
}

TEST(SysvMessageQueue, UseAfterRemoveIsAnErrorNamingTheQueueAndRemoveAgainIsFine) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  send_text(q, 1, "lost with the queue");
  q.remove();
  const std::string id = "msqid " + std::to_string(q.id());
  const Error send_error = test::error_from([&] { (void)q.send(1, bytes_of("x")); });
  EXPECT_TRUE(is_gone(send_error.errnum())) << send_error.what();
  EXPECT_TRUE(contains(send_error.what(), id)) << send_error.what();
  EXPECT_TRUE(contains(send_error.what(), "removed")) << send_error.what();
  std::array<std::byte, 16> buffer{};
  const Error receive_error = test::error_from([&] { (void)q.receive(buffer, 0, Deadline::now()); });
  EXPECT_TRUE(is_gone(receive_error.errnum())) << receive_error.what();
  EXPECT_TRUE(contains(receive_error.what(), id)) << receive_error.what();
  const Error stat_error = test::error_from([&] { (void)q.stat(); });
  EXPECT_TRUE(is_gone(stat_error.errnum())) << stat_error.what();
  EXPECT_EQ(stat_error.syscall(), "msgctl(IPC_STAT)");
  EXPECT_NO_THROW(q.remove());
}

TEST(SysvMessageQueue, ReceiverBlockedWhenTheQueueIsRemovedGetsAnError) {
  MessageQueue q = MessageQueue::create({});
  RemoveAtEnd guard(q);
  test::Forked receiver([&]() -> int {
    const Error e = test::error_from([&] { (void)receive_text(q); });
    EXPECT_EQ(e.errnum(), EIDRM) << e.what();
    EXPECT_TRUE(contains(e.what(), "removed (IPC_RMID) while this process waited")) << e.what();
    return 0;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(receiver.pid(), SYS_msgrcv));
  q.remove();
  const ExitStatus status = receiver.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
}

TEST(SysvMessageQueue, AnotherUserWithoutPermissionIsToldWhoOwnsTheQueue) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as another user (uid 65534)";
  test::TempDir dir;
  const Key key = free_key(dir);
  MessageQueue q = MessageQueue::create({.key = key});  // root's, mode 0600
  RemoveAtEnd guard(q);
  test::Forked other([&]() -> int {
    if (!become_nobody()) return kCannotDropPrivileges;
    MessageQueue found = MessageQueue::open(key);  // msgget without flags checks nothing
    const Error send_error = test::error_from([&] { (void)found.send(1, bytes_of("x")); });
    EXPECT_EQ(send_error.errnum(), EACCES);
    const std::string what = send_error.what();
    EXPECT_TRUE(contains(what, "write permission")) << what;
    EXPECT_TRUE(contains(what, "root (uid 0)")) << what;
    EXPECT_TRUE(contains(what, "0600")) << what;
    EXPECT_TRUE(contains(what, "IPC_STAT is refused")) << what;
    const Error remove_error = test::error_from([&] { found.remove(); });
    EXPECT_EQ(remove_error.errnum(), EPERM);
    EXPECT_TRUE(contains(remove_error.what(), "belongs to root (uid 0)")) << remove_error.what();
    const Error create_error =
        test::error_from([&] { (void)MessageQueue::create({.key = key, .exclusive = false}); });
    EXPECT_EQ(create_error.errnum(), EACCES);
    EXPECT_TRUE(contains(create_error.what(), "(id " + std::to_string(q.id()) + ")"))
        << create_error.what();
    return 0;
  });
  const ExitStatus status = other.wait();
  if (status.exited && status.code == kCannotDropPrivileges)
    GTEST_SKIP() << "setuid(65534) was refused";
  EXPECT_TRUE(status.success()) << status.to_string();
}

}  // namespace
}  // namespace ipckit
