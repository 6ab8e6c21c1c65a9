// Channel over mq:// and sysv-msg://: the contract table (messages whole and in order, end
// of stream when every sender has gone, peer closed when the listener has, timeouts), the
// liveness socket (a second listener refused, a killed process seen), and what listen()
// makes and removes. Every test runs for both transports.
//
// Every channel has a name of its own (mq: "/ipckit-t-<pid>-<n>"; sysv-msg: a key made from
// the pid and a counter, checked free), and a Place guard removes its queue at the end of the
// test whatever happened (a killed listener leaves its queue behind).

#include <gtest/gtest.h>
#include <mqueue.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"
#include "ipckit/mqueue.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/socket.hpp"
#include "ipckit/sysv.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;

enum class Kind { mq, sysv };

// A channel URL unique to this test, and the removal of its queue at the end, whatever
// happened. Only the process that made it removes (a forked child _exits without it).
class Place {
 public:
  explicit Place(Kind kind) : kind_(kind) {
    if (kind == Kind::mq) {
      mq_name_ = "/" + test::unique_name();
      url_ = "mq://" + mq_name_;
      return;
    }
    static std::atomic<unsigned> counter{0};
    // A 0x7 tag, 22 bits of pid, 6 bits of counter: unique among concurrent test processes;
    // the counter wraps (--gtest_repeat) onto keys whose queues earlier tests removed.
    for (int tries = 0;; ++tries) {
      if (tries == 64) throw std::runtime_error("no free System V key for this process");
      const unsigned n = counter++ % 64;
      key_ = static_cast<key_t>(0x70000000U |
                                ((static_cast<unsigned>(::getpid()) & 0x3FFFFFU) << 6) | n);
      if (::msgget(key_, 0) == -1 && errno == ENOENT) break;
    }
    char text[40];
    std::snprintf(text, sizeof text, "sysv-msg://0x%08x", static_cast<unsigned>(key_));
    url_ = text;
  }
  Place(const Place&) = delete;
  Place& operator=(const Place&) = delete;
  ~Place() {
    if (pid_ != ::getpid()) return;
    if (kind_ == Kind::mq) {
      try {
        (void)MessageQueue::remove(mq_name_);
      } catch (const std::exception&) {
      }
    } else if (const int id = ::msgget(key_, 0); id != -1) {
      test::RemoveAtEnd remove(sysv::MessageQueue::from_id(id));
    }
  }

  [[nodiscard]] const std::string& url() const noexcept { return url_; }
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] const std::string& mq_name() const noexcept { return mq_name_; }
  [[nodiscard]] key_t key() const noexcept { return key_; }

  /// Whether a queue has this channel's name or key now.
  [[nodiscard]] bool queue_exists() const {
    if (kind_ == Kind::mq) {
      const mqd_t q = ::mq_open(mq_name_.c_str(), O_RDONLY);
      if (q == static_cast<mqd_t>(-1)) return false;
      ::mq_close(q);
      return true;
    }
    return ::msgget(key_, 0) != -1;
  }

  /// Sends `text` into the queue as a program without ipckit would: priority 0, type 1.
  void send_foreign(std::string_view text) const {
    const auto bytes = std::as_bytes(std::span{text});
    if (kind_ == Kind::mq) {
      ASSERT_EQ(MessageQueue::open(mq_name_).send(bytes, 0, Deadline::after(5s)), IoStatus::ok);
    } else {
      ASSERT_EQ(
          sysv::MessageQueue::open(sysv::Key::from_value(key_)).send(1, bytes, Deadline::now()),
          IoStatus::ok);
    }
  }

 private:
  Kind kind_;
  pid_t pid_ = ::getpid();
  std::string url_;
  std::string mq_name_;
  key_t key_ = 0;
};

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span{text});
}

IoStatus send_text(Channel& tx, std::string_view text,
                        Deadline deadline = Deadline::after(10s)) {
  return tx.send(bytes_of(text), deadline).status;
}

// One receive as text; the status alone when it was not ok.
struct Got {
  IoStatus status;
  std::string text;
};
Got receive_text(Channel& rx, Deadline deadline = Deadline::after(10s)) {
  std::vector<std::byte> buffer(rx.max_message());
  const IoResult r = rx.receive(buffer, deadline);
  Got got{r.status, {}};
  if (r.ok()) got.text.assign(reinterpret_cast<const char*>(buffer.data()), r.bytes);
  return got;
}

