// The bench engine, its adapters, its report and `ipckit bench`. No timing assertions: the
// machine has two shared cores; only orderings and the presence of numbers are checked.

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "adapter.hpp"
#include "engine.hpp"
#include "message.hpp"
#include "registry.hpp"
#include "report.hpp"
#include "sizes.hpp"
#include "test_util.hpp"

namespace ipckit::bench {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// Budgets small enough for a unit test under sanitizers.
EngineOptions tiny_options() {
  EngineOptions o;
  o.sizes = {64, 4096};
  o.latency_budget = 20ms;
  o.throughput_budget = 20ms;
  o.probe_budget = 5ms;
  o.probe_samples = 300;
  o.max_rtt_samples = 5000;
  o.stall_timeout = 5s;
  o.row_timeout = 40s;
  return o;
}

bool two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 2;
}

// /tmp/ipckit-bench-<pid>-* folders: of one process, or of processes that have ended.
std::vector<std::string> bench_dirs(pid_t of_pid) {
  std::vector<std::string> out;
  const std::string prefix = "ipckit-bench-" + std::to_string(of_pid) + "-";
  for (const auto& entry : std::filesystem::directory_iterator("/tmp")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(entry.path().string());
  }
  return out;
}

// Made since `since` by processes that have ended (a crashed run of long ago is not ours).
std::vector<std::string> bench_dirs_of_dead_processes(std::filesystem::file_time_type since) {
  std::vector<std::string> out;
  const std::string prefix = "ipckit-bench-";
  for (const auto& entry : std::filesystem::directory_iterator("/tmp")) {
    const std::string name = entry.path().filename().string();
    std::error_code ec;
    if (name.rfind(prefix, 0) != 0 || entry.last_write_time(ec) < since) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name.substr(prefix.size())));
    if (::kill(pid, 0) == -1 && errno == ESRCH) out.push_back(entry.path().string());
  }
  return out;
}

// --- fake mechanisms, built on the real pipe adapter --------------------------------------

// Passes everything to the pipe adapter; subclasses change one thing.
class PipeWrapper : public Mechanism {
 public:
  explicit PipeWrapper(std::string name) : name_(std::move(name)) {}
  [[nodiscard]] std::string_view name() const override { return name_; }
  void setup(const RowContext& row) override { inner_->setup(row); }
  [[nodiscard]] Endpoints open(Side side, const RowContext& row) override {
    return wrap(side, inner_->open(side, row));
  }
  void cleanup() noexcept override { inner_->cleanup(); }

 protected:
  virtual Endpoints wrap(Side /*side*/, Endpoints ends) { return ends; }

 private:
  std::string name_;
  std::unique_ptr<Mechanism> inner_ = make_mechanism("pipe");
};

enum class Fault { drop, duplicate, reorder };

// A sender that drops, duplicates or reorders message `at` of `phase` (unless it is the last
// one: a throughput phase always has 256 messages or more, a ping-pong at least 2).
class FaultySender final : public Sender {
 public:
  FaultySender(std::unique_ptr<Sender> inner, Fault fault, Phase phase, std::uint64_t at)
      : inner_(std::move(inner)), fault_(fault), phase_(phase), at_(at) {}

  Transfer send(std::span<const std::byte> message) override {
    const Header h = read_header(message);
    if (h.phase == phase_ && h.seq == at_ && !h.last()) {
      switch (fault_) {
        case Fault::drop:
          return Transfer::ok;
        case Fault::duplicate:
          if (inner_->send(message) != Transfer::ok) return Transfer::closed;
          return inner_->send(message);
        case Fault::reorder:
          held_.assign(message.begin(), message.end());
          return Transfer::ok;
      }
    }
    if (!held_.empty() && h.phase == phase_ && h.seq == at_ + 1) {
      if (inner_->send(message) != Transfer::ok) return Transfer::closed;
      const Transfer t = inner_->send(held_);
      held_.clear();
      return t;
    }
    return inner_->send(message);
  }

 private:
  std::unique_ptr<Sender> inner_;
  Fault fault_;
  Phase phase_;
  std::uint64_t at_;
  std::vector<std::byte> held_;
};

class FaultyPipe final : public PipeWrapper {
 public:
  FaultyPipe(Fault fault, Phase phase, std::uint64_t at)
      : PipeWrapper("faulty-pipe"), fault_(fault), phase_(phase), at_(at) {}

