// The bench engine: forks the two processes of a row, pins them, runs the probe, ping-pong
// and stream phases, checks every sequence number, collects the child's report over a
// control pipe and always reaps the child. See engine.hpp for the shape of a row.
//
// The processes of a row:
//
//   parent (the caller)                          child (forked)
//   setup() both mechanisms, control pipes
//   fork ----------------------------------------->
//   open(parent)                                 open(child)
//   wait "ready" on the up pipe   <-------------  "ready" (or "failure: why")
//   opened(); "go" on the down pipe ----------->  wait "go"
//   probe ping-pong (c2c)         <------------>  echo
//   latency ping-pong             <------------>  echo (checks sequence numbers)
//   throughput stream             ------------->  receive (checks sequence numbers)
//   wait the result on up         <-------------  "result" (its CPU time, last receive time)
//   reap                                         _exit
//
// A watchdog thread in the parent kills the child when the row passes its time limit; the
// parent, blocked in a read or write towards the child, then sees end of stream or a closed
// peer and the row ends with an error.

#include "engine.hpp"

#include <fmt/core.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>

#include "ipckit/deadline.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "cpus.hpp"
#include "message.hpp"
#include "registry.hpp"
#include "sizes.hpp"

namespace ipckit::bench {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

constexpr std::size_t kProbeMessageSize = 64;
constexpr std::byte kFill{0x5a};

// A failure the engine found itself: a broken sequence, a protocol step that timed out.
class RowFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The child closed its side (or failed and said so): the child's report, when there is one,
// says why better than the parent can.
class PeerGone : public RowFailure {
 public:
  using RowFailure::RowFailure;
};

[[nodiscard]] std::int64_t to_ns(Clock::time_point t) {
  return duration_cast<nanoseconds>(t.time_since_epoch()).count();
}

[[nodiscard]] std::int64_t process_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[nodiscard]] Deadline earlier(Deadline a, Deadline b) {
  return a.when() <= b.when() ? a : b;
}

[[nodiscard]] double seconds(nanoseconds d) {
  return std::chrono::duration<double>(d).count();
}

// --- CPUs -------------------------------------------------------------------------------

// "0-3,8,10-11" (the kernel's CPU list format) -> {0,1,2,3,8,10,11}. Bad input: what parsed.
[[nodiscard]] std::vector<int> parse_cpu_list(std::string_view text) {
  std::vector<int> cpus;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    int first = 0;
    int last = 0;
    const char* end = item.data() + item.size();
    auto [p, ec] = std::from_chars(item.data(), end, first);
    if (ec != std::errc{}) break;
    last = first;
    if (p != end && *p == '-') {
      auto [q, ec2] = std::from_chars(p + 1, end, last);
      if (ec2 != std::errc{}) break;
      p = q;
    }
    for (int cpu = first; cpu <= last && cpu - first < CPU_SETSIZE; ++cpu) cpus.push_back(cpu);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return cpus;
}

[[nodiscard]] std::vector<int> smt_siblings(int cpu) {
  std::ifstream in("/sys/devices/system/cpu/cpu" + std::to_string(cpu) +
                   "/topology/thread_siblings_list");
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  return parse_cpu_list(line);
}

// Pins the calling thread for a scope and gives it back its old CPU set afterwards, so the
// caller of the engine (a test, the CLI) is not left pinned.
class AffinityGuard {
 public:
  explicit AffinityGuard(int cpu) {
    CPU_ZERO(&saved_);
    saved_ok_ = ::sched_getaffinity(0, sizeof saved_, &saved_) == 0;
    pin_this_thread(cpu);
  }
  AffinityGuard(const AffinityGuard&) = delete;
  AffinityGuard& operator=(const AffinityGuard&) = delete;
  ~AffinityGuard() {
    if (saved_ok_) ::sched_setaffinity(0, sizeof saved_, &saved_);
  }

 private:
  cpu_set_t saved_{};
  bool saved_ok_ = false;
};

// --- the control pipes ------------------------------------------------------------------

enum class RecordKind : std::uint32_t { ready = 1, result = 2, failure = 3 };

