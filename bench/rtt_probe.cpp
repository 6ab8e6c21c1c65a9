// ipckit_rtt_probe: where the shm:// round trip goes, against the floor, measured interleaved.
//
// `ipckit bench` compares each row with a c2c floor probed just before it, and on a VM that
// floor moves within a second, so one run's p50/floor swings with what the probe caught. This
// tool runs four ping-pongs of 64-byte messages between two pinned processes in alternating
// blocks of BLOCK round trips (default 2000) for ROUNDS rounds (default 100), so all four see
// the same moves of the floor, and prints the median round trip of each and its ratio to the
// first:
//
//   c2c        one 64-bit word on one cache line, used both ways (bench's floor)
//   two-lines  one line each way: the least any pair of one-way channels can do
//   ring       ring.hpp alone, two rings (try_write, spin on try_read): copy in and out
//   shm://     the Channel API over two busy-polling shm:// channels (what bench's shm row runs)
//
//   build/release/bench/ipckit_rtt_probe [ROUNDS [BLOCK]]
//
// Exit status: 0; 2 when a ping-pong failed; 77 when fewer than two CPUs are allowed.
//
// The channels are named /ipckit-ch-ipckit-rtt-<pid>-{a,b} and removed at the end.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipckit/channel.hpp"
#include "ipckit/ring.hpp"
#include "cpus.hpp"
#include "ipckit/mapping.hpp"
#include "spin.hpp"