 protected:
  Endpoints wrap(Side side, Endpoints ends) override {
    if (side == Side::parent) {
      ends.sender = std::make_unique<FaultySender>(std::move(ends.sender), fault_, phase_, at_);
    }
    return ends;
  }

 private:
  Fault fault_;
  Phase phase_;
  std::uint64_t at_;
};

// The child's open throws, exits or hangs.
enum class ChildOpen { throws, exits, hangs };

class BrokenChildOpen final : public PipeWrapper {
 public:
  explicit BrokenChildOpen(ChildOpen how) : PipeWrapper("broken-open"), how_(how) {}

 protected:
  Endpoints wrap(Side side, Endpoints ends) override {
    if (side == Side::child) {
      switch (how_) {
        case ChildOpen::throws:
          throw std::runtime_error("deliberate failure in the child's open");
        case ChildOpen::exits:
          ::_exit(3);
        case ChildOpen::hangs:
          std::this_thread::sleep_for(120s);
          break;
      }
    }
    return ends;
  }

 private:
  ChildOpen how_;
};

// The child's receiver throws at throughput message 10.
class ThrowingReceiver final : public Receiver {
 public:
  explicit ThrowingReceiver(std::unique_ptr<Receiver> inner) : inner_(std::move(inner)) {}
  Transfer receive(std::span<std::byte> message) override {
    const Transfer t = inner_->receive(message);
    const Header h = read_header(message);
    if (h.phase == Phase::throughput && h.seq == 10) {
      throw std::runtime_error("deliberate failure in the child's receive");
    }
    return t;
  }

 private:
  std::unique_ptr<Receiver> inner_;
};

class BrokenChildReceive final : public PipeWrapper {
 public:
  BrokenChildReceive() : PipeWrapper("broken-receive") {}

 protected:
  Endpoints wrap(Side side, Endpoints ends) override {
    if (side == Side::child)
      ends.receiver = std::make_unique<ThrowingReceiver>(std::move(ends.receiver));
    return ends;
  }
};

// A FIFO adapter whose child fails after the FIFOs were made: the folder must still go.
class BrokenFifo final : public Mechanism {
 public:
  [[nodiscard]] std::string_view name() const override { return "broken-fifo"; }
  void setup(const RowContext& row) override { inner_->setup(row); }
  [[nodiscard]] Endpoints open(Side side, const RowContext& row) override {
    if (side == Side::child) throw std::runtime_error("deliberate failure before opening");
    return inner_->open(side, row);
  }
  void cleanup() noexcept override { inner_->cleanup(); }

 private:
  std::unique_ptr<Mechanism> inner_ = make_mechanism("fifo");
};

void expect_valid_rtt(const RowResult& row) {
  ASSERT_TRUE(row.rtt.has_value()) << row.mechanism;
  EXPECT_GT(row.rtt->samples, 0U);
  EXPECT_GT(row.rtt->p50, 0);
  EXPECT_LE(row.rtt->p50, row.rtt->p99);
  EXPECT_LE(row.rtt->p99, row.rtt->p999);
}

// --- the engine -----------------------------------------------------------------------------

TEST(Bench, C2cPipeFifoGiveOrderedPercentilesAndThroughput) {
  const Report report = run(select_mechanisms("c2c,pipe,fifo"), tiny_options());
  const std::size_t expected_rows = two_cpus() ? 5 : 4;
  ASSERT_EQ(report.rows.size(), expected_rows);
  for (const auto& row : report.rows) {
    SCOPED_TRACE(row.mechanism + " " + std::to_string(row.size));
    ASSERT_TRUE(row.ok()) << row.error;
    expect_valid_rtt(row);
    if (two_cpus()) {
      ASSERT_TRUE(row.floor_ns.has_value());
      EXPECT_GT(*row.floor_ns, 0);
    }
    if (row.mechanism == "c2c") {
      EXPECT_EQ(row.size, 64U);
      EXPECT_FALSE(row.throughput.has_value());
    } else {
      ASSERT_TRUE(row.throughput.has_value());
      EXPECT_GT(row.throughput->messages, 0U);
      EXPECT_GT(row.throughput->msgs_per_s, 0);
      EXPECT_GT(row.throughput->bytes_per_s, 0);
      EXPECT_GE(row.throughput->cpu_ns_per_msg, 0);
      EXPECT_DOUBLE_EQ(row.throughput->cpu_ns_per_msg, row.throughput->cpu_ns_per_msg_sender +
                                                           row.throughput->cpu_ns_per_msg_receiver);
    }
  }
  const std::vector<std::string> order{"c2c", "pipe", "pipe", "fifo", "fifo"};
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    EXPECT_EQ(report.rows[i].mechanism, order[i + (two_cpus() ? 0 : 1)]);
  }
}

