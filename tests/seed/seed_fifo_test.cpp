// Conformance: the seed's claims about named pipes (FIFO, 具名管道), F1–F5, on the real kernel.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <array>
#include <atomic>
#include <chrono>
#include <span>
#include <string>
#include <thread>

#include "ipckit/error.hpp"
#include "ipckit/fifo.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span{s.data(), s.size()}); }

// open(2) is openat on x86-64 and arm64 glibc.
constexpr long kOpenSyscall = SYS_openat;

TEST(SeedFifo, F1_FifoHasAFileEntryButItsDataStaysInTheKernel) {
  test::TempDir dir;
  const auto path = dir / "f1";
  create_fifo({.path = path});
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);  // ipckit's default
  Fd r = open_fifo_reader(path, Deadline::now());
  Fd w = open_fifo_writer(path, Deadline::now());
  ASSERT_TRUE(w.write_all(bytes("in the kernel, not on disk")).ok());
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);  // 26 bytes are in flight, none in the file system
  EXPECT_EQ(st.st_blocks, 0);
  EXPECT_TRUE(remove_fifo(path));
}

TEST(SeedFifo, F2_UnrelatedProcessesMeetByPath) {
  test::TempDir dir;
  const auto path = dir / "meet";
  create_fifo({.path = path});
  // A separate program (exec'd shell, sharing no descriptor with us) writes by path.
  auto writer = Child::spawn({.argv = {"sh", "-c", "printf 'hello by name' > \"$0\"", path.string()}});
  Fd r = open_fifo_reader(path);
  EXPECT_EQ(read_all(r), "hello by name");
  EXPECT_TRUE(writer.wait().success());
  remove_fifo(path);
}

TEST(SeedFifo, F3_OpeningForReadingBlocksUntilAWriterOpens) {
  test::TempDir dir;
  const auto path = dir / "f3";
  create_fifo({.path = path});
  std::atomic<pid_t> tid{0};
  Fd reader;
  std::thread t([&] {
    tid = test::this_tid();
    reader = open_fifo_reader(path);  // blocks in open(2)
  });
  while (tid == 0) std::this_thread::yield();
  ASSERT_TRUE(test::wait_until_blocked_in(tid, kOpenSyscall));
  EXPECT_FALSE(reader.valid());
  Fd writer = open_fifo_writer(path);  // a reader is waiting, so this does not block
  t.join();
  EXPECT_TRUE(reader.valid());
  // With O_NONBLOCK, opening for reading does not wait at all.
  Fd nb = open_fifo_reader(path, Deadline::now());
  EXPECT_TRUE(nb.valid());
}

TEST(SeedFifo, F4_OpeningForWritingBlocksUntilAReaderOpens) {
  test::TempDir dir;
  const auto path = dir / "f4";
  create_fifo({.path = path});
  // O_NONBLOCK without a reader: ENXIO, as a clear error.
  try {
    (void)open_fifo_writer(path, Deadline::now());
    FAIL() << "expected ENXIO";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ENXIO);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("reading"), std::string::npos) << e.what();
  }
  // With a deadline and no reader: a timeout error naming the path.
  try {
    (void)open_fifo_writer(path, Deadline::after(30ms));
    FAIL() << "expected a timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ETIMEDOUT);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
  }
  // Blocking: the writer sleeps in open(2) until a reader comes.
  std::atomic<pid_t> tid{0};
  Fd writer;
  std::thread t([&] {
    tid = test::this_tid();
    writer = open_fifo_writer(path);
  });
  while (tid == 0) std::this_thread::yield();
  ASSERT_TRUE(test::wait_until_blocked_in(tid, kOpenSyscall));
  Fd reader = open_fifo_reader(path);
  t.join();
  EXPECT_TRUE(writer.valid());
  // With a deadline and a reader present: opens at once.
  Fd second = open_fifo_writer(path, Deadline::after(5s));
  EXPECT_TRUE(second.valid());
}

TEST(SeedFifo, F4_WriterWithDeadlineGetsInOnceAReaderArrives) {
  test::TempDir dir;
  const auto path = dir / "f4b";
  create_fifo({.path = path});
  Fd writer;
  std::thread t([&] { writer = open_fifo_writer(path, Deadline::after(20s)); });
  Fd reader = open_fifo_reader(path);  // blocks until the retrying writer is in
  t.join();
  ASSERT_TRUE(writer.valid());
  EXPECT_FALSE(writer.nonblocking());
  ASSERT_TRUE(writer.write_all(bytes("late")).ok());
  writer.reset();
  EXPECT_EQ(read_all(reader), "late");
}

TEST(SeedFifo, F5_ReadsAndWritesBehaveAsOnAPipe) {
  test::TempDir dir;
  const auto path = dir / "f5";
  create_fifo({.path = path});
  Fd r = open_fifo_reader(path, Deadline::now());
  Fd w = open_fifo_writer(path);
  std::array<std::byte, 64> buf{};
  // P8: no data, a writer open: would block.
  EXPECT_EQ(r.read_some(buf, Deadline::now()).status, IoStatus::would_block);
  // P1, P6, P11: writes return their size; one read returns what is there.
  EXPECT_EQ(w.write_some(bytes("ab")).bytes, 2u);
  EXPECT_EQ(w.write_some(bytes("cd")).bytes, 2u);
  IoResult got = r.read_some(buf);
  EXPECT_EQ(got.bytes, 4u);
  // P3: the same capacity calls work on a FIFO.
  EXPECT_EQ(pipe_capacity(w), 65536u);
  // P10: a full FIFO refuses a non-blocking write.
  w.set_nonblocking(true);
  std::vector<std::byte> chunk(65536, std::byte{1});
  EXPECT_TRUE(w.write_all(chunk, Deadline::now()).ok());
  EXPECT_EQ(w.write_some(chunk, Deadline::now()).status, IoStatus::would_block);
  // P7: the writer closes, the reader drains and sees end of stream.
  w.reset();
  std::vector<std::byte> all(65536);
  r.set_nonblocking(false);
  EXPECT_TRUE(r.read_exact(all).ok());
  EXPECT_EQ(r.read_some(buf).status, IoStatus::end_of_stream);
  // P9: a writer without readers gets peer_closed, not SIGPIPE.
  Fd r2 = open_fifo_reader(path, Deadline::now());
  Fd w2 = open_fifo_writer(path);
  r.reset();
  r2.reset();
  EXPECT_EQ(w2.write_all(bytes("x")).status, IoStatus::peer_closed);
}

}  // namespace
}  // namespace ipckit