void expect_message(Channel& rx, std::string_view text) {
  const Got got = receive_text(rx);
  EXPECT_EQ(got.status, IoStatus::ok);
  EXPECT_EQ(got.text, text);
}

// The tests every queue transport passes, run once per Kind (Each/QueueChannel.NAME/mq, .../sysv).
class QueueChannel : public testing::TestWithParam<Kind> {};

INSTANTIATE_TEST_SUITE_P(Each, QueueChannel, testing::Values(Kind::mq, Kind::sysv),
                         [](const testing::TestParamInfo<Kind>& info) {
                           return std::string(info.param == Kind::mq ? "mq" : "sysv");
                         });

// --- Messages go through whole and in order ---------------------------------------------

TEST_P(QueueChannel, RoundTripKeepsBoundariesAndOrder) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  EXPECT_EQ(rx.url(), place.url());
  EXPECT_TRUE(rx.is_listener());
  Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
  EXPECT_FALSE(tx.is_listener());
  EXPECT_EQ(tx.url(), place.url());
  // Both transports carry 8192 bytes here (msgsize_max and msgmax at their defaults, both
  // below the default max_message); whatever they are, both ends agree.
  ASSERT_GT(rx.max_message(), 0U);
  EXPECT_EQ(tx.max_message(), rx.max_message());

  std::string largest(rx.max_message(), '\0');
  for (std::size_t i = 0; i < largest.size(); ++i) largest[i] = static_cast<char>('a' + i % 26);
  const std::vector<std::string> messages = {"one", "", "three", largest, "last"};
  // Fewer than the queue holds (mq: 10 messages; sysv: 16384 bytes would not hold two of
  // the largest with the rest, so receive as we go).
  for (const std::string& m : messages) {
    ASSERT_EQ(send_text(tx, m), IoStatus::ok) << m.size() << " bytes";
    expect_message(rx, m);
  }
  // Several waiting at once keep their order and boundaries.
  for (const char* m : {"a", "bb", "", "ccc"}) ASSERT_EQ(send_text(tx, m), IoStatus::ok);
  for (const char* m : {"a", "bb", "", "ccc"}) expect_message(rx, m);
  // Nothing more, and a sender is still there: no end of stream.
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
}

TEST(ChannelDatagram, SysvUrlIsNormalised) {
  Place place(Kind::sysv);
  char shouting[40];
  std::snprintf(shouting, sizeof shouting, "sysv-msg://0X%X", static_cast<unsigned>(place.key()));
  Channel rx = Channel::listen(shouting);
  EXPECT_EQ(rx.url(), place.url());
}

// A program that writes to the queue without ipckit (priority 0, type 1) is heard as data.
TEST_P(QueueChannel, ForeignMessageIsData) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  place.send_foreign("from outside");
  expect_message(rx, "from outside");
}

// --- End of stream ---------------------------------------------------------------------

TEST_P(QueueChannel, EndOfStreamAfterOnlySenderCloses) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  // No sender has joined yet: nothing to end.
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
  EXPECT_EQ(receive_text(rx, Deadline::after(20ms)).status, IoStatus::timed_out);
  {
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    ASSERT_EQ(send_text(tx, "first"), IoStatus::ok);
    ASSERT_EQ(send_text(tx, "second"), IoStatus::ok);
  }
  // Every message the sender sent before it closed comes first.
  expect_message(rx, "first");
  expect_message(rx, "second");
  EXPECT_EQ(receive_text(rx).status, IoStatus::end_of_stream);
  // The listener stays bound and waits for new senders.
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
  {
    Channel again = Channel::connect(place.url(), {}, Deadline::after(10s));
    ASSERT_EQ(send_text(again, "again"), IoStatus::ok);
  }
  expect_message(rx, "again");
  EXPECT_EQ(receive_text(rx).status, IoStatus::end_of_stream);
}

TEST_P(QueueChannel, EndOfStreamWaitsForEverySender) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  std::optional<Channel> a = Channel::connect(place.url(), {}, Deadline::after(10s));
  std::optional<Channel> b = Channel::connect(place.url(), {}, Deadline::after(10s));
  ASSERT_EQ(send_text(*a, "from a"), IoStatus::ok);
  a.reset();
  expect_message(rx, "from a");
  // b is still there.
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
  ASSERT_EQ(send_text(*b, "from b"), IoStatus::ok);
  b.reset();
  expect_message(rx, "from b");
  EXPECT_EQ(receive_text(rx).status, IoStatus::end_of_stream);
}

