// MessageQueue: POSIX message queues (mq_*). Create, open, remove; priorities; the
// non-blocking and timed forms; attributes; readiness through the descriptor; producer and
// consumer processes; and every error a user can run into, each naming what to do.
//
// Every queue is named "/" + unique_name() and removed by a test::RemoveAtEnd guard, whatever
// happens. Tests that must lose a capability or lower a limit do it in a forked child, and
// tests that change /proc/sys/fs/mqueue do it in a child's own IPC namespace, whose queues
// vanish with it.

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/inspect.hpp"
#include "ipckit/mqueue.hpp"
#include "ipckit/pipe.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::RemoveAtEnd;

static_assert(!std::is_copy_constructible_v<MessageQueue>);
static_assert(std::is_nothrow_move_constructible_v<MessageQueue> &&
              std::is_nothrow_move_assignable_v<MessageQueue>);

std::string queue_name() {
  return "/" + test::unique_name();
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span{text});
}

IoStatus send_text(const MessageQueue& q, std::string_view text, unsigned priority = 0,
                   Deadline deadline = Deadline::never()) {
  return q.send(bytes_of(text), priority, deadline);
}

// Receives one message as text; "<status>" when none came.
struct Text {
  std::string text;
  unsigned priority = 0;
};
Text receive_text(const MessageQueue& q, Deadline deadline = Deadline::never()) {
  std::vector<std::byte> buf(static_cast<std::size_t>(q.attributes().message_size));
  MqReceived r = q.receive(buf, deadline);
  if (!r.ok()) return {std::string("<") + to_string(r.status) + ">", 0};
  return {std::string(reinterpret_cast<const char*>(buf.data()), r.bytes), r.priority};
}

short poll_events(const Fd& fd, short events) {
  pollfd p{fd.get(), events, 0};
  int rc = ::poll(&p, 1, 0);
  return rc > 0 ? p.revents : 0;
}

unsigned long long read_number(const char* path) {
  unsigned long long value = 0;
  std::ifstream(path) >> value;
  return value;
}

// Exit code a child uses to say "this machine cannot run the test" (no IPC namespaces).
constexpr int kCannotRun = 77;

// --- create, open, remove -----------------------------------------------------------------

TEST(MessageQueue, CreateSendReceiveAndRemove) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 4, .message_size = 64});
  EXPECT_EQ(q.name(), name);
  ASSERT_EQ(send_text(q, "hello", 3), IoStatus::ok);
  Text got = receive_text(q);
  EXPECT_EQ(got.text, "hello");
  EXPECT_EQ(got.priority, 3u);
  EXPECT_TRUE(MessageQueue::remove(name));
  EXPECT_FALSE(MessageQueue::remove(name));  // gone already: false, not an error
}

TEST(MessageQueue, CreateAppliesTheAttributesAndCountsMessages) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 3, .message_size = 100});
  MqAttributes a = q.attributes();
  EXPECT_EQ(a.max_messages, 3);
  EXPECT_EQ(a.message_size, 100);
  EXPECT_EQ(a.current_messages, 0);
  ASSERT_EQ(send_text(q, "one"), IoStatus::ok);
  ASSERT_EQ(send_text(q, "two"), IoStatus::ok);
  EXPECT_EQ(q.attributes().current_messages, 2);
  (void)receive_text(q);
  EXPECT_EQ(q.attributes().current_messages, 1);
}

TEST(MessageQueue, OpenByNameSharesTheQueue) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto created = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 32});
  auto opened = MessageQueue::open(name);
  ASSERT_EQ(send_text(created, "through the name"), IoStatus::ok);
  EXPECT_EQ(receive_text(opened).text, "through the name");
  EXPECT_EQ(opened.attributes().message_size, 32);
}

TEST(MessageQueue, NonExclusiveCreateOpensTheExistingQueueWithItsOwnAttributes) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto first = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 32});
  ASSERT_EQ(send_text(first, "kept"), IoStatus::ok);
  auto second = MessageQueue::create(
      {.name = name, .max_messages = 5, .message_size = 64, .exclusive = false});
  MqAttributes a = second.attributes();
  EXPECT_EQ(a.max_messages, 2);
  EXPECT_EQ(a.message_size, 32);
  EXPECT_EQ(receive_text(second).text, "kept");
}