// What the child tells the parent: followed by text_size bytes of text (a failure's message).
struct ControlRecord {
  RecordKind kind = RecordKind::failure;
  std::uint32_t text_size = 0;
  std::int64_t end_ns = 0;     // steady_clock time of the last receive of the stream
  std::int64_t cpu_ns = 0;     // the child's CPU time in the stream phase
  std::uint64_t messages = 0;  // messages the child received in the stream phase
};
static_assert(std::is_trivially_copyable_v<ControlRecord>);

// A record and its text fit in one write of at most PIPE_BUF bytes, so it arrives whole.
constexpr std::size_t kMaxText = kPipeAtomicWrite - sizeof(ControlRecord);

struct Received {
  ControlRecord record{};
  std::string text{};
};

// Never throws: the child calls it from its last catch block, and a parent that is gone
// cannot be told anything anyway.
void send_record(const Fd& fd, ControlRecord record, std::string_view text = {}) noexcept {
  try {
    text = text.substr(0, kMaxText);
    record.text_size = static_cast<std::uint32_t>(text.size());
    std::vector<std::byte> buf(sizeof record + text.size());
    std::memcpy(buf.data(), &record, sizeof record);
    if (!text.empty()) std::memcpy(buf.data() + sizeof record, text.data(), text.size());
    (void)fd.write_all(buf);
  } catch (...) {
  }
}

// The next record, or nothing when the child closed the pipe (it ended) without one.
// Throws RowFailure when the deadline passes first.
std::optional<Received> receive_record(const Fd& fd, Deadline deadline,
                                       std::string_view waiting_for) {
  Received r;
  IoResult got = fd.read_exact(std::as_writable_bytes(std::span{&r.record, 1}), deadline);
  if (got.status == IoStatus::end_of_stream) return std::nullopt;
  if (!got.ok()) {
    throw RowFailure(fmt::format("the child did not {} in time", waiting_for));
  }
  if (r.record.text_size > kMaxText) throw RowFailure("the child sent a malformed report");
  r.text.resize(r.record.text_size);
  got = fd.read_exact(std::as_writable_bytes(std::span{r.text}), deadline);
  if (!got.ok()) throw RowFailure("the child's report was cut short");
  return r;
}

// --- the child process ------------------------------------------------------------------

// Owns a forked child until it is reaped: the destructor kills and reaps it, so no path out
// of a row leaves a child running or a zombie behind.
class ChildProcess {
 public:
  // pidfd_open on our own unreaped child cannot race with pid reuse. Without a pidfd
  // (kernels before 5.3) wait_until falls back to polling waitpid.
  explicit ChildProcess(pid_t pid) noexcept
      : pid_(pid), pidfd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { (void)kill_and_reap(); }

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // Waits for the child to end until `deadline` and reaps it; nothing if it is still running.
  std::optional<ExitStatus> wait_until(Deadline deadline) {
    for (;;) {
      if (auto status = try_reap()) return status;
      if (pid_ < 0 || deadline.expired()) return status_;
      if (pidfd_.valid()) {
        (void)pidfd_.wait_readable(deadline);  // readable once the child has ended
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
  }

  // SIGKILL (unless already reaped), then a blocking reap.
  std::optional<ExitStatus> kill_and_reap() noexcept {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      pid_t rc = -1;
      do {
        rc = ::waitpid(pid_, &status, 0);
      } while (rc == -1 && errno == EINTR);
      if (rc == pid_) status_ = ExitStatus::from_wait_status(status);
      pid_ = -1;
    }
    return status_;
  }

 private:
  std::optional<ExitStatus> try_reap() {
    if (pid_ < 0) return status_;
    int status = 0;
    const pid_t rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      status_ = ExitStatus::from_wait_status(status);
      pid_ = -1;
      return status_;
    }
    if (rc == -1 && errno == ECHILD) pid_ = -1;  // reaped elsewhere (SIGCHLD ignored)
    return std::nullopt;
  }

  pid_t pid_ = -1;
  Fd pidfd_;
  std::optional<ExitStatus> status_;
};