TEST_P(QueueChannel, EndOfStreamWhenSenderIsKilled) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  Pipe sent = Pipe::create();
  test::Forked child([&] {
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    if (send_text(tx, "before dying") != IoStatus::ok) return 1;
    test::notify(sent.write_end);
    ::pause();  // until SIGKILL: the channel is never closed
    return 2;
  });
  ASSERT_TRUE(test::await(sent.read_end));
  expect_message(rx, "before dying");
  // The sender is alive: nothing, not the end.
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
  ASSERT_EQ(::kill(child.pid(), SIGKILL), 0);
  const ExitStatus status = child.wait();
  EXPECT_EQ(status.signal, SIGKILL) << status.to_string();
  EXPECT_EQ(receive_text(rx).status, IoStatus::end_of_stream);
}

// Several sender processes at once: every message arrives, each sender's in its order, and
// the end of stream comes only after the last one (nothing is left behind in the queue).
TEST_P(QueueChannel, ManySendersLoseNothing) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  constexpr int kSenders = 3;
  constexpr int kEach = 300;
  Pipe connected = Pipe::create();
  Pipe go = Pipe::create();
  std::vector<std::unique_ptr<test::Forked>> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.push_back(std::make_unique<test::Forked>([&, s] {
      Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
      test::notify(connected.write_end);
      if (!test::await(go.read_end)) return 1;
      for (int i = 0; i < kEach; ++i) {
        if (send_text(tx, std::to_string(s) + ":" + std::to_string(i)) != IoStatus::ok)
          return 2;
      }
      return 0;
    }));
  }
  // Every sender has joined before any sends (or leaves), so the end comes after them all.
  for (int s = 0; s < kSenders; ++s) ASSERT_TRUE(test::await(connected.read_end));
  for (int s = 0; s < kSenders; ++s) test::notify(go.write_end);
  std::vector<int> next(kSenders, 0);
  int received = 0;
  for (;;) {
    const Got got = receive_text(rx);
    if (got.status == IoStatus::end_of_stream) break;
    ASSERT_EQ(got.status, IoStatus::ok);
    const auto colon = got.text.find(':');
    ASSERT_NE(colon, std::string::npos) << got.text;
    const int s = std::stoi(got.text.substr(0, colon));
    ASSERT_TRUE(s >= 0 && s < kSenders) << got.text;
    EXPECT_EQ(std::stoi(got.text.substr(colon + 1)), next[s]) << "out of order: " << got.text;
    next[s] = std::stoi(got.text.substr(colon + 1)) + 1;
    ++received;
  }
  EXPECT_EQ(received, kSenders * kEach);
  for (auto& sender : senders) EXPECT_TRUE(sender->wait().success());
}

// --- Peer closed -----------------------------------------------------------------------

TEST_P(QueueChannel, SendIsPeerClosedWhenListenerIsDestroyed) {
  const Kind kind = GetParam();
  Place place(kind);
  std::optional<Channel> rx = Channel::listen(place.url());
  Channel accepted = Channel::connect(place.url(), {}, Deadline::after(10s));
  ASSERT_EQ(send_text(accepted, "x"), IoStatus::ok);
  expect_message(*rx, "x");
  // An empty queue makes the listener look at its liveness socket: `accepted` is accepted.
  EXPECT_EQ(receive_text(*rx, Deadline::now()).status, IoStatus::would_block);
  // This one is never accepted: its connection waits in the listener's backlog.
  Channel waiting = Channel::connect(place.url(), {}, Deadline::after(10s));
  rx.reset();
  EXPECT_FALSE(place.queue_exists());
  for (Channel* tx : {&accepted, &waiting}) {
    EXPECT_EQ(send_text(*tx, "nobody reads this"), IoStatus::peer_closed);
    EXPECT_EQ(send_text(*tx, "nor this", Deadline::now()), IoStatus::peer_closed);
  }
}