TEST(MessageQueue, DestructorClosesButDoesNotRemove) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  {
    auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
    ASSERT_EQ(send_text(q, "stays"), IoStatus::ok);
  }
  auto again = MessageQueue::open(name);
  EXPECT_EQ(receive_text(again).text, "stays");
}

TEST(MessageQueue, DescriptorIsCloseOnExec) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8});
  EXPECT_TRUE(q.fd().valid());
  EXPECT_TRUE(q.fd().cloexec());
  EXPECT_TRUE(MessageQueue::open(name).fd().cloexec());
}

TEST(MessageQueue, RemovedQueueStaysUsableThroughOpenDescriptors) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
  ASSERT_TRUE(MessageQueue::remove(name));
  ASSERT_EQ(send_text(q, "still here"), IoStatus::ok);
  EXPECT_EQ(receive_text(q).text, "still here");
}

// --- priorities ---------------------------------------------------------------------------

TEST(MessageQueue, HigherPriorityIsReceivedFirstAndFifoWithinAPriority) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 8, .message_size = 16});
  const std::vector<std::pair<std::string, unsigned>> sent{
      {"low-1", 1},  {"high-1", 9}, {"low-2", 1}, {"zero", 0},
      {"high-2", 9}, {"mid", 5},    {"low-3", 1}};
  for (const auto& [text, priority] : sent) ASSERT_EQ(send_text(q, text, priority), IoStatus::ok);
  std::vector<std::string> order;
  std::vector<unsigned> priorities;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    Text got = receive_text(q, Deadline::now());
    order.push_back(got.text);
    priorities.push_back(got.priority);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"high-1", "high-2", "mid", "low-1", "low-2", "low-3",
                                             "zero"}));
  EXPECT_EQ(priorities, (std::vector<unsigned>{9, 9, 5, 1, 1, 1, 0}));
}

TEST(MessageQueue, HighestAllowedPriorityWorksAndOneMoreIsRefused) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
  const long prio_max = ::sysconf(_SC_MQ_PRIO_MAX);
  ASSERT_GT(prio_max, 0);
  const auto top = static_cast<unsigned>(prio_max - 1);
  ASSERT_EQ(send_text(q, "top", top), IoStatus::ok);
  Error e = test::error_from([&] { (void)send_text(q, "over", top + 1); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_NE(std::string(e.what()).find("priority " + std::to_string(top + 1) + " is out of range"),
            std::string::npos)
      << e.what();
  EXPECT_EQ(q.attributes().current_messages, 1);
  EXPECT_EQ(receive_text(q).priority, top);
}

// --- non-blocking and timed forms ---------------------------------------------------------

TEST(MessageQueue, ReceiveOnEmptyQueueWouldBlockWithDeadlineNow) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
  std::array<std::byte, 16> buf{};
  MqReceived r = q.receive(buf, Deadline::now());
  EXPECT_EQ(r.status, IoStatus::would_block);
  EXPECT_FALSE(r.ok());
}

TEST(MessageQueue, SendOnFullQueueWouldBlockWithDeadlineNowAndSendsNothing) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
  ASSERT_EQ(send_text(q, "a", 0, Deadline::now()), IoStatus::ok);
  ASSERT_EQ(send_text(q, "b", 0, Deadline::now()), IoStatus::ok);
  EXPECT_EQ(send_text(q, "c", 7, Deadline::now()), IoStatus::would_block);
  EXPECT_EQ(q.attributes().current_messages, 2);
  EXPECT_EQ(receive_text(q).text, "a");  // "c" with its higher priority never went in
}

TEST(MessageQueue, ReceiveTimesOutOnEmptyQueue) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
  std::array<std::byte, 16> buf{};
  const Deadline deadline = Deadline::after(30ms);
  MqReceived r = q.receive(buf, deadline);
  EXPECT_EQ(r.status, IoStatus::timed_out);
  EXPECT_TRUE(deadline.expired());  // it did not give up before the deadline
}

TEST(MessageQueue, SendTimesOutOnFullQueue) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 16});
  ASSERT_EQ(send_text(q, "fills it"), IoStatus::ok);
  const Deadline deadline = Deadline::after(30ms);
  EXPECT_EQ(send_text(q, "no room", 0, deadline), IoStatus::timed_out);
  EXPECT_TRUE(deadline.expired());
  EXPECT_EQ(q.attributes().current_messages, 1);
}

