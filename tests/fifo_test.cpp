#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <span>
#include <thread>
#include <string>

#include "ipckit/error.hpp"
#include "ipckit/fifo.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using test::message_of;

using namespace std::chrono_literals;

class FifoTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
};

TEST_F(FifoTest, CreateIsExclusiveByDefault) {
  const auto path = dir_ / "x";
  create_fifo({.path = path});
  std::string what = message_of([&] { create_fifo({.path = path}); });
  EXPECT_NE(what.find("File exists (EEXIST)"), std::string::npos) << what;
  EXPECT_NE(what.find(path.string()), std::string::npos) << what;
  // Not exclusive: an existing FIFO is fine.
  EXPECT_NO_THROW(create_fifo({.path = path, .exclusive = false}));
}

TEST_F(FifoTest, CreateUsesTheModeAsked) {
  const auto path = dir_ / "m";
  ::umask(022);
  create_fifo({.path = path, .mode = 0640});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(FifoTest, CreateOverARegularFileIsRefusedEvenWhenNotExclusive) {
  const auto path = dir_ / "regular";
  std::ofstream(path) << "data";
  std::string what = message_of([&] { create_fifo({.path = path, .exclusive = false}); });
  EXPECT_NE(what.find("a regular file, not a FIFO"), std::string::npos) << what;
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "data");  // untouched
}

TEST_F(FifoTest, CreateInAMissingFolderSaysSo) {
  std::string what = message_of([&] { create_fifo({.path = dir_ / "nope" / "f"}); });
  EXPECT_NE(what.find("ENOENT"), std::string::npos) << what;
  EXPECT_NE(what.find("does not exist"), std::string::npos) << what;
}

TEST_F(FifoTest, OpeningARegularFileIsRefused) {
  const auto path = dir_ / "regular";
  std::ofstream(path) << "keep me";
  for (auto open : {+[](const std::filesystem::path& p) { (void)open_fifo_reader(p, Deadline::now()); },
                    +[](const std::filesystem::path& p) { (void)open_fifo_writer(p, Deadline::now()); },
                    +[](const std::filesystem::path& p) { (void)open_fifo_writer(p, Deadline::after(1s)); }}) {
    std::string what = message_of([&] { open(path); });
    EXPECT_NE(what.find("regular file, not a FIFO"), std::string::npos) << what;
  }
  EXPECT_EQ(std::filesystem::file_size(path), 7u);
}

TEST_F(FifoTest, ASymlinkToAFifoIsNeverFollowed) {
  const auto target = dir_ / "real";
  const auto link = dir_ / "link";
  create_fifo({.path = target});
  std::filesystem::create_symlink(target, link);
  std::string what = message_of([&] { (void)open_fifo_reader(link, Deadline::now()); });
  EXPECT_NE(what.find("symbolic link"), std::string::npos) << what;
  what = message_of([&] { create_fifo({.path = link, .exclusive = false}); });
  EXPECT_NE(what.find("symbolic link"), std::string::npos) << what;
  what = message_of([&] { remove_fifo(link); });
  EXPECT_NE(what.find("symbolic link"), std::string::npos) << what;
  EXPECT_TRUE(std::filesystem::is_fifo(std::filesystem::symlink_status(target)));
  EXPECT_TRUE(std::filesystem::is_symlink(std::filesystem::symlink_status(link)));  // still there
}

TEST_F(FifoTest, OpeningAMissingPathSaysCreateItFirst) {
  std::string what = message_of([&] { (void)open_fifo_reader(dir_ / "missing", Deadline::now()); });
  EXPECT_NE(what.find("ENOENT"), std::string::npos) << what;
  EXPECT_NE(what.find("create it first"), std::string::npos) << what;
}

TEST_F(FifoTest, ReaderWithDeadlineTimesOutWithoutAWriter) {
  const auto path = dir_ / "lonely";
  create_fifo({.path = path});
  try {
    (void)open_fifo_reader(path, Deadline::after(20ms));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ETIMEDOUT);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos);
  }
}

TEST_F(FifoTest, ReaderWithDeadlineReturnsOnceAWriterWrote) {
  const auto path = dir_ / "r";
  create_fifo({.path = path});
  std::thread writer([&] {
    Fd w = open_fifo_writer(path, Deadline::after(20s));
    (void)w.write_all(std::as_bytes(std::span{"hi", 2}));
  });
  Fd r = open_fifo_reader(path, Deadline::after(20s));
  writer.join();
  EXPECT_FALSE(r.nonblocking());
  EXPECT_EQ(read_all(r), "hi");
}

// Deadline::now() is the O_NONBLOCK open: at once, and the descriptor stays non-blocking.
TEST_F(FifoTest, OpenWithDeadlineNowIsNonBlockingAndStaysSo) {
  const auto path = dir_ / "now";
  create_fifo({.path = path});
  Fd r = open_fifo_reader(path, Deadline::now());  // no writer: returns at once
  EXPECT_TRUE(r.nonblocking());
  Fd w = open_fifo_writer(path, Deadline::now());  // a reader is there now
  EXPECT_TRUE(w.nonblocking());
  Fd blocking = open_fifo_writer(path);  // never(): the plain open, a reader being there
  EXPECT_FALSE(blocking.nonblocking());
}

TEST_F(FifoTest, RemoveRefusesAnythingButAFifo) {
  const auto path = dir_ / "regular";
  std::ofstream(path) << "x";
  std::string what = message_of([&] { remove_fifo(path); });
  EXPECT_NE(what.find("not a FIFO"), std::string::npos) << what;
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(remove_fifo(dir_ / "never-made"));
  create_fifo({.path = dir_ / "f"});
  EXPECT_TRUE(remove_fifo(dir_ / "f"));
  EXPECT_FALSE(std::filesystem::exists(dir_ / "f"));
}

}  // namespace
}  // namespace ipckit