TEST_P(QueueChannel, SendIsPeerClosedWhenListenerIsKilled) {
  const Kind kind = GetParam();
  Place place(kind);  // removes the queue the killed listener leaves behind
  Pipe ready = Pipe::create();
  test::Forked listener([&] {
    Channel rx = Channel::listen(place.url());
    test::notify(ready.write_end);
    ::pause();  // until SIGKILL
    return 2;
  });
  ASSERT_TRUE(test::await(ready.read_end));
  Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
  ASSERT_EQ(send_text(tx, "heard by nobody"), IoStatus::ok);
  ASSERT_EQ(::kill(listener.pid(), SIGKILL), 0);
  const ExitStatus status = listener.wait();
  EXPECT_EQ(status.signal, SIGKILL) << status.to_string();
  // The queue outlives its killed listener and still has room: the liveness socket tells.
  // (mq:// looks at it on every send; sysv-msg:// at least once a millisecond and whenever
  // the queue is full, so a few sends may still go into the orphaned queue.)
  IoStatus last = IoStatus::ok;
  for (int i = 0; i < 100000 && last == IoStatus::ok; ++i)
    last = send_text(tx, "?", Deadline::after(10s));
  EXPECT_EQ(last, IoStatus::peer_closed);
  EXPECT_EQ(send_text(tx, "still"), IoStatus::peer_closed);
}

// --- Set-up errors ---------------------------------------------------------------------

TEST_P(QueueChannel, SecondListenerIsAClearError) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  const Error e = test::error_from([&] { (void)Channel::listen(place.url()); });
  EXPECT_EQ(e.errnum(), EADDRINUSE) << e.what();
  EXPECT_TRUE(test::has_substring(e.what(), "another listener is receiving on " + place.url()));
  // The refused listener took nothing from the first one.
  EXPECT_TRUE(place.queue_exists());
  Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
  ASSERT_EQ(send_text(tx, "still mine"), IoStatus::ok);
  expect_message(rx, "still mine");
}

TEST_P(QueueChannel, ConnectWithoutListenerTimesOut) {
  const Kind kind = GetParam();
  Place place(kind);
  for (Deadline deadline : {Deadline::after(30ms), Deadline::now()}) {
    const Error e = test::error_from([&] { (void)Channel::connect(place.url(), {}, deadline); });
    EXPECT_EQ(e.errnum(), ETIMEDOUT) << e.what();
    EXPECT_TRUE(test::has_substring(e.what(), place.url()));
    EXPECT_TRUE(test::has_substring(e.what(), "no listener is there"));
  }
  EXPECT_FALSE(place.queue_exists());  // connect creates nothing
}

// connect waits for a listener that comes later (within its deadline).
TEST_P(QueueChannel, ConnectWaitsForListener) {
  const Kind kind = GetParam();
  Place place(kind);
  Pipe go = Pipe::create();
  Pipe done = Pipe::create();
  test::Forked listener([&] {
    if (!test::await(go.read_end)) return 1;
    Channel rx = Channel::listen(place.url());
    const Got got = receive_text(rx);
    if (got.status != IoStatus::ok || got.text != "found you") return 3;
    if (receive_text(rx).status != IoStatus::end_of_stream) return 4;
    test::notify(done.write_end);
    return 0;  // ~Channel removes the queue
  });
  test::notify(go.write_end);  // the listener starts while connect already waits
  {
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(20s));
    ASSERT_EQ(send_text(tx, "found you"), IoStatus::ok);
  }
  EXPECT_TRUE(test::await(done.read_end));
  EXPECT_TRUE(listener.wait().success());
  EXPECT_FALSE(place.queue_exists());
}

// --- A full queue ----------------------------------------------------------------------

TEST_P(QueueChannel, SendTimesOutWhenQueueIsFull) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
  const std::string big(tx.max_message(), 'f');
  int sent = 0;
  while (sent < 100000 && tx.try_send(bytes_of(big))) ++sent;
  ASSERT_GT(sent, 0);
  ASSERT_LT(sent, 100000) << "the queue never filled";
  EXPECT_EQ(send_text(tx, big, Deadline::now()), IoStatus::would_block);
  EXPECT_EQ(send_text(tx, big, Deadline::after(20ms)), IoStatus::timed_out);
  // Room again: the send goes through, and nothing was lost or added.
  expect_message(rx, big);
  EXPECT_EQ(send_text(tx, big), IoStatus::ok);
  for (int i = 0; i < sent; ++i) expect_message(rx, big);
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
}