TEST(MessageQueue, BlockingReceiveWakesWhenAnotherProcessSends) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 32});
  test::Forked consumer([&] {
    auto mine = MessageQueue::open(name, Access::read_only);
    Text got = receive_text(mine);  // Deadline::never(): sleeps in mq_timedreceive
    return got.text == "wake up" && got.priority == 4 ? 0 : 1;
  });
  ASSERT_TRUE(test::wait_until_blocked_in(consumer.pid(), SYS_mq_timedreceive));
  ASSERT_EQ(send_text(q, "wake up", 4), IoStatus::ok);
  EXPECT_TRUE(consumer.wait().success());
}

TEST(MessageQueue, TimedReceiveWaitsInPollAndWakesWhenAMessageArrives) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 32});
  test::Forked consumer([&] {
    auto mine = MessageQueue::open(name, Access::read_only);
    Text got = receive_text(mine, Deadline::after(60s));
    return got.text == "in time" ? 0 : 1;
  });
#ifdef SYS_poll
  ASSERT_TRUE(test::wait_until_blocked_in(consumer.pid(), SYS_poll));
#else
  ASSERT_TRUE(test::wait_until_blocked_in(consumer.pid(), SYS_ppoll));
#endif
  ASSERT_EQ(send_text(q, "in time"), IoStatus::ok);
  EXPECT_TRUE(consumer.wait().success());
}

TEST(MessageQueue, BlockingSendWakesWhenAnotherProcessMakesRoom) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 32});
  ASSERT_EQ(send_text(q, "first"), IoStatus::ok);
  test::Forked producer([&] {
    auto mine = MessageQueue::open(name);
    return send_text(mine, "second") == IoStatus::ok ? 0 : 1;  // full: sleeps in mq_timedsend
  });
  ASSERT_TRUE(test::wait_until_blocked_in(producer.pid(), SYS_mq_timedsend));
  EXPECT_EQ(receive_text(q).text, "first");
  EXPECT_TRUE(producer.wait().success());
  EXPECT_EQ(receive_text(q, Deadline::after(30s)).text, "second");
}

// --- readiness through the descriptor ------------------------------------------------------

TEST(MessageQueue, PollReportsReadableAndWritableThroughTheDescriptor) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 16});
  // Empty: room, no message.
  EXPECT_EQ(poll_events(q.fd(), POLLIN), 0);
  EXPECT_NE(poll_events(q.fd(), POLLOUT) & POLLOUT, 0);
  EXPECT_FALSE(q.wait_readable(Deadline::now()));
  EXPECT_TRUE(q.wait_writable(Deadline::now()));
  // Full: a message, no room.
  ASSERT_EQ(send_text(q, "x"), IoStatus::ok);
  EXPECT_NE(test::poll_in(q.fd(), 0) & POLLIN, 0);
  EXPECT_EQ(poll_events(q.fd(), POLLOUT), 0);
  EXPECT_TRUE(q.wait_readable(Deadline::now()));
  EXPECT_FALSE(q.wait_writable(Deadline::after(10ms)));
}

// --- processes ------------------------------------------------------------------------------

TEST(MessageQueue, ProducerAndConsumerProcessesPassEveryMessageInOrder) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  // A small queue, so the producer waits for room again and again.
  auto q = MessageQueue::create({.name = name, .max_messages = 3, .message_size = 32});
  constexpr int kCount = 200;
  test::Forked producer([&] {
    auto mine = MessageQueue::open(name);
    for (int i = 0; i < kCount; ++i) {
      if (send_text(mine, "message " + std::to_string(i), 0, Deadline::after(30s)) != IoStatus::ok)
        return 1;
    }
    return 0;
  });
  test::Forked consumer([&] {
    auto mine = MessageQueue::open(name, Access::read_only);
    for (int i = 0; i < kCount; ++i) {
      Text got = receive_text(mine, Deadline::after(30s));
      if (got.text != "message " + std::to_string(i)) {
        std::fprintf(stderr, "message %d: got \"%s\"\n", i, got.text.c_str());
        return 1;
      }
    }
    return 0;
  });
  EXPECT_TRUE(producer.wait().success());
  EXPECT_TRUE(consumer.wait().success());
  EXPECT_EQ(q.attributes().current_messages, 0);
}

// --- errors ---------------------------------------------------------------------------------