// The message queues carry whole messages up to their kernel limit (8192 bytes by default):
// rows within it measure, a size above it is an error row that names the limit, and the run
// goes on. (suite.NothingLeftBehind checks that no queue is left.)
TEST(Bench, MessageQueuesMeasureWithinTheirLimitAndNameItAbove) {
  EngineOptions o = tiny_options();
  o.sizes = {64, 4096, 65536};
  const Report report = run(select_mechanisms("posix-mq,sysv-msg"), o);
  ASSERT_EQ(report.rows.size(), 6U);
  for (const auto& row : report.rows) {
    SCOPED_TRACE(row.mechanism + " " + std::to_string(row.size));
    if (row.size == 65536) {
      ASSERT_FALSE(row.ok());
      EXPECT_NE(row.error.find(row.mechanism == "posix-mq" ? "msgsize_max" : "msgmax"),
                std::string::npos)
          << row.error;
      continue;
    }
    ASSERT_TRUE(row.ok()) << row.error;
    expect_valid_rtt(row);
    ASSERT_TRUE(row.throughput.has_value());
    EXPECT_GT(row.throughput->messages, 0U);
  }
  EXPECT_EQ(report.rows[0].mechanism, "posix-mq");
  EXPECT_EQ(report.rows[3].mechanism, "sysv-msg");
}

// /proc/net/unix lines that name an abstract socket of this process's unix rows.
std::vector<std::string> bench_unix_sockets(pid_t of_pid) {
  std::vector<std::string> out;
  std::ifstream in("/proc/net/unix");
  const std::string name = "@ipckit-bench-" + std::to_string(of_pid) + "-";
  for (std::string line; std::getline(in, line);) {
    if (line.find(name) != std::string::npos) out.push_back(line);
  }
  return out;
}

// Every row of `report` measured: no error, ordered percentiles, throughput with messages.
void expect_every_row_measured(const Report& report) {
  for (const auto& row : report.rows) {
    SCOPED_TRACE(row.mechanism + " " + std::to_string(row.size));
    ASSERT_TRUE(row.ok()) << row.error;
    expect_valid_rtt(row);
    ASSERT_TRUE(row.throughput.has_value());
    EXPECT_GT(row.throughput->messages, 0U);
    EXPECT_GT(row.throughput->bytes_per_s, 0);
  }
}

// The socket rows at sizes from the smallest to one far above the socket buffers (so a
// message moves in many partial reads and writes): each measures, with throughput, and the
// unix rows leave no socket of theirs behind (the listener is closed in setup, the ends
// with the row).
TEST(Bench, UnixAndTcpMeasureEverySize) {
  EngineOptions o = tiny_options();
  o.sizes = {kMinMessageSize, 4096, std::size_t{1} << 20};
  const Report report = run(select_mechanisms("unix,tcp"), o);
  ASSERT_EQ(report.rows.size(), 6U);
  expect_every_row_measured(report);
  EXPECT_EQ(report.rows[0].mechanism, "unix");
  EXPECT_EQ(report.rows[3].mechanism, "tcp");
  EXPECT_EQ(bench_unix_sockets(::getpid()), std::vector<std::string>{});
}

// The shared-memory rows (busy-polling, sleeping, and loaned in place) at the smallest size, a
// page and 1 MiB: each measures, with throughput, and leaves no segment behind.
TEST(Bench, ShmRowsMeasureEverySizeAndLeaveNoSegment) {
  if (!two_cpus()) GTEST_SKIP() << "the busy-polling rows need two CPUs";
  EngineOptions o = tiny_options();
  o.sizes = {kMinMessageSize, 4096, std::size_t{1} << 20};
  const Report report = run(select_mechanisms("shm,shm-blocking,shm-loan"), o);
  ASSERT_EQ(report.rows.size(), 9U);
  expect_every_row_measured(report);
  EXPECT_EQ(report.rows[6].mechanism, "shm-loan");
  const std::string ours = "ipckit-ch-ipckit-bench-" + std::to_string(::getpid()) + "-";
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
    EXPECT_FALSE(entry.path().filename().string().starts_with(ours)) << entry.path();
  }
}