// A sender blocked on a full queue goes on once the listener makes room.
TEST_P(QueueChannel, BlockedSendResumesWhenRoomIsMade) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  Pipe full = Pipe::create();
  test::Forked sender([&] {
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    const std::string big(tx.max_message(), 'b');
    int sent = 0;
    while (sent < 100000 && tx.try_send(bytes_of(big))) ++sent;
    test::notify(full.write_end);
    return send_text(tx, "after room", Deadline::after(20s)) == IoStatus::ok ? 0 : 1;
  });
  ASSERT_TRUE(test::await(full.read_end));
  int big = 0;
  for (;;) {
    const Got got = receive_text(rx);
    ASSERT_EQ(got.status, IoStatus::ok);
    if (got.text == "after room") break;
    ++big;
  }
  EXPECT_GT(big, 0);
  EXPECT_TRUE(sender.wait().success());
  EXPECT_EQ(receive_text(rx).status, IoStatus::end_of_stream);
}

// A receive that waits wakes for a message sent later (mq: poll; sysv: the back-off).
TEST_P(QueueChannel, BlockedReceiveWakesForAMessage) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  Pipe waiting = Pipe::create();
  test::Forked sender([&] {
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    if (!test::await(waiting.read_end)) return 1;
    return send_text(tx, "worth the wait") == IoStatus::ok ? 0 : 2;
  });
  test::notify(waiting.write_end);  // the receive below may already be waiting, or not yet
  expect_message(rx, "worth the wait");
  EXPECT_TRUE(sender.wait().success());
  EXPECT_EQ(receive_text(rx).status, IoStatus::end_of_stream);
}

// --- What listen() makes and removes ---------------------------------------------------

TEST_P(QueueChannel, ListenRemovesTheQueueItCreated) {
  const Kind kind = GetParam();
  Place place(kind);
  ASSERT_FALSE(place.queue_exists());
  {
    Channel rx = Channel::listen(place.url());
    EXPECT_TRUE(place.queue_exists());
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    ASSERT_EQ(send_text(tx, "left in the queue"), IoStatus::ok);
  }
  EXPECT_FALSE(place.queue_exists());
  // The name is free again: a new listener makes a new, empty queue.
  Channel rx = Channel::listen(place.url());
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
}

TEST(ChannelDatagram, MqListenLeavesAPreExistingQueueAndCarriesItsMessageSize) {
  Place place(Kind::mq);
  const MessageQueue existing =
      MessageQueue::create({.name = place.mq_name(), .max_messages = 4, .message_size = 100});
  {
    Channel rx = Channel::listen(place.url());
    // A receive buffer must hold the queue's msgsize, whatever max_message was asked.
    EXPECT_EQ(rx.max_message(), 100U);
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    EXPECT_EQ(tx.max_message(), 100U);
    ASSERT_EQ(send_text(tx, std::string(100, 'm')), IoStatus::ok);
    expect_message(rx, std::string(100, 'm'));
  }
  EXPECT_TRUE(place.queue_exists());
  EXPECT_EQ(existing.attributes().message_size, 100);
}

TEST(ChannelDatagram, SysvListenLeavesAPreExistingQueue) {
  Place place(Kind::sysv);
  const auto existing = sysv::MessageQueue::create({.key = sysv::Key::from_value(place.key())});
  test::RemoveAtEnd remover(existing);
  {
    Channel rx = Channel::listen(place.url());
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    ASSERT_EQ(send_text(tx, "through a queue made before"), IoStatus::ok);
    expect_message(rx, "through a queue made before");
  }
  EXPECT_TRUE(place.queue_exists());
  EXPECT_EQ(existing.stat().key.value(), place.key());
}

// A sysv-msg message longer than the listener's max_message (a foreign sender, or a sender
// that asked for more) is dropped and reported, and the channel goes on.
TEST(ChannelDatagram, SysvTooLongMessageIsDroppedAndReported) {
  Place place(Kind::sysv);
  std::vector<std::string> dropped;
  Channel rx = Channel::listen(
      place.url(), {.max_message = 16,
                    .on_sender_dropped = [&](const std::string& why) { dropped.push_back(why); }});
  EXPECT_EQ(rx.max_message(), 16U);
  place.send_foreign(std::string(100, 'L'));
  place.send_foreign("fits");
  expect_message(rx, "fits");
  ASSERT_EQ(dropped.size(), 1U);
  EXPECT_TRUE(test::has_substring(dropped[0], "longer than max_message (16 bytes)"));
  EXPECT_TRUE(test::has_substring(dropped[0], place.url()));
}