TEST(MessageQueue, BadNamesAreRefusedNamingTheRule) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"orders", "must start with '/'"},
      {"", "must start with '/'"},
      {"/", "at least one character after '/'"},
      {"/a/b", "no '/' after the first"},
      {"/" + std::string(256, 'x'), "longer than NAME_MAX"},
  };
  for (const auto& [name, rule] : cases) {
    Error e = test::error_from(
        [&] { (void)MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8}); });
    EXPECT_EQ(e.syscall(), "mq_open");
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_NE(std::string(e.what()).find(rule), std::string::npos) << name << ": " << e.what();
    Error o = test::error_from([&] { (void)MessageQueue::open(name); });
    EXPECT_NE(std::string(o.what()).find(rule), std::string::npos) << o.what();
    Error r = test::error_from([&] { (void)MessageQueue::remove(name); });
    EXPECT_EQ(r.syscall(), "mq_unlink");
  }
}

TEST(MessageQueue, CreateOnATakenNameFailsAndSaysHowToRemoveIt) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8});
  Error e = test::error_from(
      [&] { (void)MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8}); });
  EXPECT_EQ(e.errnum(), EEXIST);
  EXPECT_EQ(e.object(), name);
  EXPECT_NE(e.hint().find("ipckit rm --mq " + name), std::string::npos) << e.what();
}

TEST(MessageQueue, SendLargerThanMsgsizeFailsNamingBothSizesAndSendsNothing) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
  const std::string big(17, 'x');
  Error e = test::error_from([&] { (void)send_text(q, big); });
  EXPECT_EQ(e.errnum(), EMSGSIZE);
  EXPECT_EQ(e.syscall(), "mq_send");
  EXPECT_NE(e.hint().find("17 bytes"), std::string::npos) << e.what();
  EXPECT_NE(e.hint().find("message_size is 16"), std::string::npos) << e.what();
  EXPECT_NE(e.hint().find("nothing was sent"), std::string::npos) << e.what();
  EXPECT_EQ(q.attributes().current_messages, 0);
  // Exactly message_size is fine.
  EXPECT_EQ(send_text(q, std::string(16, 'y')), IoStatus::ok);
}

TEST(MessageQueue, ReceiveIntoABufferSmallerThanMsgsizeFailsAndTakesNothing) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 64});
  ASSERT_EQ(send_text(q, "tiny"), IoStatus::ok);
  std::array<std::byte, 63> small{};  // the message would fit; the kernel asks for message_size
  for (Deadline d : {Deadline::never(), Deadline::now(), Deadline::after(10s)}) {
    Error e = test::error_from([&] { (void)q.receive(small, d); });
    EXPECT_EQ(e.errnum(), EMSGSIZE);
    EXPECT_NE(e.hint().find("buffer has 63 bytes"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("message_size is 64"), std::string::npos) << e.what();
  }
  EXPECT_EQ(q.attributes().current_messages, 1);
  EXPECT_EQ(receive_text(q).text, "tiny");
}

TEST(MessageQueue, SendOnAQueueOpenedReadOnlyFails) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 2, .message_size = 16});
  auto reader = MessageQueue::open(name, Access::read_only);
  Error e = test::error_from([&] { (void)send_text(reader, "refused"); });
  EXPECT_EQ(e.errnum(), EBADF);
  EXPECT_NE(e.hint().find("read-only"), std::string::npos) << e.what();
  EXPECT_EQ(q.attributes().current_messages, 0);
}