// Each process keeps only its own end of the connection: when one process lets go of its
// ends (or ends), the other reads end of stream instead of waiting for ever. Driven by hand,
// without the engine, so nothing else closes the connection for the adapter.
class SocketEnds : public ::testing::TestWithParam<const char*> {};

TEST_P(SocketEnds, EachSideSeesEndOfStreamWhenTheOtherLetsGo) {
  const RowContext row{.message_size = 64, .stall_timeout = 5s};
  std::unique_ptr<Mechanism> mechanism = make_mechanism(GetParam());
  mechanism->setup(row);
  // The child echoes one message, then waits for the parent to drop its ends (end of
  // stream), then ends itself, with its own ends still held until _exit.
  test::Forked child([&] {
    Endpoints ends = mechanism->open(Side::child, row);
    std::vector<std::byte> buf(row.message_size);
    if (ends.receiver->receive(buf) != Transfer::ok) return 1;
    if (ends.sender->send(buf) != Transfer::ok) return 2;
    if (ends.receiver->receive(buf) != Transfer::closed) return 3;
    return 0;
  });
  Endpoints ends = mechanism->open(Side::parent, row);
  std::vector<std::byte> out(row.message_size, std::byte{7});
  std::vector<std::byte> in(row.message_size);
  ASSERT_EQ(ends.sender->send(out), Transfer::ok);
  ASSERT_EQ(ends.receiver->receive(in), Transfer::ok);
  EXPECT_EQ(in, out);
  ends = {};  // the parent's two descriptors of its end: the child must now read end of stream
  const ExitStatus status = child.wait(10s);
  EXPECT_TRUE(status.success()) << status.to_string()
                                << " (1, 2: the echo failed; 3: no end of stream)";
  mechanism->cleanup();
}

TEST_P(SocketEnds, ParentSeesEndOfStreamWhenTheChildEnds) {
  const RowContext row{.message_size = 64, .stall_timeout = 5s};
  std::unique_ptr<Mechanism> mechanism = make_mechanism(GetParam());
  mechanism->setup(row);
  test::Forked child([&] {
    Endpoints ends = mechanism->open(Side::child, row);
    std::vector<std::byte> buf(row.message_size);
    if (ends.receiver->receive(buf) != Transfer::ok) return 1;
    if (ends.sender->send(buf) != Transfer::ok) return 2;
    return 0;
  });
  Endpoints ends = mechanism->open(Side::parent, row);
  std::vector<std::byte> out(row.message_size, std::byte{9});
  std::vector<std::byte> in(row.message_size);
  ASSERT_EQ(ends.sender->send(out), Transfer::ok);
  ASSERT_EQ(ends.receiver->receive(in), Transfer::ok);
  const ExitStatus status = child.wait();
  EXPECT_TRUE(status.success()) << status.to_string();
  EXPECT_EQ(ends.receiver->receive(in), Transfer::closed);
  mechanism->cleanup();
}

INSTANTIATE_TEST_SUITE_P(Bench, SocketEnds, ::testing::Values("unix", "tcp"));

TEST(Bench, RowsFollowTheSizesAsked) {
  EngineOptions o = tiny_options();
  o.sizes = {16, 1000, 65536};
  const Report report = run(select_mechanisms("pipe"), o);
  ASSERT_EQ(report.rows.size(), 3U);
  EXPECT_EQ(report.rows[0].size, 16U);
  EXPECT_EQ(report.rows[1].size, 1000U);
  EXPECT_EQ(report.rows[2].size, 65536U);
  for (const auto& row : report.rows) EXPECT_TRUE(row.ok()) << row.error;
}

TEST(Bench, LostMessageGivesErrorRow) {
  FaultyPipe lossy{Fault::drop, Phase::throughput, 3};
  const RowResult row = run_row(lossy, 64, tiny_options());
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("lost"), std::string::npos) << row.error;
  EXPECT_NE(row.error.find("expected"), std::string::npos) << row.error;
  EXPECT_EQ(row.mechanism, "faulty-pipe");
  EXPECT_EQ(row.size, 64U);
  EXPECT_FALSE(row.rtt.has_value());
  EXPECT_FALSE(row.throughput.has_value());
}