// --- Only this user's queues, closed to everyone else ----------------------------------

// Makes the channel's queue as another process would: `as_nobody` as user nobody, `mode` as
// given (no umask), `give_to_root` handing a System V queue's ownership to root afterwards
// (IPC_SET: its creator keeps owner rights). In a forked child, so nothing of this test
// process changes.
void make_queue_elsewhere(const Place& place, bool as_nobody, mode_t mode,
                          bool give_to_root = false) {
  test::Forked child([&] {
    if (as_nobody && !test::become_nobody()) return 10;
    ::umask(0);
    if (place.kind() == Kind::mq) {
      mq_attr attr{};
      attr.mq_maxmsg = 4;
      attr.mq_msgsize = 64;
      const mqd_t q = ::mq_open(place.mq_name().c_str(), O_RDONLY | O_CREAT | O_EXCL, mode, &attr);
      return q == static_cast<mqd_t>(-1) ? 11 : 0;
    }
    const int id = ::msgget(place.key(), IPC_CREAT | IPC_EXCL | static_cast<int>(mode));
    if (id == -1) return 12;
    if (!give_to_root) return 0;
    struct msqid_ds ds {};
    if (::msgctl(id, IPC_STAT, &ds) == -1) return 13;
    ds.msg_perm.uid = 0;
    return ::msgctl(id, IPC_SET, &ds) == -1 ? 14 : 0;
  });
  ASSERT_TRUE(child.wait().success());
}

void expect_refused(const Error& e, std::string_view part) {
  EXPECT_EQ(e.errnum(), EACCES) << e.what();
  EXPECT_TRUE(test::has_substring(e.what(), part));
  EXPECT_TRUE(test::has_substring(e.what(), "refusing it"));
}

TEST_P(QueueChannel, ListenerRefusesAQueueOfAnotherUser) {
  const Kind kind = GetParam();
  if (!test::can_become_nobody()) GTEST_SKIP() << "needs root to make a queue as user nobody";
  Place place(kind);
  make_queue_elsewhere(place, true, 0666);
  expect_refused(test::error_from([&] { (void)Channel::listen(place.url()); }),
                 "uid 65534)");
  EXPECT_TRUE(place.queue_exists());  // not ours to remove
}
TEST_P(QueueChannel, ListenerRefusesAQueueOthersMayWrite) {
  const Kind kind = GetParam();
  Place place(kind);
  make_queue_elsewhere(place, false, 0622);
  expect_refused(test::error_from([&] { (void)Channel::listen(place.url()); }), "has mode 0622");
}
// System V lets an owner give a queue away, but its creator keeps owner rights: a queue
// made by another user and handed to this one is still theirs to read.
TEST(ChannelDatagram, SysvListenerRefusesAQueueAnotherUserMadeAndGaveAway) {
  if (!test::can_become_nobody()) GTEST_SKIP() << "needs root to make a queue as user nobody";
  Place place(Kind::sysv);
  make_queue_elsewhere(place, true, 0600, true);
  expect_refused(test::error_from([&] { (void)Channel::listen(place.url()); }),
                 "uid 65534), who keeps owner rights");
}

void open_the_queue_to_others(const Place& place) {
  if (place.kind() == Kind::mq) {
    const MessageQueue q = MessageQueue::open(place.mq_name(), Access::read_only);
    ASSERT_EQ(::fchmod(q.fd().get(), 0666), 0) << std::strerror(errno);
    return;
  }
  const int id = ::msgget(place.key(), 0);
  ASSERT_NE(id, -1);
  struct msqid_ds ds {};
  ASSERT_EQ(::msgctl(id, IPC_STAT, &ds), 0);
  ds.msg_perm.mode = 0666;
  ASSERT_EQ(::msgctl(id, IPC_SET, &ds), 0) << std::strerror(errno);
}