TEST(MessageQueue, OpenOfARemovedQueueFailsWithEnoent) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  { auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8}); }
  ASSERT_TRUE(MessageQueue::remove(name));
  Error e = test::error_from([&] { (void)MessageQueue::open(name); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_EQ(e.object(), name);
  EXPECT_NE(e.hint().find("no such queue"), std::string::npos) << e.what();
}

TEST(MessageQueue, ZeroOrNegativeAttributesAreRefused) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  Error e = test::error_from(
      [&] { (void)MessageQueue::create({.name = name, .max_messages = 0, .message_size = 8}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_NE(e.hint().find("max_messages is 0"), std::string::npos) << e.what();
  Error f = test::error_from(
      [&] { (void)MessageQueue::create({.name = name, .max_messages = 1, .message_size = -1}); });
  EXPECT_NE(f.hint().find("message_size is -1"), std::string::npos) << f.what();
  EXPECT_FALSE(MessageQueue::remove(name));  // nothing was made
}

TEST(MessageQueue, MaxMessagesAboveMsgMaxNamesTheProcFileAndItsValue) {
  const unsigned long long msg_max = read_number("/proc/sys/fs/mqueue/msg_max");
  const unsigned long long msgsize_max = read_number("/proc/sys/fs/mqueue/msgsize_max");
  ASSERT_GT(msg_max, 0u);
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  // Without CAP_SYS_RESOURCE, as most processes run (with it, only the kernel's hard limits apply).
  test::Forked child([&] {
    EXPECT_TRUE(test::drop_sys_resource());
    Error e = test::error_from([&] {
      (void)MessageQueue::create(
          {.name = name, .max_messages = static_cast<long>(msg_max + 1), .message_size = 8});
    });
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_NE(e.hint().find("/proc/sys/fs/mqueue/msg_max (" + std::to_string(msg_max) + ")"),
              std::string::npos)
        << e.what();
    Error f = test::error_from([&] {
      (void)MessageQueue::create(
          {.name = name, .max_messages = 1, .message_size = static_cast<long>(msgsize_max + 1)});
    });
    EXPECT_EQ(f.errnum(), EINVAL);
    EXPECT_NE(
        f.hint().find("/proc/sys/fs/mqueue/msgsize_max (" + std::to_string(msgsize_max) + ")"),
        std::string::npos)
        << f.what();
    return 0;
  });
  EXPECT_TRUE(child.wait().success());
}

TEST(MessageQueue, TooManyQueuesNamesQueuesMax) {
  // In a private IPC namespace: its own queues_max (set to 1 here) and its own queues, which
  // vanish with the child.
  test::Forked child([&] {
    if (::unshare(CLONE_NEWIPC) != 0) return kCannotRun;
    {
      std::ofstream limit("/proc/sys/fs/mqueue/queues_max");
      limit << 1 << std::flush;
      if (!limit) return kCannotRun;
    }
    EXPECT_TRUE(test::drop_sys_resource());
    auto first = MessageQueue::create({.name = queue_name(), .max_messages = 1, .message_size = 8});
    Error e = test::error_from([&] {
      (void)MessageQueue::create({.name = queue_name(), .max_messages = 1, .message_size = 8});
    });
    EXPECT_EQ(e.errnum(), ENOSPC);
    EXPECT_NE(e.hint().find("/proc/sys/fs/mqueue/queues_max (1)"), std::string::npos) << e.what();
    return 0;
  });
  ExitStatus st = child.wait();
  if (st.exited && st.code == kCannotRun) GTEST_SKIP() << "no private IPC namespace here";
  EXPECT_TRUE(st.success()) << st.to_string();
}

TEST(MessageQueue, QueueBytesAboveRlimitMsgqueueNameTheRlimit) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  test::Forked child([&] {
    const rlimit tiny{1024, 1024};
    EXPECT_EQ(::setrlimit(RLIMIT_MSGQUEUE, &tiny), 0);
    Error e = test::error_from([&] {
      (void)MessageQueue::create({.name = name, .max_messages = 4, .message_size = 1024});
    });
    EXPECT_EQ(e.errnum(), EMFILE);
    EXPECT_NE(e.hint().find("RLIMIT_MSGQUEUE"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("1024 bytes"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("4096 bytes"), std::string::npos) << e.what();
    return 0;
  });
  EXPECT_TRUE(child.wait().success());
  EXPECT_FALSE(MessageQueue::remove(name));  // nothing was made
}

TEST(MessageQueue, CreateOutOfDescriptorsBlamesRlimitNofileNotRlimitMsgqueue) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  test::Forked child([&] {
    // A low descriptor limit, used up: even listing /proc/self/fd would fail now.
    // UBSan checks an Error's type once and then remembers it; the check itself needs a
    // pipe, which it could not make with no descriptor left. So check it while it can.
    (void)test::error_from([] { (void)MessageQueue::open("no-leading-slash"); });
    const rlimit few{32, 32};
    if (::setrlimit(RLIMIT_NOFILE, &few) != 0) return kCannotRun;
    std::vector<Fd> held;
    for (int i = 0; i < 64; ++i) {
      Fd fd{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
      if (!fd) break;
      held.push_back(std::move(fd));
    }
    Error e = test::error_from([&] {
      (void)MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8});
    });
    held.clear();
    EXPECT_EQ(e.errnum(), EMFILE);
    EXPECT_NE(e.hint().find("RLIMIT_NOFILE 32"), std::string::npos) << e.what();
    EXPECT_EQ(e.hint().find("RLIMIT_MSGQUEUE"), std::string::npos) << e.what();
    return 0;
  });
  ExitStatus st = child.wait();
  if (st.exited && st.code == kCannotRun) GTEST_SKIP() << "cannot lower RLIMIT_NOFILE";
  EXPECT_TRUE(st.success()) << st.to_string();
  EXPECT_FALSE(MessageQueue::remove(name));  // nothing was made
}

// In a forked child: a private mount namespace with no mqueue mount (whatever the host has).
// false when this process may not make one (needs root).
bool enter_private_mounts_without_mqueue() {
  if (::unshare(CLONE_NEWNS) != 0) return false;
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  for (std::string point = mqueue_mount_point(); !point.empty(); point = mqueue_mount_point())
    if (::umount2(point.c_str(), MNT_DETACH) != 0) return false;
  return true;
}

bool become_nobody() {
  return ::setresgid(65534, 65534, 65534) == 0 && ::setresuid(65534, 65534, 65534) == 0;
}

TEST(MessageQueue, OpenWithoutPermissionNamesOwnerAndModeFromAnMqueueMountAnywhere) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8, .mode = 0600});
  test::TempDir dir;  // not /dev/mqueue: the mount is found wherever it is
  test::Forked child([&] {
    if (::geteuid() != 0 || !enter_private_mounts_without_mqueue()) return kCannotRun;
    if (::mount("none", dir.path().c_str(), "mqueue", 0, nullptr) != 0) return kCannotRun;
    if (!become_nobody()) return kCannotRun;
    Error e = test::error_from([&] { (void)MessageQueue::open(name); });
    EXPECT_EQ(e.errnum(), EACCES);
    EXPECT_NE(e.hint().find("the queue belongs to root (uid 0) and has mode 0600"),
              std::string::npos)
        << e.what();
    return 0;
  });
  ExitStatus st = child.wait();
  if (st.exited && st.code == kCannotRun) GTEST_SKIP() << "needs root and unshare(CLONE_NEWNS)";
  EXPECT_TRUE(st.success()) << st.to_string();
}