// Kills the child when the row passes its deadline. stop() before reaping, so the kill can
// never hit a pid that was reaped and reused.
class Watchdog {
 public:
  Watchdog(pid_t pid, Clock::time_point deadline)
      : thread_([this, pid, deadline] { watch(pid, deadline); }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { stop(); }

  void stop() noexcept {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  [[nodiscard]] bool fired() const noexcept { return fired_.load(std::memory_order_acquire); }

 private:
  void watch(pid_t pid, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_until(lock, deadline, [this] { return stopped_; })) {
      fired_.store(true, std::memory_order_release);
      ::kill(pid, SIGKILL);
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;  // last: starts once the members it uses exist
};

// --- the phases ---------------------------------------------------------------------------

// Throws RowFailure unless `got` is message `expected` of `phase`. `what` starts the message
// ("throughput", "latency echo").
void check_sequence(const Header& got, std::uint64_t expected, Phase phase, std::string_view what) {
  if (got.phase != phase) {
    throw RowFailure(fmt::format(
        "{}: expected sequence number {} of the {} phase, got a message of phase {} (sequence "
        "number {}): messages are mixed up",
        what, expected, to_string(phase), static_cast<std::uint32_t>(got.phase), got.seq));
  }
  if (got.seq == expected) return;
  if (got.seq > expected) {
    const std::uint64_t lost = got.seq - expected;
    throw RowFailure(
        fmt::format("{}: expected sequence number {}, got {}: {} message{} lost (or reordered)",
                    what, expected, got.seq, lost, lost == 1 ? "" : "s"));
  }
  throw RowFailure(fmt::format(
      "{}: expected sequence number {}, got {} again: a message was duplicated (or reordered)",
      what, expected, got.seq));
}

void require_endpoints(const Endpoints& ends, std::string_view mechanism) {
  if (!ends.sender || !ends.receiver) {
    throw RowFailure(
        fmt::format("adapter {}: open() must give both a sender and a receiver", mechanism));
  }
}

// Parent: ping-pong for `budget` (the first round trip and the first tenth of the budget are
// warm-up) or until `max_samples` round trips are recorded (at least one is), then one round
// trip with the last flag. Returns the recorded round-trip times.
std::vector<std::int64_t> ping_pong(Endpoints& ends, Phase phase, nanoseconds budget,
                                    std::size_t max_samples, std::span<std::byte> out,
                                    std::span<std::byte> in) {
  std::vector<std::int64_t> samples;
  samples.reserve(std::min<std::size_t>(max_samples, 1U << 20));
  max_samples = std::max<std::size_t>(max_samples, 1);
  const auto start = Clock::now();
  const auto warm_end = start + budget / 10;
  const auto end = start + budget;
  std::uint64_t seq = 0;
  const std::string echo_what = fmt::format("{} echo", to_string(phase));
  auto round_trip = [&](std::uint32_t flags) {
    write_header(out, {.seq = seq, .flags = flags, .phase = phase});
    const auto t0 = Clock::now();
    if (ends.sender->send(out) != Transfer::ok) {
      throw PeerGone(
          fmt::format("{} round trip {}: the child closed the channel", to_string(phase), seq));
    }
    if (ends.receiver->receive(in) != Transfer::ok) {
      throw PeerGone(fmt::format("{} round trip {}: the child closed the channel before answering",
                                 to_string(phase), seq));
    }
    const auto t1 = Clock::now();
    check_sequence(read_header(in), seq, phase, echo_what);
    return std::pair{t1, duration_cast<nanoseconds>(t1 - t0).count()};
  };
  for (;; ++seq) {
    const auto [t1, rtt] = round_trip(0);
    // The first round trip is always warm-up (first touches, first wake-ups), however long
    // it took; then warm-up lasts a tenth of the budget. At least one round trip is recorded.
    if (seq > 0 && t1 >= warm_end) samples.push_back(rtt);
    if (samples.size() >= max_samples || (t1 >= end && !samples.empty())) break;
  }
  ++seq;
  (void)round_trip(kLastMessage);
  return samples;
}

// Child: echoes every message of `phase` back until the one with the last flag.
void echo(Endpoints& ends, Phase phase, std::span<std::byte> buf) {
  for (std::uint64_t expected = 0;; ++expected) {
    if (ends.receiver->receive(buf) != Transfer::ok) {
      throw RowFailure(fmt::format("{} phase: the parent closed the channel after {} messages",
                                   to_string(phase), expected));
    }
    const Header h = read_header(buf);
    check_sequence(h, expected, phase, to_string(phase));
    if (ends.sender->send(buf) != Transfer::ok) {
      throw RowFailure(fmt::format("{} phase: the parent closed the channel", to_string(phase)));
    }
    if (h.last()) return;
  }
}

struct StreamSent {
  std::uint64_t messages = 0;
  std::int64_t start_ns = 0;
  std::int64_t cpu_ns = 0;
};

// Parent: sends messages 0, 1, ... for `budget` (or max_messages), the last one flagged.
StreamSent send_stream(Sender& sender, std::span<std::byte> out, nanoseconds budget,
                       std::uint64_t max_messages) {
  // Read the clock about every MiB sent (at most every 256 messages, at least every one),
  // so the check costs nothing next to the sends and a large message does not overshoot.
  const std::uint64_t check_every =
      std::clamp<std::uint64_t>((std::uint64_t{1} << 20) / out.size(), 1, 256);
  max_messages = std::max<std::uint64_t>(max_messages, 1);
  const std::int64_t cpu_start = process_cpu_ns();
  const auto start = Clock::now();
  const auto end = start + budget;
  std::uint64_t until_check = check_every;
  std::uint64_t seq = 0;
  for (;; ++seq) {
    bool last = seq + 1 >= max_messages;
    if (--until_check == 0) {
      until_check = check_every;
      last = last || Clock::now() >= end;
    }
    write_header(out, {.seq = seq, .flags = last ? kLastMessage : 0U, .phase = Phase::throughput});
    if (sender.send(out) != Transfer::ok) {
      throw PeerGone(
          fmt::format("throughput: the child closed the channel after {} messages", seq));
    }
    if (last) break;
  }
  return {seq + 1, to_ns(start), process_cpu_ns() - cpu_start};
}

// Child: receives the stream until the last message, checking every sequence number.
ControlRecord receive_stream(Receiver& receiver, std::span<std::byte> buf) {
  const std::int64_t cpu_start = process_cpu_ns();
  for (std::uint64_t expected = 0;; ++expected) {
    if (receiver.receive(buf) != Transfer::ok) {
      throw RowFailure(fmt::format(
          "throughput: the stream ended after {} messages without its last message", expected));
    }
    const Header h = read_header(buf);
    check_sequence(h, expected, Phase::throughput, "throughput");
    if (h.last()) {
      const std::int64_t end_ns = to_ns(Clock::now());
      return {.kind = RecordKind::result,
              .end_ns = end_ns,
              .cpu_ns = process_cpu_ns() - cpu_start,
              .messages = expected + 1};
    }
  }
}

[[nodiscard]] RttStats percentiles(std::vector<std::int64_t>& samples) {
  RttStats s;
  s.samples = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  // Nearest rank: the smallest sample with at least per_mille/1000 of them at or below it.
  auto at = [&](std::size_t per_mille) {
    const std::size_t rank = std::max<std::size_t>((samples.size() * per_mille + 999) / 1000, 1);
    return samples[rank - 1];
  };
  s.p50 = at(500);
  s.p99 = at(990);
  s.p999 = at(999);
  return s;
}

// --- one row ------------------------------------------------------------------------------

struct RowPlan {
  Mechanism* mechanism = nullptr;
  Mechanism* probe = nullptr;  // the c2c floor probe; null when it cannot run
  RowContext context{};
  RowContext probe_context{};
  bool throughput = true;
  std::optional<CpuPair> cpus{};
  const EngineOptions* options = nullptr;
  nanoseconds row_timeout{};
};

// Calls cleanup() on the way out of a row, whatever happened.
class CleanupGuard {
 public:
  explicit CleanupGuard(Mechanism* m) noexcept : mechanism_(m) {}
  CleanupGuard(const CleanupGuard&) = delete;
  CleanupGuard& operator=(const CleanupGuard&) = delete;
  ~CleanupGuard() {
    if (mechanism_ != nullptr) mechanism_->cleanup();
  }

 private:
  Mechanism* mechanism_;
};

[[noreturn]] void child_main(const RowPlan& plan, const Fd& up, const Fd& down,
                             pid_t parent_pid) noexcept {
  // Die with the parent: a child must never outlive the bench, spinning on a CPU.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent_pid) ::_exit(1);
  int code = 0;
  try {
    if (plan.cpus) pin_this_thread(plan.cpus->child);
    Endpoints probe_ends;
    if (plan.probe != nullptr) probe_ends = plan.probe->open(Side::child, plan.probe_context);
    Endpoints ends = plan.mechanism->open(Side::child, plan.context);
    require_endpoints(ends, plan.mechanism->name());
    // Filled now, so page faults on a large buffer fall before any timing starts.
    std::vector<std::byte> buf(plan.context.message_size, kFill);
    std::vector<std::byte> probe_buf(kProbeMessageSize, kFill);
    send_record(up, {.kind = RecordKind::ready});

    std::byte go{};
    const IoResult r = down.read_exact(std::span{&go, 1}, Deadline::after(plan.row_timeout));
    if (r.status == IoStatus::end_of_stream) ::_exit(0);  // the parent gave up the row
    if (!r.ok()) throw RowFailure("the parent did not start the row in time");

    if (plan.probe != nullptr) echo(probe_ends, Phase::probe, probe_buf);
    echo(ends, Phase::latency, buf);
    ControlRecord result{.kind = RecordKind::result};
    if (plan.throughput) result = receive_stream(*ends.receiver, buf);
    send_record(up, result);
  } catch (const std::exception& e) {
    send_record(up, {.kind = RecordKind::failure}, e.what());
    code = 1;
  } catch (...) {
    send_record(up, {.kind = RecordKind::failure}, "unknown exception");
    code = 1;
  }
  ::_exit(code);
}

// The parent's part of the phases. Fills `row`; a failure record of the child goes to
// `child_report` (and a PeerGone is thrown).
void measure(const RowPlan& plan, RowResult& row, const Fd& up, const Fd& down,
             Deadline row_deadline, std::optional<Received>& child_report) {
  const EngineOptions& options = *plan.options;
  Endpoints probe_ends;
  if (plan.probe != nullptr) probe_ends = plan.probe->open(Side::parent, plan.probe_context);
  Endpoints ends = plan.mechanism->open(Side::parent, plan.context);
  require_endpoints(ends, plan.mechanism->name());
  // Filled now, so page faults on a large buffer fall before the probe and the timing.
  std::vector<std::byte> out(plan.context.message_size, kFill);
  std::vector<std::byte> in(plan.context.message_size, kFill);
  std::vector<std::byte> probe_out(kProbeMessageSize, kFill);
  std::vector<std::byte> probe_in(kProbeMessageSize, kFill);

  auto take_record = [&](Deadline deadline, std::string_view waiting_for) {
    std::optional<Received> r = receive_record(up, deadline, waiting_for);
    if (!r) throw PeerGone(fmt::format("the child ended before it could {}", waiting_for));
    if (r->record.kind == RecordKind::failure) {
      child_report = std::move(r);
      throw PeerGone("the child failed");
    }
    return std::move(*r);
  };

  const Received ready = take_record(earlier(Deadline::after(options.stall_timeout), row_deadline),
                                     "get ready (open its ends of the channel)");
  if (ready.record.kind != RecordKind::ready) throw RowFailure("the child broke the protocol");
  plan.mechanism->opened();
  const std::byte go{1};
  if (!down.write_all(std::span{&go, 1}).ok()) throw PeerGone("the child went away");

  if (plan.probe != nullptr) {
    auto samples = ping_pong(probe_ends, Phase::probe, options.probe_budget, options.probe_samples,
                             probe_out, probe_in);
    row.floor_ns = percentiles(samples).p50;
  }
  {
    auto samples =
        ping_pong(ends, Phase::latency, options.latency_budget, options.max_rtt_samples, out, in);
    row.rtt = percentiles(samples);
  }

  std::optional<StreamSent> sent;
  if (plan.throughput) {
    sent = send_stream(*ends.sender, out, options.throughput_budget, options.max_messages);
  }
  const Received result = take_record(row_deadline, "report its result");
  if (result.record.kind != RecordKind::result) throw RowFailure("the child broke the protocol");
  if (!sent) return;

  if (result.record.messages != sent->messages) {
    throw RowFailure(fmt::format("throughput: sent {} messages, the child received {}",
                                 sent->messages, result.record.messages));
  }
  ThroughputStats t;
  t.messages = sent->messages;
  t.seconds =
      static_cast<double>(std::max<std::int64_t>(result.record.end_ns - sent->start_ns, 1)) / 1e9;
  t.msgs_per_s = static_cast<double>(t.messages) / t.seconds;
  t.bytes_per_s = t.msgs_per_s * static_cast<double>(plan.context.message_size);
  const auto per_msg = [&](std::int64_t cpu_ns) {
    return static_cast<double>(cpu_ns) / static_cast<double>(t.messages);
  };
  t.cpu_ns_per_msg_sender = per_msg(sent->cpu_ns);
  t.cpu_ns_per_msg_receiver = per_msg(result.record.cpu_ns);
  t.cpu_ns_per_msg = t.cpu_ns_per_msg_sender + t.cpu_ns_per_msg_receiver;
  row.throughput = t;
}

void run_forked(const RowPlan& plan, RowResult& row) {
  CleanupGuard clean_mechanism{plan.mechanism};
  CleanupGuard clean_probe{plan.probe};
  plan.mechanism->setup(plan.context);
  if (plan.probe != nullptr) plan.probe->setup(plan.probe_context);

  Pipe up = Pipe::create();    // child -> parent: ready, result or failure
  Pipe down = Pipe::create();  // parent -> child: go
  std::fflush(nullptr);        // nothing buffered may be written twice
  const pid_t parent_pid = ::getpid();
  const pid_t pid = ::fork();
  if (pid == -1) throw Error{"fork", std::string(plan.mechanism->name()), errno};
  if (pid == 0) {
    up.read_end.reset();
    down.write_end.reset();
    child_main(plan, up.write_end, down.read_end, parent_pid);
  }
  ChildProcess child{pid};
  up.write_end.reset();
  down.read_end.reset();

  const Deadline row_deadline = Deadline::after(plan.row_timeout);
  std::string failure;
  bool peer_gone = false;
  std::optional<Received> child_report;
  bool watchdog_fired = false;
  {
    Watchdog watchdog{pid, row_deadline.when()};
    try {
      std::optional<AffinityGuard> pinned;
      if (plan.cpus) pinned.emplace(plan.cpus->parent);
      measure(plan, row, up.read_end, down.write_end, row_deadline, child_report);
    } catch (const PeerGone& e) {
      failure = e.what();
      peer_gone = true;
    } catch (const std::exception& e) {
      failure = e.what();
    }
    // Our ends are closed by now; closing "down" too tells a child waiting for "go" to quit.
    down.write_end.reset();
    if (!child_report) {
      // When the child closed the channel, it has probably said why: wait a little for it.
      // Otherwise take only a report that is already there: the child failed first.
      try {
        const Deadline wait = peer_gone
                                  ? earlier(Deadline::after(std::chrono::seconds(2)), row_deadline)
                                  : Deadline::now();
        while (auto r = receive_record(up.read_end, wait, "say why it stopped")) {
          if (r->record.kind == RecordKind::failure) {
            child_report = std::move(r);
            break;
          }
        }
      } catch (const std::exception&) {
      }
    }
    watchdog.stop();
    watchdog_fired = watchdog.fired();
  }

  std::optional<ExitStatus> status = child.wait_until(Deadline::after(
      failure.empty() ? plan.context.stall_timeout : std::chrono::milliseconds(200)));
  if (!status) status = child.kill_and_reap();

  const bool child_failed = child_report && child_report->record.kind == RecordKind::failure;
  if (child_failed) {
    row.error = "child: " + child_report->text;
  } else if (watchdog_fired) {
    row.error = fmt::format(
        "the row ran past its {:.0f} s limit and the child was killed (a lost message stalls "
        "the ping-pong; a blocked open or receive does too)",
        seconds(plan.row_timeout));
  } else if (!failure.empty()) {
    row.error = failure;
    if (peer_gone && status && !status->success())
      row.error += "; the child " + status->to_string();
  } else if (!status || !status->success()) {
    row.error = "the child " + (status ? status->to_string() : std::string("could not be reaped")) +
                " after reporting success";
  }
  if (!row.ok()) {
    row.rtt.reset();
    row.throughput.reset();
  }
}

}  // namespace

EngineOptions EngineOptions::quick() {
  EngineOptions o;
  o.latency_budget = std::chrono::milliseconds(300);
  o.throughput_budget = std::chrono::milliseconds(300);
  return o;
}

std::optional<CpuPair> choose_cpus() {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) return std::nullopt;
  const int first = cpus.front();
  const std::vector<int> siblings = smt_siblings(first);
  for (int cpu : cpus) {
    if (cpu != first && std::find(siblings.begin(), siblings.end(), cpu) == siblings.end()) {
      return CpuPair{first, cpu};
    }
  }
  return CpuPair{first, cpus[1]};
}

MachineInfo machine_info() {
  MachineInfo m;
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  m.cpus = online > 0 ? static_cast<unsigned>(online) : 0U;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string model = line.substr(colon + 1);
    model.erase(0, model.find_first_not_of(" \t"));
    m.cpu_model = model;
    break;
  }
  if (m.cpu_model.empty()) m.cpu_model = "unknown";
  utsname u{};
  m.kernel = ::uname(&u) == 0 ? u.release : "unknown";
  return m;
}