TEST_P(QueueChannel, SenderRefusesAQueueOthersMayUse) {
  const Kind kind = GetParam();
  Place place(kind);
  Channel rx = Channel::listen(place.url());
  open_the_queue_to_others(place);
  expect_refused(
      test::error_from([&] { (void)Channel::connect(place.url(), {}, Deadline::after(10s)); }),
      "has mode 0666");
}
// A listener of another user (it holds the liveness socket and made the queue): a sender
// refuses to hand it messages.
TEST_P(QueueChannel, SenderRefusesAListenerOfAnotherUser) {
  const Kind kind = GetParam();
  if (!test::can_become_nobody()) GTEST_SKIP() << "needs root to listen as user nobody";
  Place place(kind);
  Pipe listening = Pipe::create();
  Pipe done = Pipe::create();
  test::Forked listener([&] {
    if (!test::become_nobody()) return 10;
    Channel rx = Channel::listen(place.url());
    test::notify(listening.write_end);
    return test::await(done.read_end) ? 0 : 11;
  });
  ASSERT_TRUE(test::await(listening.read_end));
  const Error e =
      test::error_from([&] { (void)Channel::connect(place.url(), {}, Deadline::after(10s)); });
  test::notify(done.write_end);
  EXPECT_EQ(e.errnum(), EACCES) << e.what();
  EXPECT_TRUE(test::has_substring(e.what(), "uid 65534"));
  EXPECT_TRUE(listener.wait().success());
}
// A queue outlives its listener: what it held when listen() took it over is counted, and
// comes first unless drop_stale asks listen() to drop it.
void stale_messages_are_counted(Kind kind, bool drop) {
  Place place(kind);
  make_queue_elsewhere(place, false, 0600);
  for (const char* m : {"old 1", "old 2", "old 3"}) place.send_foreign(m);
  Channel rx = Channel::listen(place.url(), {.drop_stale = drop});
  EXPECT_EQ(rx.stale_messages(), 3U);
  if (!drop) {
    for (const char* m : {"old 1", "old 2", "old 3"}) expect_message(rx, m);
  }
  EXPECT_EQ(receive_text(rx, Deadline::now()).status, IoStatus::would_block);
  Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
  EXPECT_EQ(tx.stale_messages(), 0U);
  ASSERT_EQ(send_text(tx, "new"), IoStatus::ok);
  expect_message(rx, "new");
}
TEST_P(QueueChannel, StaleMessagesAreCountedAndComeFirst) { stale_messages_are_counted(GetParam(), false); }
TEST_P(QueueChannel, DropStaleEmptiesTheQueueFirst) { stale_messages_are_counted(GetParam(), true); }
TEST(ChannelDatagram, AQueueListenMadeHasNoStaleMessages) {
  Place place(Kind::mq);
  Channel rx = Channel::listen(place.url());
  EXPECT_EQ(rx.stale_messages(), 0U);
}

// --- The liveness socket: this user only, and never ended by a shortage -----------------

// The abstract name of the channel's liveness socket, as the listener binds it.
std::string beacon_of(const Place& place) {
  if (place.kind() == Kind::mq) return "ipckit/mq/" + place.mq_name().substr(1);
  char text[40];
  std::snprintf(text, sizeof text, "ipckit/sysv-msg/0x%08x", static_cast<unsigned>(place.key()));
  return text;
}

