// Conformance: the seed's claims about anonymous pipes (管道), P1–P12, on the real kernel.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span{s.data(), s.size()}); }

std::string as_string(std::span<const std::byte> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

TEST(SeedPipe, P1_TwoWritesMayComeBackAsOneRead) {
  auto p = Pipe::create();
  ASSERT_TRUE(p.write_end.write_all(bytes("hello ")).ok());
  ASSERT_TRUE(p.write_end.write_all(bytes("world")).ok());
  std::array<std::byte, 64> buf{};
  IoResult r = p.read_end.read_some(buf);
  ASSERT_TRUE(r.ok());
  // No message boundary survives: one read returns both writes.
  EXPECT_EQ(as_string(std::span{buf}.first(r.bytes)), "hello world");
}

TEST(SeedPipe, P2_BytesComeOutInTheOrderWritten) {
  auto p = Pipe::create();
  std::vector<std::byte> sent(50000);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<std::byte>(i * 7 + i / 251);
  std::thread writer([&] { ASSERT_TRUE(p.write_end.write_all(sent).ok()); p.write_end.reset(); });
  std::vector<std::byte> got(sent.size());
  ASSERT_TRUE(p.read_end.read_exact(got).ok());
  writer.join();
  EXPECT_EQ(got, sent);
}

TEST(SeedPipe, P3_CapacityIsReadableAndRaisableUpToPipeMaxSize) {
  auto p = Pipe::create();
  EXPECT_EQ(pipe_capacity(p.read_end), 65536u);  // 16 pages: Linux's default
  const std::size_t max = pipe_max_size();
  EXPECT_EQ(set_pipe_capacity(p.write_end, max), max);
  EXPECT_EQ(pipe_capacity(p.read_end), max);
  // Asking more fails clearly: the kernel refuses (EPERM) a process without CAP_SYS_RESOURCE,
  // as most processes run; a child drops it to ask as they would.
  test::Forked child([&] {
    if (!test::drop_sys_resource()) return 2;
    const Error e = test::error_from([&] { (void)set_pipe_capacity(p.write_end, max * 2); });
    EXPECT_EQ(e.errnum(), EPERM);
    EXPECT_TRUE(test::has_substring(e.what(), "/proc/sys/fs/pipe-max-size"));
    EXPECT_TRUE(test::has_substring(e.what(), std::to_string(max)));
    EXPECT_EQ(pipe_capacity(p.read_end), max);  // unchanged by the refusal
    return ::testing::Test::HasFailure() ? 1 : 0;
  });
  const ExitStatus st = child.wait();
  EXPECT_TRUE(st.success()) << st.to_string() << " (2: CAP_SYS_RESOURCE could not be dropped)";
}

// The limit is the kernel's to keep: a process with CAP_SYS_RESOURCE (root) may pass it.
TEST(PipeCapacity, AProcessWithCapSysResourceMayPassPipeMaxSize) {
  if (!test::has_sys_resource()) GTEST_SKIP() << "this process lacks CAP_SYS_RESOURCE (not root)";
  auto p = Pipe::create();
  const std::size_t max = pipe_max_size();
  EXPECT_GE(set_pipe_capacity(p.write_end, max * 2), max * 2);
  EXPECT_GE(pipe_capacity(p.read_end), max * 2);
}

TEST(SeedPipe, P4_ReadingConsumesTheData) {
  auto p = Pipe::create();
  ASSERT_TRUE(p.write_end.write_all(bytes("once")).ok());
  std::array<std::byte, 4> buf{};
  ASSERT_TRUE(p.read_end.read_exact(buf).ok());
  // Nothing is left to read a second time.
  EXPECT_EQ(p.read_end.read_some(buf, Deadline::now()).status, IoStatus::would_block);
}

TEST(SeedPipe, P5_PipeMadeBeforeForkJoinsParentAndChild) {
  auto p = Pipe::create();
  test::Forked child([&] {
    p.read_end.reset();
    return p.write_end.write_all(bytes("from the child")).ok() ? 0 : 1;
  });
  p.write_end.reset();
  std::string got = read_all(p.read_end);
  EXPECT_EQ(got, "from the child");
  EXPECT_TRUE(child.wait().success());
}

TEST(SeedPipe, P6_ReadReturnsTheBytesActuallyThereEvenIfFewerThanAsked) {
  auto p = Pipe::create();
  ASSERT_TRUE(p.write_end.write_all(bytes("abc")).ok());
  std::array<std::byte, 100> buf{};
  IoResult r = p.read_end.read_some(buf);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.bytes, 3u);
}