TEST(Bench, DuplicatedMessageGivesErrorRow) {
  FaultyPipe duplicating{Fault::duplicate, Phase::throughput, 5};
  const RowResult row = run_row(duplicating, 64, tiny_options());
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("duplicated"), std::string::npos) << row.error;
}

TEST(Bench, ReorderedMessageGivesErrorRow) {
  FaultyPipe reordering{Fault::reorder, Phase::throughput, 5};
  const RowResult row = run_row(reordering, 4096, tiny_options());
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("reordered"), std::string::npos) << row.error;
}

TEST(Bench, DuplicatedPingGivesErrorRow) {
  // Message 0: a ping-pong always has it, however few round trips the budget allows.
  FaultyPipe duplicating{Fault::duplicate, Phase::latency, 0};
  const RowResult row = run_row(duplicating, 64, tiny_options());
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("latency"), std::string::npos) << row.error;
}

TEST(Bench, LostPingEndsWithErrorRowAtTheRowLimit) {
  // A lost ping stalls both processes in blocking reads: only the row limit ends it.
  EngineOptions o = tiny_options();
  o.row_timeout = 2s;
  FaultyPipe lossy{Fault::drop, Phase::latency, 0};
  const RowResult row = run_row(lossy, 64, o);
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("limit"), std::string::npos) << row.error;
}

TEST(Bench, ChildThatThrowsInOpenGivesErrorRow) {
  BrokenChildOpen broken{ChildOpen::throws};
  const RowResult row = run_row(broken, 64, tiny_options());
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("deliberate failure in the child's open"), std::string::npos)
      << row.error;
}

TEST(Bench, ChildThatThrowsMidStreamGivesErrorRow) {
  BrokenChildReceive broken;
  const RowResult row = run_row(broken, 64, tiny_options());
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("deliberate failure in the child's receive"), std::string::npos)
      << row.error;
}

TEST(Bench, ChildThatExitsGivesErrorRow) {
  BrokenChildOpen broken{ChildOpen::exits};
  const RowResult row = run_row(broken, 64, tiny_options());
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("exited with 3"), std::string::npos) << row.error;
}

TEST(Bench, ChildThatHangsGivesErrorRowNotAHang) {
  EngineOptions o = tiny_options();
  o.stall_timeout = 1s;
  BrokenChildOpen broken{ChildOpen::hangs};
  const RowResult row = run_row(broken, 64, o);
  ASSERT_FALSE(row.ok());
  EXPECT_NE(row.error.find("ready"), std::string::npos) << row.error;
}

TEST(Bench, BrokenRowDoesNotStopTheRun) {
  std::vector<std::unique_ptr<Mechanism>> mechanisms;
  mechanisms.push_back(std::make_unique<BrokenChildOpen>(ChildOpen::throws));
  mechanisms.push_back(make_mechanism("pipe"));
  EngineOptions o = tiny_options();
  o.sizes = {64};
  const Report report = run(mechanisms, o);
  std::vector<const RowResult*> rows;
  for (const auto& r : report.rows) rows.push_back(&r);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_FALSE(rows[0]->ok());
  EXPECT_TRUE(rows[1]->ok()) << rows[1]->error;
}

TEST(Bench, FifoFolderIsRemovedAfterRowsAndFailures) {
  EngineOptions o = tiny_options();
  o.stall_timeout = 1s;  // the parent's open waits this long for the failed child's reader
  o.sizes = {64};
  const Report report = run(select_mechanisms("fifo"), o);
  ASSERT_EQ(report.rows.size(), 1U);
  EXPECT_TRUE(report.rows[0].ok()) << report.rows[0].error;
  EXPECT_TRUE(bench_dirs(::getpid()).empty());

  BrokenFifo broken;
  const RowResult row = run_row(broken, 64, o);
  EXPECT_FALSE(row.ok());
  EXPECT_NE(row.error.find("deliberate failure before opening"), std::string::npos) << row.error;
  EXPECT_TRUE(bench_dirs(::getpid()).empty());
}

