#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <span>
#include <string>
#include <type_traits>

#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/pipe.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;

static_assert(!std::is_copy_constructible_v<Fd> && !std::is_copy_assignable_v<Fd>);
static_assert(std::is_nothrow_move_constructible_v<Fd> && std::is_nothrow_move_assignable_v<Fd>);
static_assert(std::is_nothrow_destructible_v<Fd>);

std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span{s.data(), s.size()}); }

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(Fd, ClosesOnceOnDestruction) {
  int raw = -1;
  {
    auto p = Pipe::create();
    raw = p.read_end.get();
    ASSERT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(Fd, MoveLeavesTheSourceEmptyAndKeepsTheDescriptorOpen) {
  auto p = Pipe::create();
  int raw = p.read_end.get();
  Fd moved = std::move(p.read_end);
  EXPECT_FALSE(p.read_end.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(moved.get(), raw);
  EXPECT_TRUE(is_open(raw));
  moved = Fd{};
  EXPECT_FALSE(is_open(raw));
}

TEST(Fd, ReleaseGivesUpOwnership) {
  auto p = Pipe::create();
  int raw = p.write_end.release();
  EXPECT_FALSE(p.write_end.valid());
  EXPECT_TRUE(is_open(raw));
  Fd again{raw};
}

TEST(Fd, ResetKeepsErrno) {
  auto p = Pipe::create();
  errno = ENOSPC;
  p.read_end.reset();
  EXPECT_EQ(errno, ENOSPC);
}

TEST(Fd, EverythingIsCloseOnExecByDefault) {
  auto p = Pipe::create();
  EXPECT_TRUE(p.read_end.cloexec());
  EXPECT_TRUE(p.write_end.cloexec());
  Fd dup = p.read_end.duplicate();
  EXPECT_TRUE(dup.cloexec());
  dup.set_cloexec(false);
  EXPECT_FALSE(dup.cloexec());
}

TEST(Fd, NonBlockingToggles) {
  auto p = Pipe::create();
  EXPECT_FALSE(p.read_end.nonblocking());
  p.read_end.set_nonblocking(true);
  EXPECT_TRUE(p.read_end.nonblocking());
  p.read_end.set_nonblocking(false);
  EXPECT_FALSE(p.read_end.nonblocking());
}

TEST(Fd, ReadWithDeadlineTimesOutWhenNothingComes) {
  auto p = Pipe::create();
  std::array<std::byte, 4> buf{};
  EXPECT_EQ(p.read_end.read_some(buf, Deadline::after(20ms)).status, IoStatus::timed_out);
  EXPECT_EQ(p.read_end.read_some(buf, Deadline::now()).status, IoStatus::would_block);
}

TEST(Fd, ReadExactAtEndOfStreamBeforeTheFirstByteIsEndOfStream) {
  auto p = Pipe::create();
  p.write_end.reset();
  std::array<std::byte, 8> buf{};
  IoResult r = p.read_end.read_exact(buf);
  EXPECT_EQ(r.status, IoStatus::end_of_stream);
  EXPECT_EQ(r.bytes, 0u);
}

TEST(Fd, ReadExactReportsAShortReadClearly) {
  auto p = Pipe::create();
  ASSERT_TRUE(p.write_end.write_all(bytes("abc")).ok());
  p.write_end.reset();
  std::array<std::byte, 8> buf{};
  try {
    (void)p.read_end.read_exact(buf);
    FAIL() << "a stream that ends part-way must throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("after 3 of 8 bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pipe:["), std::string::npos) << e.what();
  }
}

TEST(Fd, ReadExactTimedOutSaysHowMuchArrived) {
  auto p = Pipe::create();
  ASSERT_TRUE(p.write_end.write_all(bytes("ab")).ok());
  std::array<std::byte, 8> buf{};
  IoResult r = p.read_end.read_exact(buf, Deadline::after(10ms));
  EXPECT_EQ(r.status, IoStatus::timed_out);
  EXPECT_EQ(r.bytes, 2u);
}

TEST(Fd, WriteAllOnAFullPipeSaysHowMuchWentOut) {
  auto p = Pipe::create();
  std::vector<std::byte> data(pipe_capacity(p.write_end) + 100, std::byte{7});
  IoResult r = p.write_end.write_all(data, Deadline::now());
  EXPECT_EQ(r.status, IoStatus::would_block);
  EXPECT_EQ(r.bytes, pipe_capacity(p.write_end));
}

TEST(Fd, IoOnAClosedDescriptorThrowsNamingIt) {
  Fd bad{1000};  // not open
  std::array<std::byte, 1> buf{};
  try {
    (void)bad.read_some(buf);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EBADF);
    EXPECT_NE(std::string(e.what()).find("fd 1000"), std::string::npos) << e.what();
  }
  (void)bad.release();
}

TEST(Fd, PeerClosedLeavesTheCallersSigpipeStateAlone) {
  // SIGPIPE blocked and already pending before the write: it must still be pending after.
  test::Forked child([] {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
    ::raise(SIGPIPE);
    auto p = Pipe::create();
    p.read_end.reset();
    if (p.write_end.write_all(std::as_bytes(std::span{"x", 1})).status != IoStatus::peer_closed) return 1;
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) != 1) return 2;
    sigset_t mask;
    pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    if (sigismember(&mask, SIGPIPE) != 1) return 3;  // still blocked, as the caller left it
    return 0;
  });
  EXPECT_EQ(child.wait().shell_code(), 0);
}

TEST(Fd, PeerClosedRestoresAnUnblockedMask) {
  auto p = Pipe::create();
  p.read_end.reset();
  EXPECT_EQ(p.write_end.write_some(bytes("x")).status, IoStatus::peer_closed);
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  EXPECT_EQ(sigismember(&mask, SIGPIPE), 0);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0);
}

}  // namespace
}  // namespace ipckit

namespace ipckit {
namespace {

TEST(Fd, IgnoreSigpipeSetsTheDispositionAndWritesStillReportPeerClosed) {
  test::Forked child([] {
    ignore_sigpipe();
    struct sigaction now {};
    sigaction(SIGPIPE, nullptr, &now);
    if (now.sa_handler != SIG_IGN) return 1;
    auto p = Pipe::create();
    p.read_end.reset();
    return p.write_end.write_all(std::as_bytes(std::span{"x", 1})).status == IoStatus::peer_closed ? 0 : 2;
  });
  EXPECT_EQ(child.wait().shell_code(), 0);
}

}  // namespace
}  // namespace ipckit

namespace ipckit {
namespace {

TEST(Fd, ErrorsOnAnEmptyFdReportEbadf) {
  Fd none;
  Error e = test::error_from([&] { none.set_nonblocking(true); });
  EXPECT_EQ(e.errnum(), EBADF) << e.what();  // naming the descriptor must not clobber errno
}

}  // namespace
}  // namespace ipckit
