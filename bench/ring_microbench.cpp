// Microbenchmarks of the header-only ring (include/ipckit/ring.hpp), with Google Benchmark:
// what one message costs the ring itself, without the channel layer, futexes or a second
// process. `ipckit bench` measures whole mechanisms between two processes; this measures
// the hot path in place.
//
//   RoundTrip/SIZE      one thread: try_write then try_read (two copies), SIZE-byte messages
//   ZeroCopy/SIZE       one thread: reserve, fill, commit, then peek, read, release (no copy)
//   ZeroCopyHeader/SIZE the same touching only 8 bytes of the payload: the ring's bookkeeping
//   Burst/SIZE          one thread: 64 writes, then 64 reads (the ring holds a batch)
//   PingPong/SIZE       two threads, two rings: a message there and back (round-trip latency)
//   Stream/SIZE         two threads: a writer thread streams, the benchmark thread reads
//
// Build: a Release tree (`cmake --preset release`), target ipckit_ring_microbench; run
// build/release/bench/ipckit_ring_microbench [--benchmark_filter=RoundTrip].

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "ipckit/ring.hpp"
#include "spin.hpp"

namespace {

namespace ring = ipckit::ring;
using ring::Status;

constexpr std::uint64_t kCapacity = 1 << 20;  // 1 MiB: room for 64 KiB messages, fits in L2

// A ring in 64-byte-aligned heap memory, with its two sides attached.
class Ring {
 public:
  explicit Ring(std::uint64_t capacity = kCapacity)
      : size_(ring::segment_size(capacity)),
        memory_(static_cast<std::byte*>(std::aligned_alloc(ring::kCacheLine, size_))) {
    std::span<std::byte> segment(memory_.get(), size_);
    if (!ring::initialise(segment, capacity, 0x9e3779b97f4a7c15ULL) ||
        writer.attach(segment) != Status::ok || reader.attach(segment) != Status::ok) {
      std::abort();
    }
  }
  ring::Writer writer;
  ring::Reader reader;

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept { std::free(p); }  // NOLINT: aligned_alloc's pair
  };
  std::size_t size_;
  std::unique_ptr<std::byte, Free> memory_;
};

// Waits for the other thread: pause, and now and then yield, so two spinners that share one
// CPU (a loaded machine) still make progress.
class Spin {
 public:
  void pause() noexcept {
    if (++spins_ % 1024 == 0) {
      std::this_thread::yield();
    } else {
      ipckit::bench::cpu_relax();
    }
  }

 private:
  std::uint32_t spins_ = 0;
};

void set_counters(benchmark::State& state, std::size_t size) {
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(size));
}

void RoundTrip(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Ring r;
  std::vector<std::byte> in(size, std::byte{1});
  std::vector<std::byte> out(r.reader.max_message());
  for (auto _ : state) {
    if (r.writer.try_write(in) != Status::ok) state.SkipWithError("try_write");
    std::size_t n = 0;
    if (r.reader.try_read(out, n) != Status::ok) state.SkipWithError("try_read");
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, size);
}

// `whole`: the whole payload is written and read in place; else only a sequence number.
void zero_copy(benchmark::State& state, bool whole) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Ring r;
  std::uint64_t seq = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    std::span<std::byte> room;
    if (r.writer.reserve(size, room) != Status::ok) state.SkipWithError("reserve");
    if (whole) {
      std::memset(room.data(), static_cast<int>(seq & 0xFF), room.size());
    } else {
      std::memcpy(room.data(), &seq, sizeof(seq));
    }
    r.writer.commit(size);
    const ring::Peeked p = r.reader.peek();
    if (p.status != Status::ok) state.SkipWithError("peek");
    if (whole) {
      for (std::size_t i = 0; i < p.message.size(); i += 64)
        sum += static_cast<std::uint64_t>(p.message[i]);
    } else {
      std::uint64_t got = 0;
      std::memcpy(&got, p.message.data(), sizeof(got));
      sum += got;
    }
    r.reader.release();
    ++seq;
  }
  benchmark::DoNotOptimize(sum);
  set_counters(state, size);
}

void ZeroCopy(benchmark::State& state) {
  zero_copy(state, true);
}
void ZeroCopyHeader(benchmark::State& state) {
  zero_copy(state, false);
}

void Burst(benchmark::State& state) {
  constexpr int kBatch = 64;
  const auto size = static_cast<std::size_t>(state.range(0));
  Ring r(std::uint64_t{1} << 23);  // 8 MiB: 64 messages of 64 KiB fit
  std::vector<std::byte> in(size, std::byte{1});
  std::vector<std::byte> out(r.reader.max_message());
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      if (r.writer.try_write(in) != Status::ok) state.SkipWithError("try_write");
    }
    for (int i = 0; i < kBatch; ++i) {
      std::size_t n = 0;
      if (r.reader.try_read(out, n) != Status::ok) state.SkipWithError("try_read");
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.SetBytesProcessed(state.iterations() * kBatch * static_cast<std::int64_t>(size));
}

// Two rings and an echo thread: each iteration sends a message and waits for it to come back.
void PingPong(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Ring there;
  Ring back;
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    std::vector<std::byte> buffer(there.reader.max_message());
    Spin spin;
    while (!stop.load(std::memory_order_relaxed)) {
      std::size_t n = 0;
      if (there.reader.try_read(buffer, n) != Status::ok) {
        spin.pause();
        continue;
      }
      while (back.writer.try_write(std::span(buffer).first(n)) == Status::full) spin.pause();
    }
  });
  std::vector<std::byte> in(size, std::byte{1});
  std::vector<std::byte> out(back.reader.max_message());
  Spin spin;
  for (auto _ : state) {
    if (there.writer.try_write(in) != Status::ok) state.SkipWithError("try_write");
    std::size_t n = 0;
    while (back.reader.try_read(out, n) == Status::empty) spin.pause();
  }
  stop = true;
  echo.join();
  set_counters(state, size);
}

// A writer thread streams messages as fast as the ring takes them; the benchmark thread
// reads. Items per second is the one-way throughput between two cores.
void Stream(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  Ring r;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::vector<std::byte> in(size, std::byte{1});
    Spin spin;
    while (!stop.load(std::memory_order_relaxed)) {
      if (r.writer.try_write(in) != Status::ok) spin.pause();
    }
  });
  std::vector<std::byte> out(r.reader.max_message());
  Spin spin;
  for (auto _ : state) {
    std::size_t n = 0;
    while (r.reader.try_read(out, n) == Status::empty) spin.pause();
  }
  stop = true;
  writer.join();
  set_counters(state, size);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t size : {16, 64, 1024, 65536}) b->Arg(size);
}

BENCHMARK(RoundTrip)->Apply(sizes);
BENCHMARK(ZeroCopy)->Apply(sizes);
BENCHMARK(ZeroCopyHeader)->Apply(sizes);
BENCHMARK(Burst)->Apply(sizes);
BENCHMARK(PingPong)->Apply(sizes)->UseRealTime();
BENCHMARK(Stream)->Apply(sizes)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