TEST(Bench, CallerIsNotLeftPinned) {
  cpu_set_t before;
  CPU_ZERO(&before);
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  EngineOptions o = tiny_options();
  o.sizes = {64};
  (void)run(select_mechanisms("pipe"), o);
  cpu_set_t after;
  CPU_ZERO(&after);
  ASSERT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(Bench, UnpinnedRunStillMeasures) {
  EngineOptions o = tiny_options();
  o.sizes = {64};
  o.pin = false;
  const Report report = run(select_mechanisms("pipe"), o);
  EXPECT_FALSE(report.pinned.has_value());
  ASSERT_EQ(report.rows.size(), 1U);
  ASSERT_TRUE(report.rows[0].ok()) << report.rows[0].error;
  expect_valid_rtt(report.rows[0]);
}

TEST(Bench, ChoosesTwoDistinctAllowedCpus) {
  const auto cpus = choose_cpus();
  if (!two_cpus()) {
    EXPECT_FALSE(cpus.has_value());
    return;
  }
  ASSERT_TRUE(cpus.has_value());
  EXPECT_NE(cpus->parent, cpus->child);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_TRUE(CPU_ISSET(cpus->parent, &set));
  EXPECT_TRUE(CPU_ISSET(cpus->child, &set));
}

TEST(Bench, MachineInfoIsFilledIn) {
  const MachineInfo m = machine_info();
  EXPECT_GT(m.cpus, 0U);
  EXPECT_FALSE(m.cpu_model.empty());
  EXPECT_FALSE(m.kernel.empty());
}

// --- message header, sizes, registry --------------------------------------------------------

TEST(Bench, HeaderRoundTrips) {
  std::vector<std::byte> msg(kHeaderSize);
  write_header(msg,
               {.seq = 0x0123456789abcdefULL, .flags = kLastMessage, .phase = Phase::throughput});
  const Header h = read_header(msg);
  EXPECT_EQ(h.seq, 0x0123456789abcdefULL);
  EXPECT_TRUE(h.last());
  EXPECT_EQ(h.phase, Phase::throughput);
}

TEST(Bench, ParsesSizesWithUnits) {
  EXPECT_EQ(parse_sizes("64,4K,4KiB,1M,1MiB,2kb, 16 B"),
            (std::vector<std::size_t>{64, 4096, 1U << 20, 2048, 16}));
  EXPECT_EQ(parse_size("64MiB"), std::size_t{64} << 20);
  EXPECT_EQ(format_size(64), "64 B");
  EXPECT_EQ(format_size(4096), "4 KiB");
  EXPECT_EQ(format_size(1U << 20), "1 MiB");
  EXPECT_EQ(format_size(1500), "1500 B");
}

TEST(Bench, RejectsBadSizesClearly) {
  auto message = [](const char* text) {
    try {
      (void)parse_sizes(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("8").find("16-byte header"), std::string::npos) << message("8");
  EXPECT_NE(message("65M").find("64 MiB"), std::string::npos) << message("65M");
  EXPECT_NE(message("4X").find("unknown unit"), std::string::npos) << message("4X");
  EXPECT_NE(message("big").find("number"), std::string::npos) << message("big");
  EXPECT_NE(message("64,,4K").find("empty"), std::string::npos) << message("64,,4K");
  EXPECT_NE(message("").find("empty"), std::string::npos) << message("");
  EXPECT_NE(message("99999999999999999999").find("too large"), std::string::npos);
}

TEST(Bench, UnknownMechanismNamesTheKnownOnes) {
  try {
    (void)select_mechanisms("pipe,nosuch");
    FAIL() << "no error";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\"nosuch\""), std::string::npos) << what;
    EXPECT_NE(what.find("c2c, pipe, fifo"), std::string::npos) << what;
  }
  EXPECT_EQ(parse_mechanism_list(" fifo , pipe,fifo"), (std::vector<std::string>{"fifo", "pipe"}));
}

TEST(Bench, RegistryNamesMatchTheAdapters) {
  for (const auto& r : registry()) EXPECT_EQ(r.make()->name(), r.name);
}

// --- the report -----------------------------------------------------------------------------

Report sample_report() {
  Report report;
  report.machine = {.cpus = 2, .cpu_model = "Test CPU", .kernel = "6.0.0"};
  report.pinned = CpuPair{0, 1};
  RowResult c2c{
      .mechanism = "c2c", .size = 64, .rtt = RttStats{200, 300, 900, 1000}, .floor_ns = 210};
  RowResult pipe{
      .mechanism = "pipe", .size = 4096, .rtt = RttStats{45'000, 60'000, 1'200'000, 100}};
  pipe.throughput = ThroughputStats{.messages = 1000,
                                    .seconds = 0.5,
                                    .msgs_per_s = 2000,
                                    .bytes_per_s = 2000.0 * 4096,
                                    .cpu_ns_per_msg = 3000,
                                    .cpu_ns_per_msg_sender = 1000,
                                    .cpu_ns_per_msg_receiver = 2000};
  pipe.floor_ns = 450;
  RowResult broken{.mechanism = "fifo", .size = 64, .error = "child: it broke"};
  report.rows = {c2c, pipe, broken};
  return report;
}

TEST(Bench, JsonFollowsTheContract) {
  const Json j = Json::parse(to_json(sample_report()).dump());
  EXPECT_EQ(j["machine"]["cpus"], 2);
  EXPECT_EQ(j["machine"]["cpu_model"], "Test CPU");
  EXPECT_EQ(j["machine"]["kernel"], "6.0.0");
  ASSERT_EQ(j["results"].size(), 3U);
  const Json& c2c = j["results"][0];
  EXPECT_EQ(c2c["mechanism"], "c2c");
  EXPECT_EQ(c2c["size"], 64);
  EXPECT_EQ(c2c["rtt_ns"]["p50"], 200);
  EXPECT_EQ(c2c["rtt_ns"]["p99"], 300);
  EXPECT_EQ(c2c["rtt_ns"]["p999"], 900);
  EXPECT_TRUE(c2c["msgs_per_s"].is_null());
  EXPECT_TRUE(c2c["bytes_per_s"].is_null());
  EXPECT_TRUE(c2c["cpu_ns_per_msg"].is_null());
  EXPECT_EQ(c2c["floor_ns"], 210);
  const Json& pipe = j["results"][1];
  EXPECT_EQ(pipe["msgs_per_s"], 2000);
  EXPECT_EQ(pipe["bytes_per_s"], 2000 * 4096);
  EXPECT_EQ(pipe["cpu_ns_per_msg"], 3000);
  EXPECT_EQ(pipe["cpu_ns_per_msg_sender"], 1000);
  EXPECT_EQ(pipe["cpu_ns_per_msg_receiver"], 2000);
  const Json& broken = j["results"][2];
  EXPECT_EQ(broken["mechanism"], "fifo");
  EXPECT_EQ(broken["size"], 64);
  EXPECT_EQ(broken["error"], "child: it broke");
  EXPECT_FALSE(broken.contains("rtt_ns"));
}

TEST(Bench, TableShowsUnitsDashesRatiosAndErrors) {
  const std::string table = format_table(sample_report());
  EXPECT_NE(table.find("mechanism"), std::string::npos) << table;
  EXPECT_NE(table.find("200 ns"), std::string::npos) << table;
  EXPECT_NE(table.find("45.0 µs"), std::string::npos) << table;
  EXPECT_NE(table.find("1.20 ms"), std::string::npos) << table;
  EXPECT_NE(table.find("2.00 k/s"), std::string::npos) << table;
  EXPECT_NE(table.find("8.19 MB/s"), std::string::npos) << table;
  EXPECT_NE(table.find("100x"), std::string::npos) << table;  // 45 µs over a 450 ns floor
  EXPECT_NE(table.find("1.0x"), std::string::npos) << table;  // 200 ns over 210 ns
  EXPECT_NE(table.find("—"), std::string::npos) << table;
  EXPECT_NE(table.find("error: child: it broke"), std::string::npos) << table;
  EXPECT_EQ(format_duration(999), "999 ns");
  EXPECT_EQ(format_duration(1000), "1.00 µs");
  EXPECT_EQ(format_duration(2.5e9), "2.50 s");
  EXPECT_EQ(format_rate(4.61e6, ""), "4.61 M/s");
  EXPECT_EQ(format_rate(1.15e9, "B"), "1.15 GB/s");
}

// --- the command ----------------------------------------------------------------------------

TEST(Bench, CliQuickJsonHasEveryRowAndField) {
  const auto start = std::filesystem::file_time_type::clock::now() - 2s;
  const auto run = test::run_cli({"bench", "--quick", "--json", "--only", "c2c,pipe,fifo"});
  ASSERT_TRUE(run.status.success()) << run.status.to_string() << "\n" << run.err << run.out;
  const Json j = Json::parse(run.out);
  ASSERT_TRUE(j.contains("machine"));
  EXPECT_GT(j["machine"]["cpus"].get<int>(), 0);
  EXPECT_TRUE(j["machine"]["cpu_model"].is_string());
  EXPECT_TRUE(j["machine"]["kernel"].is_string());
  std::vector<std::pair<std::string, int>> expected{
      {"pipe", 64}, {"pipe", 4096}, {"fifo", 64}, {"fifo", 4096}};
  if (two_cpus()) expected.insert(expected.begin(), std::pair<std::string, int>{"c2c", 64});
  ASSERT_EQ(j["results"].size(), expected.size()) << run.out;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const Json& row = j["results"][i];
    SCOPED_TRACE(row.dump());
    EXPECT_EQ(row["mechanism"], expected[i].first);
    EXPECT_EQ(row["size"], expected[i].second);
    EXPECT_FALSE(row.contains("error"));
    for (const char* key : {"p50", "p99", "p999"}) {
      ASSERT_TRUE(row["rtt_ns"][key].is_number()) << key;
    }
    EXPECT_LE(row["rtt_ns"]["p50"].get<double>(), row["rtt_ns"]["p99"].get<double>());
    EXPECT_LE(row["rtt_ns"]["p99"].get<double>(), row["rtt_ns"]["p999"].get<double>());
    for (const char* key : {"msgs_per_s", "bytes_per_s", "floor_ns", "cpu_ns_per_msg"}) {
      EXPECT_TRUE(row.contains(key)) << key;
    }
    if (expected[i].first == "c2c") {
      EXPECT_TRUE(row["msgs_per_s"].is_null());
      EXPECT_TRUE(row["bytes_per_s"].is_null());
    } else {
      EXPECT_GT(row["msgs_per_s"].get<double>(), 0);
      EXPECT_GT(row["bytes_per_s"].get<double>(), 0);
      EXPECT_TRUE(row["cpu_ns_per_msg"].is_number());
    }
  }
  EXPECT_TRUE(bench_dirs_of_dead_processes(start).empty());
}