namespace {

using namespace std::chrono_literals;
namespace ring = ipckit::ring;
using Clock = std::chrono::steady_clock;
using Word = std::atomic<std::uint64_t>;

constexpr std::size_t kMessage = 64;
constexpr std::uint64_t kRingCapacity = std::uint64_t{1} << 20;  // as bench's shm row
constexpr std::size_t kPage = 4096;
constexpr int kCannotRun = 77;  // fewer than two CPUs: nothing to measure (ctest: skipped)

enum Kind : std::size_t { c2c, two_lines, bare_ring, channel, kKinds };
constexpr std::array<const char*, kKinds> kNames{"c2c", "two-lines", "ring", "shm://"};

// Spins until `done()`; throws when the other process stops answering (it died).
template <class Done>
void spin_until(Done&& done) {
  ipckit::bench::SpinBound bound{10s};
  while (!done()) {
    if (!bound.spin()) throw std::runtime_error("the other process stopped answering for 10 s");
  }
}

void wait_for(const Word& word, std::uint64_t value) {
  spin_until([&] { return word.load(std::memory_order_acquire) == value; });
}

// What both processes share (one MAP_SHARED | MAP_ANONYMOUS mapping, made before fork): the
// three words on their own pages, then two rings.
struct Shared {
  ipckit::Mapping mapping;
  Word* one = nullptr;       // c2c: both ways
  Word* there = nullptr;     // two-lines: parent to child
  Word* back = nullptr;      // two-lines: child to parent
  std::span<std::byte> to_child;
  std::span<std::byte> to_parent;
};

Shared map_shared() {
  const std::size_t ring_bytes = (ring::segment_size(kRingCapacity) + kPage - 1) / kPage * kPage;
  Shared s;
  s.mapping = ipckit::Mapping::anonymous_shared(3 * kPage + 2 * ring_bytes);
  std::byte* base = s.mapping.bytes().data();
  s.one = new (base) Word(0);
  s.there = new (base + kPage) Word(0);
  s.back = new (base + 2 * kPage) Word(0);
  s.to_child = {base + 3 * kPage, ring::segment_size(kRingCapacity)};
  s.to_parent = {base + 3 * kPage + ring_bytes, ring::segment_size(kRingCapacity)};
  if (!ring::initialise(s.to_child, kRingCapacity, 0x5eed0001) ||
      !ring::initialise(s.to_parent, kRingCapacity, 0x5eed0002)) {
    throw std::runtime_error("cannot lay out the two rings in the shared mapping");
  }
  return s;
}

// One process's ends of the four ping-pongs.
struct Ends {
  ring::Writer writer;
  ring::Reader reader;
  ipckit::Channel in;
  ipckit::Channel out;
};

void read_one(ring::Reader& reader, std::span<std::byte> buffer) {
  std::size_t n = 0;
  spin_until([&] { return reader.try_read(buffer, n) == ring::Status::ok; });
}

// The four ping-pongs between this process, pinned to `cpus[0]`, and a child pinned to
// `cpus[1]`. 0, or 2 when something failed (said on stderr).
int run(int rounds, int block, const std::vector<int>& cpus) {
  const Shared s = map_shared();
  const std::string base = "shm://ipckit-rtt-" + std::to_string(::getpid());
  const std::string to_child = base + "-a?capacity=" + std::to_string(kRingCapacity);
  const std::string to_parent = base + "-b?capacity=" + std::to_string(kRingCapacity);
  ipckit::ChannelOptions options;
  options.max_message = kMessage;
  options.spin = std::chrono::nanoseconds::max();
  const auto deadline = ipckit::Deadline::after(10min);

  const pid_t child = ::fork();
  if (child == -1) {
    std::perror("fork");
    return 2;
  }
  if (child == 0) {
    int code = 0;
    try {
      ipckit::bench::pin_this_thread(cpus[1]);
      Ends e{.writer = {}, .reader = {}, .in = ipckit::Channel::listen(to_child, options),
             .out = ipckit::Channel::connect(to_parent, options, ipckit::Deadline::after(10s))};
      (void)e.writer.attach(s.to_parent);
      (void)e.reader.attach(s.to_child);
      std::array<std::byte, kMessage> buffer{};
      std::uint64_t value = 0;
      for (int r = 0; r < rounds; ++r) {
        for (int i = 0; i < block; ++i, value += 2) {
          wait_for(*s.one, value + 1);
          s.one->store(value + 2, std::memory_order_release);
        }
        for (int i = 1; i <= block; ++i) {
          wait_for(*s.there, static_cast<std::uint64_t>(r) * block + i);
          s.back->store(static_cast<std::uint64_t>(r) * block + i, std::memory_order_release);
        }
        for (int i = 0; i < block; ++i) {
          read_one(e.reader, buffer);
          spin_until([&] { return e.writer.try_write(buffer) == ring::Status::ok; });
        }
        for (int i = 0; i < block; ++i) {
          if (!e.in.receive(buffer, deadline).ok() || !e.out.send(buffer, deadline).ok()) {
            throw std::runtime_error("the echo over " + to_child + " and " + to_parent + " failed");
          }
        }
      }
    } catch (const std::exception& err) {
      std::fprintf(stderr, "ipckit_rtt_probe (child): %s\n", err.what());
      code = 2;
    }
    std::fflush(stderr);
    ::_exit(code);  // the Ends above are gone: the channel's name is removed
  }

  std::array<std::vector<std::int64_t>, kKinds> samples;
  try {
    ipckit::bench::pin_this_thread(cpus[0]);
    Ends e{.writer = {}, .reader = {}, .in = ipckit::Channel::listen(to_parent, options),
           .out = ipckit::Channel::connect(to_child, options, ipckit::Deadline::after(10s))};
    (void)e.writer.attach(s.to_child);
    (void)e.reader.attach(s.to_parent);
    std::array<std::byte, kMessage> message{};
    std::array<std::byte, kMessage> buffer{};
    const auto timed = [&](Kind kind, auto&& round_trip) {
      for (int i = 0; i < block; ++i) {
        const auto t0 = Clock::now();
        round_trip(i);
        samples[kind].push_back((Clock::now() - t0).count());
      }
    };
    std::uint64_t value = 0;
    for (int r = 0; r < rounds; ++r) {
      timed(c2c, [&](int) {
        s.one->store(value + 1, std::memory_order_release);
        wait_for(*s.one, value + 2);
        value += 2;
      });
      timed(two_lines, [&](int i) {
        const std::uint64_t v = static_cast<std::uint64_t>(r) * block + i + 1;
        s.there->store(v, std::memory_order_release);
        wait_for(*s.back, v);
      });
      timed(bare_ring, [&](int) {
        (void)e.writer.try_write(message);
        read_one(e.reader, buffer);
      });
      timed(channel, [&](int) {
        if (!e.out.send(message, deadline).ok() || !e.in.receive(buffer, deadline).ok()) {
          throw std::runtime_error("the ping-pong over " + to_child + " and " + to_parent + " failed");
        }
      });
    }
  } catch (const std::exception& err) {
    std::fprintf(stderr, "ipckit_rtt_probe: %s\n", err.what());
    (void)::kill(child, SIGKILL);
    (void)::waitpid(child, nullptr, 0);
    return 2;
  }
  int status = 0;
  (void)::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "ipckit_rtt_probe: the child failed\n");
    return 2;
  }

  std::array<double, kKinds> p50{};
  for (std::size_t k = 0; k < kKinds; ++k) {
    auto& v = samples[k];
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    p50[k] = static_cast<double>(v[v.size() / 2]);
  }
  std::printf("64-byte round trips, %d rounds of %d each, interleaved (p50, and / c2c):\n", rounds, block);
  for (std::size_t k = 0; k < kKinds; ++k) std::printf("  %-10s %6.0f ns  %.2fx\n", kNames[k], p50[k], p50[k] / p50[c2c]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
    std::printf("usage: ipckit_rtt_probe [ROUNDS [BLOCK]]  (default 100 rounds of 2000 round trips)\n");
    return 0;
  }
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 100;
  const int block = argc > 2 ? std::max(1, std::atoi(argv[2])) : 2000;
  const std::vector<int> cpus = ipckit::bench::allowed_cpus();
  if (cpus.size() < 2) {
    std::fprintf(stderr, "ipckit_rtt_probe: needs two CPUs to pin the two processes to; this one may use %zu\n",
                 cpus.size());
    return kCannotRun;
  }
  try {
    return run(rounds, block, cpus);
  } catch (const std::exception& err) {
    std::fprintf(stderr, "ipckit_rtt_probe: %s\n", err.what());
    return 2;
  }
}