TEST(SeedPipe, P7_ReadReturnsEndOfStreamWhenAllWritersClosed) {
  auto p = Pipe::create();
  Fd second_writer = p.write_end.duplicate();
  ASSERT_TRUE(p.write_end.write_all(bytes("last")).ok());
  p.write_end.reset();
  std::array<std::byte, 16> buf{};
  // One write end is still open: no end of stream yet, the data comes first.
  IoResult r = p.read_end.read_some(buf);
  EXPECT_EQ(r.bytes, 4u);
  EXPECT_EQ(p.read_end.read_some(buf, Deadline::now()).status, IoStatus::would_block);
  second_writer.reset();
  EXPECT_EQ(p.read_end.read_some(buf).status, IoStatus::end_of_stream);
  EXPECT_EQ(p.read_end.read_some(buf).status, IoStatus::end_of_stream);  // and stays so
}

TEST(SeedPipe, P8_ReadWithNoDataBlocksWhileAWriterIsOpen) {
  auto p = Pipe::create();
  std::array<std::byte, 8> buf{};
  // Non-blocking: EAGAIN, reported as would_block.
  {
    auto nb = Pipe::create({.nonblocking = true});
    EXPECT_EQ(nb.read_end.read_some(buf, Deadline::now()).status, IoStatus::would_block);
  }
  // Blocking: the reader sleeps inside read(2) until the writer writes.
  std::atomic<pid_t> reader_tid{0};
  IoResult result;
  std::thread reader([&] {
    reader_tid = test::this_tid();
    result = p.read_end.read_some(buf);
  });
  while (reader_tid == 0) std::this_thread::yield();
  ASSERT_TRUE(test::wait_until_blocked_in(reader_tid, SYS_read));
  ASSERT_TRUE(p.write_end.write_all(bytes("wake")).ok());
  reader.join();
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.bytes, 4u);
}

TEST(SeedPipe, P9_WriteWithoutReadersRaisesSigpipeButIpckitReportsPeerClosed) {
  // The kernel's behaviour: a raw write(2) with SIGPIPE at its default action kills.
  {
    auto p = Pipe::create();
    p.read_end.reset();  // before fork: no process holds a read end
    test::Forked raw([&] {
      ::signal(SIGPIPE, SIG_DFL);
      (void)::write(p.write_end.get(), "x", 1);
      return 0;  // not reached
    });
    ExitStatus s = raw.wait();
    EXPECT_FALSE(s.exited);
    EXPECT_EQ(s.signal, SIGPIPE);
  }
  // ipckit: the same write returns peer_closed and the process lives on, SIGPIPE still default.
  {
    auto p = Pipe::create();
    p.read_end.reset();
    test::Forked guarded([&] {
      ::signal(SIGPIPE, SIG_DFL);
      IoResult r = p.write_end.write_all(bytes("x"));
      if (r.status != IoStatus::peer_closed) return 1;
      // No SIGPIPE stays pending to kill us later.
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE)) return 2;
      return 0;
    });
    ExitStatus s = guarded.wait();
    EXPECT_TRUE(s.success()) << s.to_string();
  }
}