// Another user connects to the liveness socket many times and holds the connections: none
// of them joins, so the stream still ends when this user's sender goes, and each is reported.
TEST_P(QueueChannel, AnotherUsersConnectionsNeitherJoinNorHoldTheStream) {
  const Kind kind = GetParam();
  if (!test::can_become_nobody()) GTEST_SKIP() << "needs root to connect as user nobody";
  Place place(kind);
  std::vector<std::string> dropped;
  Channel rx = Channel::listen(
      place.url(), {.on_sender_dropped = [&](const std::string& why) { dropped.push_back(why); }});
  Pipe connected = Pipe::create();
  Pipe done = Pipe::create();
  constexpr int kConnections = 50;
  test::Forked intruder([&] {
    if (!test::become_nobody()) return 10;
    std::vector<Socket> held;
    for (int i = 0; i < kConnections; ++i) {
      held.push_back(Socket::connect_unix(UnixAddress::abstract(beacon_of(place)),
                                          SocketType::stream, Deadline::after(10s)));
    }
    test::notify(connected.write_end);
    return test::await(done.read_end) ? 0 : 11;
  });
  ASSERT_TRUE(test::await(connected.read_end));
  {
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    ASSERT_EQ(send_text(tx, "mine"), IoStatus::ok);
  }
  expect_message(rx, "mine");
  EXPECT_EQ(receive_text(rx).status, IoStatus::end_of_stream);
  test::notify(done.write_end);
  EXPECT_TRUE(intruder.wait().success());
  // Said at once for the first, then at most once a second (a flood cannot flood the log).
  ASSERT_GE(dropped.size(), 1U);
  EXPECT_LT(dropped.size(), static_cast<std::size_t>(kConnections));
  EXPECT_TRUE(test::has_substring(dropped[0], "uid 65534"));
  EXPECT_TRUE(test::has_substring(dropped[0], "its connection was closed"));
}
// A listener out of descriptors (RLIMIT_NOFILE) cannot accept a sender: it says so, serves
// the queue, never ends the channel for it, and accepts once descriptors are back.
TEST_P(QueueChannel, OutOfDescriptorsPausesAcceptingAndNeverEndsTheChannel) {
  const Kind kind = GetParam();
  Place place(kind);
  Pipe listening = Pipe::create();
  Pipe sent = Pipe::create();
  Pipe closed = Pipe::create();
  test::Forked listener([&] {
    std::vector<std::string> dropped;
    Channel rx = Channel::listen(
        place.url(), {.on_sender_dropped = [&](const std::string& why) { dropped.push_back(why); }});
    // One receive first: the sanitizers' first look at a type may itself need a descriptor.
    if (receive_text(rx, Deadline::now()).status != IoStatus::would_block) return 19;
    rlimit before{};
    if (::getrlimit(RLIMIT_NOFILE, &before) != 0) return 10;
    const int lowest_free = ::dup(0);
    ::close(lowest_free);
    rlimit none = before;
    none.rlim_cur = static_cast<rlim_t>(lowest_free);  // no new descriptor from here on
    if (::setrlimit(RLIMIT_NOFILE, &none) != 0) return 11;
    test::notify(listening.write_end);
    if (!test::await(sent.read_end)) return 12;
    const Got first = receive_text(rx);  // the sender cannot be accepted, its message is there
    if (first.status != IoStatus::ok || first.text != "while full") return 13;
    if (!test::await(closed.read_end)) return 14;
    // The sender has gone, but it still waits unaccepted: no end of stream yet.
    if (receive_text(rx, Deadline::after(300ms)).status != IoStatus::timed_out) return 15;
    if (::setrlimit(RLIMIT_NOFILE, &before) != 0) return 16;
    if (receive_text(rx).status != IoStatus::end_of_stream) return 17;
    if (dropped.empty() || dropped[0].find("cannot accept another sender") == std::string::npos)
      return 18;
    return 0;
  });
  ASSERT_TRUE(test::await(listening.read_end));
  {
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    ASSERT_EQ(send_text(tx, "while full"), IoStatus::ok);
    test::notify(sent.write_end);
  }
  test::notify(closed.write_end);
  const ExitStatus status = listener.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
}
// A System V queue whose mode is changed under a sender: the error names its owner and mode.
// (Run as nobody when the test runs as root: root passes every mode.)
TEST(ChannelDatagram, SysvSendRefusedByTheQueuesModeNamesOwnerAndMode) {
  Place place(Kind::sysv);
  test::Forked child([&] {
    if (test::can_become_nobody() && !test::become_nobody()) return 10;
    Channel rx = Channel::listen(place.url());
    Channel tx = Channel::connect(place.url(), {}, Deadline::after(10s));
    const int id = ::msgget(place.key(), 0);
    struct msqid_ds ds {};
    if (id == -1 || ::msgctl(id, IPC_STAT, &ds) != 0) return 11;
    ds.msg_perm.mode = 0400;
    if (::msgctl(id, IPC_SET, &ds) != 0) return 12;
    const Error e = test::error_from([&] { (void)tx.send(bytes_of("x"), Deadline::after(10s)); });
    EXPECT_EQ(e.errnum(), EACCES) << e.what();
    EXPECT_TRUE(test::has_substring(e.what(), "has mode 0400"));
    EXPECT_TRUE(test::has_substring(e.what(), "belongs to"));
    return 0;
  });
  const ExitStatus status = child.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
}

// A URL mistake, found before anything is made.
TEST(ChannelDatagram, MqQueueNameTooLongForTheLivenessSocketIsAClearError) {
  const std::string url = "mq:///" + std::string(120, 'n');
  const Error e = test::error_from([&] { (void)Channel::listen(url); });
  EXPECT_EQ(e.errnum(), EINVAL) << e.what();
  EXPECT_EQ(e.syscall(), "channel URL");
  EXPECT_TRUE(test::has_substring(e.what(), "at most 97 fit"));
}

}  // namespace
}  // namespace ipckit