TEST(MessageQueue, OpenWithoutPermissionAndNoMqueueMountSaysHowToMountIt) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8, .mode = 0600});
  test::Forked child([&] {
    if (::geteuid() != 0 || !enter_private_mounts_without_mqueue()) return kCannotRun;
    if (!become_nobody()) return kCannotRun;
    Error e = test::error_from([&] { (void)MessageQueue::open(name); });
    EXPECT_EQ(e.errnum(), EACCES);
    EXPECT_NE(e.hint().find("not mounted"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue"),
              std::string::npos)
        << e.what();
    return 0;
  });
  ExitStatus st = child.wait();
  if (st.exited && st.code == kCannotRun) GTEST_SKIP() << "needs root and unshare(CLONE_NEWNS)";
  EXPECT_TRUE(st.success()) << st.to_string();
}

TEST(MessageQueue, OpenWithoutPermissionFailsWithEaccesAndSaysWhy) {
  const std::string name = queue_name();
  RemoveAtEnd guard(name, &MessageQueue::remove);
  auto q = MessageQueue::create({.name = name, .max_messages = 1, .message_size = 8, .mode = 0600});
  test::Forked child([&] {
    // Another user (nobody), who may not open a 0600 queue of ours.
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
      return kCannotRun;
    Error e = test::error_from([&] { (void)MessageQueue::open(name); });
    EXPECT_EQ(e.errnum(), EACCES);
    EXPECT_EQ(e.object(), name);
    // The owner and mode when /dev/mqueue is mounted; otherwise how to mount it.
    EXPECT_TRUE(e.hint().find("mode 0600") != std::string::npos ||
                e.hint().find("mount -t mqueue none /dev/mqueue") != std::string::npos)
        << e.what();
    return 0;
  });
  ExitStatus st = child.wait();
  if (st.exited && st.code == kCannotRun) GTEST_SKIP() << "cannot switch to user nobody";
  EXPECT_TRUE(st.success()) << st.to_string();
}

}  // namespace
}  // namespace ipckit