RowResult run_row(Mechanism& mechanism, std::size_t size, const EngineOptions& options) {
  RowResult row;
  row.mechanism = std::string(mechanism.name());
  row.size = size;
  try {
    if (size < kMinMessageSize || size > kMaxMessageSize) {
      throw RowFailure(fmt::format("message size {} is outside {} to {} bytes", size,
                                   kMinMessageSize, kMaxMessageSize));
    }
    const Capabilities caps = mechanism.capabilities();
    const bool two_cpus = allowed_cpus().size() >= 2;
    if (caps.spins && !two_cpus) {
      throw RowFailure("this mechanism busy-waits and needs two CPUs; this process may use one");
    }
    std::unique_ptr<Mechanism> probe = two_cpus ? make_mechanism("c2c") : nullptr;
    RowPlan plan;
    plan.mechanism = &mechanism;
    plan.probe = probe.get();
    plan.context = {.message_size = size, .stall_timeout = options.stall_timeout};
    plan.probe_context = {.message_size = kProbeMessageSize,
                          .stall_timeout = options.stall_timeout};
    plan.throughput = caps.throughput;
    plan.cpus = options.pin ? choose_cpus() : std::nullopt;
    plan.options = &options;
    plan.row_timeout = options.row_timeout > nanoseconds::zero()
                           ? options.row_timeout
                           : options.probe_budget + options.latency_budget +
                                 options.throughput_budget + 2 * options.stall_timeout +
                                 std::chrono::seconds(10);
    run_forked(plan, row);
  } catch (const std::exception& e) {
    row.error = e.what();
    row.rtt.reset();
    row.throughput.reset();
  }
  return row;
}