TEST(SeedPipe, P10_WriteToAFullPipeBlocksOrIsShortWhenNonBlocking) {
  // Non-blocking: fill until EAGAIN; the last write may be short.
  {
    auto p = Pipe::create({.nonblocking = true});
    const std::size_t capacity = pipe_capacity(p.write_end);
    std::vector<std::byte> chunk(3000, std::byte{'x'});
    std::size_t total = 0;
    for (;;) {
      IoResult r = p.write_end.write_some(chunk, Deadline::now());
      if (r.status == IoStatus::would_block) break;
      ASSERT_TRUE(r.ok());
      total += r.bytes;
    }
    EXPECT_GT(total, 0u);
    EXPECT_LE(total, capacity);
    EXPECT_EQ(p.write_end.write_some(chunk, Deadline::now()).status, IoStatus::would_block);
  }
  // Blocking: a writer with more than fits sleeps in write(2) until the reader drains.
  auto p = Pipe::create();
  const std::size_t capacity = pipe_capacity(p.write_end);
  std::vector<std::byte> data(capacity + 4096, std::byte{'y'});
  std::atomic<pid_t> writer_tid{0};
  IoResult result;
  std::thread writer([&] {
    writer_tid = test::this_tid();
    result = p.write_end.write_all(data);
  });
  while (writer_tid == 0) std::this_thread::yield();
  ASSERT_TRUE(test::wait_until_blocked_in(writer_tid, SYS_write));
  std::vector<std::byte> got(data.size());
  ASSERT_TRUE(p.read_end.read_exact(got).ok());
  writer.join();
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.bytes, data.size());
}

TEST(SeedPipe, P11_WriteReturnsBytesWrittenAndPipeBufWritesAreAtomic) {
  auto p = Pipe::create();
  IoResult r = p.write_end.write_some(bytes("12345"));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.bytes, 5u);
  std::array<std::byte, 5> drain{};
  ASSERT_TRUE(p.read_end.read_exact(drain).ok());

  // Four processes each write 200 records of exactly PIPE_BUF bytes filled with their own
  // letter; no record may come out mixed with another writer's bytes.
  constexpr int kWriters = 4;
  constexpr int kRecords = 200;
  std::vector<std::unique_ptr<test::Forked>> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.push_back(std::make_unique<test::Forked>([&, w] {
      p.read_end.reset();
      std::vector<std::byte> record(kPipeAtomicWrite, static_cast<std::byte>('a' + w));
      for (int i = 0; i < kRecords; ++i)
        if (!p.write_end.write_all(record).ok()) return 1;
      return 0;
    }));
  }
  p.write_end.reset();
  std::array<int, kWriters> counts{};
  std::vector<std::byte> record(kPipeAtomicWrite);
  for (;;) {
    IoResult rr = p.read_end.read_exact(record);
    if (rr.status == IoStatus::end_of_stream) break;
    ASSERT_TRUE(rr.ok());
    const std::byte first = record[0];
    ASSERT_TRUE(std::all_of(record.begin(), record.end(), [&](std::byte b) { return b == first; }))
        << "a PIPE_BUF write was interleaved";
    counts.at(static_cast<std::size_t>(static_cast<int>(first) - 'a'))++;
  }
  for (auto& w : writers) EXPECT_TRUE(w->wait().success());
  for (int c : counts) EXPECT_EQ(c, kRecords);
}

TEST(SeedPipe, P12_LsPipeWcMatchesTheShell) {
  test::TempDir dir;
  for (int i = 0; i < 7; ++i) {
    auto f = Child::spawn({.argv = {"touch", (dir / ("f" + std::to_string(i))).string()}});
    ASSERT_TRUE(f.wait().success());
  }
  PipelineResult r = Pipeline{{"ls", dir.path().string()}, {"wc", "-l"}}.run();
  EXPECT_TRUE(r.success());
  ASSERT_EQ(r.statuses.size(), 2u);
  EXPECT_EQ(r.output, test::shell_output("ls " + dir.path().string() + " | wc -l"));
  EXPECT_EQ(std::stoi(r.output), 7);
}

}  // namespace
}  // namespace ipckit