TEST(Bench, CliPrintsTableAndWritesJsonToOut) {
  test::TempDir dir;
  const std::string out_dir = (dir / "results").string();
  const auto run =
      test::run_cli({"bench", "--quick", "--only", "pipe", "--sizes", "64", "--out", out_dir});
  ASSERT_TRUE(run.status.success()) << run.status.to_string() << "\n" << run.err << run.out;
  EXPECT_NE(run.out.find("mechanism"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("pipe"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("64 B"), std::string::npos) << run.out;
  std::ifstream file(out_dir + "/bench.json");
  ASSERT_TRUE(file.good());
  const Json j = Json::parse(file);
  ASSERT_EQ(j["results"].size(), 1U);
  EXPECT_EQ(j["results"][0]["mechanism"], "pipe");
  // stderr is not a terminal here: no progress lines.
  EXPECT_EQ(run.err.find("[1/1]"), std::string::npos) << run.err;
}

TEST(Bench, CliUnknownMechanismFailsNamingTheKnownOnes) {
  const auto run = test::run_cli({"bench", "--only", "nosuch"});
  EXPECT_FALSE(run.status.success());
  EXPECT_NE(run.err.find("nosuch"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("c2c, pipe, fifo"), std::string::npos) << run.err;
  EXPECT_TRUE(run.out.empty()) << run.out;
}

TEST(Bench, CliBadSizesFailClearly) {
  const auto too_small = test::run_cli({"bench", "--sizes", "64,8"});
  EXPECT_FALSE(too_small.status.success());
  EXPECT_NE(too_small.err.find("16-byte header"), std::string::npos) << too_small.err;
  const auto garbage = test::run_cli({"bench", "--sizes", "4X"});
  EXPECT_FALSE(garbage.status.success());
  EXPECT_NE(garbage.err.find("4X"), std::string::npos) << garbage.err;
  const auto too_large = test::run_cli({"bench", "--sizes", "1G"});
  EXPECT_FALSE(too_large.status.success());
  EXPECT_NE(too_large.err.find("64 MiB"), std::string::npos) << too_large.err;
}

TEST(Bench, CliHelpExplainsEveryOption) {
  const auto run = test::run_cli({"bench", "--help"});
  EXPECT_TRUE(run.status.success());
  for (const char* option : {"--only", "--sizes", "--quick", "--json", "--out"}) {
    EXPECT_NE(run.out.find(option), std::string::npos) << option << "\n" << run.out;
  }
  EXPECT_NE(run.out.find("floor"), std::string::npos) << run.out;
}

}  // namespace
}  // namespace ipckit::bench