Report run(const std::vector<std::unique_ptr<Mechanism>>& mechanisms,
           const EngineOptions& options) {
  if (options.sizes.empty()) throw std::invalid_argument("no message sizes to run");
  for (std::size_t size : options.sizes) {
    if (size < kMinMessageSize || size > kMaxMessageSize) {
      throw std::invalid_argument(fmt::format("message size {} is outside {} to {} bytes", size,
                                              kMinMessageSize, kMaxMessageSize));
    }
  }
  Report report;
  report.machine = machine_info();
  report.pinned = options.pin ? choose_cpus() : std::nullopt;
  report.latency_budget = options.latency_budget;
  report.throughput_budget = options.throughput_budget;
  const std::size_t allowed = allowed_cpus().size();

  std::vector<std::pair<Mechanism*, std::size_t>> jobs;
  for (const auto& m : mechanisms) {
    const Capabilities caps = m->capabilities();
    if (caps.spins && allowed < 2) {
      report.notes.push_back(fmt::format(
          "{} skipped: it busy-waits, which needs two CPUs, and this process may use {}", m->name(),
          allowed));
      continue;
    }
    if (caps.fixed_size) {
      jobs.emplace_back(m.get(), *caps.fixed_size);
    } else {
      for (std::size_t size : options.sizes) jobs.emplace_back(m.get(), size);
    }
  }
  if (allowed < 2) {
    report.notes.emplace_back("floor_ns is empty: the c2c probe needs two CPUs");
  }
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (options.on_row_start) {
      options.on_row_start({.index = i,
                            .total = jobs.size(),
                            .mechanism = std::string(jobs[i].first->name()),
                            .size = jobs[i].second});
    }
    report.rows.push_back(run_row(*jobs[i].first, jobs[i].second, options));
  }
  return report;
}

}  // namespace ipckit::bench
