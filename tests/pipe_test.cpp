#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/resource.h>

#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

static_assert(!std::is_copy_constructible_v<Pipe>);
static_assert(std::is_nothrow_move_constructible_v<Pipe>);

TEST(Pipe, CreateGivesTwoCloseOnExecEnds) {
  auto p = Pipe::create();
  EXPECT_TRUE(p.read_end.valid());
  EXPECT_TRUE(p.write_end.valid());
  EXPECT_TRUE(p.read_end.cloexec());
  EXPECT_FALSE(p.read_end.nonblocking());
}

TEST(Pipe, NonBlockingOptionSetsBothEnds) {
  auto p = Pipe::create({.nonblocking = true});
  EXPECT_TRUE(p.read_end.nonblocking());
  EXPECT_TRUE(p.write_end.nonblocking());
}

TEST(Pipe, SetCapacityRoundsUpToPowerOfTwoPages) {
  auto p = Pipe::create();
  EXPECT_EQ(set_pipe_capacity(p.read_end, 100000), 131072u);
  EXPECT_EQ(pipe_capacity(p.write_end), 131072u);
}

TEST(Pipe, CapacityOverTheLimitNamesTheLimitEvenForRoot) {
  auto p = Pipe::create();
  const std::size_t limit = pipe_max_size();
  try {
    set_pipe_capacity(p.write_end, limit + 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.syscall(), "fcntl(F_SETPIPE_SZ)");
    EXPECT_NE(what.find("/proc/sys/fs/pipe-max-size (" + std::to_string(limit) + ")"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(limit + 1)), std::string::npos) << what;
  }
}

TEST(Pipe, ShrinkingBelowWhatItHoldsIsBusy) {
  auto p = Pipe::create();
  std::vector<std::byte> data(20000, std::byte{1});
  ASSERT_TRUE(p.write_end.write_all(data).ok());
  try {
    set_pipe_capacity(p.write_end, 4096);
    FAIL() << "expected EBUSY";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EBUSY);
    EXPECT_NE(std::string(e.what()).find("read them first"), std::string::npos) << e.what();
  }
}

TEST(Pipe, CapacityOfSomethingThatIsNotAPipeIsAnError) {
  test::TempDir dir;
  auto child = Child::spawn({.argv = {"touch", (dir / "plain").string()}});
  ASSERT_TRUE(child.wait().success());
  // A descriptor for a regular file.
  auto p = Pipe::create();
  Fd file{::open((dir / "plain").c_str(), O_RDONLY | O_CLOEXEC)};
  ASSERT_TRUE(file.valid());
  EXPECT_NE(test::message_of([&] { (void)pipe_capacity(file); }).find("not a pipe or FIFO"), std::string::npos);
  EXPECT_THROW(set_pipe_capacity(file, 65536), Error);
}

TEST(Pipe, RunningOutOfDescriptorsNamesTheLimit) {
  test::Forked child([] {
    // UBSan checks Error's vptr the first time one is built, and that check itself needs a
    // spare descriptor; build one while descriptors are plentiful.
    (void)Error{"prime", "", EMFILE}.what();
    rlimit rl{64, 64};
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) return 10;
    std::vector<Pipe> pipes;
    try {
      for (int i = 0; i < 64; ++i) pipes.push_back(Pipe::create());
    } catch (const Error& e) {
      pipes.clear();  // give the sanitizers descriptors back before anything else runs
      std::fprintf(stderr, "%s\n", e.what());
      return e.errnum() == EMFILE && std::string(e.what()).find("RLIMIT_NOFILE 64") != std::string::npos ? 0 : 1;
    }
    return 2;
  });
  EXPECT_EQ(child.wait().shell_code(), 0);
}

}  // namespace
}  // namespace ipckit
