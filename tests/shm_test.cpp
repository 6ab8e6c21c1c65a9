// POSIX shared memory (shm_open) and memfd segments.

#include <fcntl.h>
#include <semaphore.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "ipckit/shm.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using test::message_of;

static_assert(!std::is_copy_constructible_v<SharedMemory> && std::is_nothrow_move_constructible_v<SharedMemory>);
static_assert(!std::is_copy_constructible_v<Memfd> && std::is_nothrow_move_constructible_v<Memfd>);

// A unique "/ipckit-t-<pid>-<n>" name, unlinked when the test ends however it ends.
class ShmName {
 public:
  ShmName() : name_("/" + test::unique_name()) {}
  ShmName(const ShmName&) = delete;
  ShmName& operator=(const ShmName&) = delete;
  ~ShmName() { ::shm_unlink(name_.c_str()); }
  [[nodiscard]] const std::string& str() const { return name_; }

 private:
  std::string name_;
};

TEST(SharedMemory, CreateIsOwnerOnlyExclusiveAndReservesTheSpace) {
  ShmName name;
  auto shm = SharedMemory::create({.name = name.str(), .size = 100000});
  EXPECT_EQ(shm.size(), 100000u);
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm" + name.str()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_GE(static_cast<std::size_t>(st.st_blocks) * 512, 100000u);  // posix_fallocate ran
  EXPECT_TRUE(shm.fd().cloexec());
}

TEST(SharedMemory, CreateOnATakenNameSaysHowToRemoveIt) {
  ShmName name;
  auto first = SharedMemory::create({.name = name.str(), .size = 4096});
  std::string what = message_of([&] { (void)SharedMemory::create({.name = name.str(), .size = 4096}); });
  EXPECT_NE(what.find("File exists (EEXIST)"), std::string::npos) << what;
  EXPECT_NE(what.find("ipckit rm --shm " + name.str()), std::string::npos) << what;
}

TEST(SharedMemory, NonExclusiveCreateOpensAndGrowsButNeverShrinks) {
  ShmName name;
  auto first = SharedMemory::create({.name = name.str(), .size = 8192});
  auto same = SharedMemory::create({.name = name.str(), .size = 4096, .exclusive = false});
  EXPECT_EQ(same.size(), 8192u);
  auto grown = SharedMemory::create({.name = name.str(), .size = 16384, .exclusive = false});
  EXPECT_EQ(first.size(), 16384u);
}

TEST(SharedMemory, BadNamesAreRefusedWithTheRule) {
  EXPECT_NE(message_of([] { (void)SharedMemory::open("orders"); }).find("must start with '/'"), std::string::npos);
  EXPECT_NE(message_of([] { (void)SharedMemory::open("/a/b"); }).find("no '/' after the first"), std::string::npos);
  EXPECT_NE(message_of([] { (void)SharedMemory::open("/"); }).find("at least one character"), std::string::npos);
  EXPECT_NE(message_of([] { (void)SharedMemory::open(""); }).find("must start with '/'"), std::string::npos);
  EXPECT_NE(message_of([] { (void)SharedMemory::open("/" + std::string(256, 'x')); }).find("NAME_MAX (255)"),
            std::string::npos);
  EXPECT_NE(message_of([] { (void)SharedMemory::open("/.."); }).find("not names"), std::string::npos);
  EXPECT_NE(message_of([] { (void)SharedMemory::remove("nope"); }).find("shm_unlink(\"nope\")"), std::string::npos);
}

TEST(SharedMemory, RemoveRefusesTheFileOfANamedSemaphore) {
  const std::string sem_name = "/" + test::unique_name();
  sem_t* sem = ::sem_open(sem_name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED) << std::strerror(errno);
  ::sem_close(sem);
  struct Unlink {
    std::string name;
    ~Unlink() { ::sem_unlink(name.c_str()); }
  } unlink{sem_name};
  const std::string file = "/sem." + sem_name.substr(1);
  const Error e = test::error_from([&] { (void)SharedMemory::remove(file); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(test::has_substring(e.what(), "named semaphore"));
  struct stat st {};
  EXPECT_EQ(::stat(("/dev/shm" + file).c_str(), &st), 0) << "the semaphore's file was removed";
}

TEST(SharedMemory, SizeZeroIsRefused) {
  ShmName name;
  std::string what = message_of([&] { (void)SharedMemory::create({.name = name.str()}); });
  EXPECT_NE(what.find("size is 0"), std::string::npos) << what;
  EXPECT_EQ(::access(("/dev/shm" + name.str()).c_str(), F_OK), -1);  // nothing made
}

TEST(SharedMemory, OpeningAMissingObjectSaysCreateItFirst) {
  ShmName name;
  std::string what = message_of([&] { (void)SharedMemory::open(name.str()); });
  EXPECT_NE(what.find("ENOENT"), std::string::npos) << what;
  EXPECT_NE(what.find("create it first"), std::string::npos) << what;
}

TEST(SharedMemory, OpenWithoutPermissionNamesOwnerAndMode) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to become another user";
  ShmName name;
  auto shm = SharedMemory::create({.name = name.str(), .size = 4096});
  test::Forked stranger([&] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 10;  // nobody
    try {
      (void)SharedMemory::open(name.str());
    } catch (const Error& e) {
      std::string what = e.what();
      const bool says_owner_and_mode =
          what.find("the object belongs to root (uid 0) and has mode 0600") != std::string::npos;
      return e.errnum() == EACCES && says_owner_and_mode ? 0 : 1;
    }
    return 2;
  });
  EXPECT_EQ(stranger.wait().shell_code(), 0);
}

TEST(SharedMemory, RemoveReportsWhetherThereWasAnything) {
  ShmName name;
  { auto shm = SharedMemory::create({.name = name.str(), .size = 4096}); }
  EXPECT_TRUE(SharedMemory::remove(name.str()));
  EXPECT_FALSE(SharedMemory::remove(name.str()));
}

TEST(SharedMemory, ClosingDoesNotRemoveTheName) {
  ShmName name;
  { auto shm = SharedMemory::create({.name = name.str(), .size = 4096}); }
  EXPECT_NO_THROW((void)SharedMemory::open(name.str()));
}

TEST(SharedMemory, ReadOnlyOpenMapsReadOnly) {
  ShmName name;
  auto writer = SharedMemory::create({.name = name.str(), .size = 4096});
  auto wm = writer.map();
  std::memcpy(wm.bytes().data(), "hello", 5);
  auto reader = SharedMemory::open(name.str(), Access::read_only);
  auto rm = reader.map();
  EXPECT_FALSE(rm.writable());
  EXPECT_EQ(std::memcmp(rm.bytes().data(), "hello", 5), 0);
}

TEST(Memfd, CreateHasTheSizeAndNoNameInDevShm) {
  auto seg = Memfd::create({.name = "ipckit-t-memfd", .size = 65536});
  EXPECT_EQ(seg.size(), 65536u);
  EXPECT_TRUE(seg.fd().cloexec());
  EXPECT_EQ(::access("/dev/shm/ipckit-t-memfd", F_OK), -1);
  EXPECT_FALSE(seg.size_sealed());
}

TEST(Memfd, SealedSizeRefusesFtruncateFromAnotherProcess) {
  auto seg = Memfd::create({.size = 8192});
  seg.seal_size();
  EXPECT_TRUE(seg.size_sealed());
  // A separate program gets the descriptor as its stdin and tries to shrink and grow it.
  auto child = Child::spawn({.argv = {"python3", "-c",
                                      "import os\n"
                                      "for n in (0, 1 << 20):\n"
                                      "    try:\n"
                                      "        os.ftruncate(0, n); print('resized')\n"
                                      "    except PermissionError:\n"
                                      "        print('refused')\n"},
                             .in = Stdio::from(seg.fd()),
                             .out = Stdio::pipe()});
  EXPECT_EQ(read_all(child.stdout_pipe()), "refused\nrefused\n");
  EXPECT_TRUE(child.wait().success());
  EXPECT_EQ(seg.size(), 8192u);
}

TEST(Memfd, UnsealedSizeCanBeChangedByAPeer) {
  auto seg = Memfd::create({.size = 8192});
  Fd dup = seg.fd().duplicate();
  ASSERT_EQ(::ftruncate(dup.get(), 0), 0);  // the SIGBUS attack a seal prevents
  EXPECT_EQ(seg.size(), 0u);
}

TEST(Memfd, SealingWithoutAllowSealingSaysWhy) {
  auto seg = Memfd::create({.size = 4096, .allow_sealing = false});
  std::string what = message_of([&] { seg.seal_size(); });
  EXPECT_NE(what.find("MFD_ALLOW_SEALING"), std::string::npos) << what;
}

TEST(Memfd, AdoptChecksItIsAMemfd) {
  auto seg = Memfd::create({.size = 4096});
  auto again = Memfd::adopt(seg.fd().duplicate());
  EXPECT_EQ(again.size(), 4096u);
  auto p = Pipe::create();
  std::string what = message_of([&] { (void)Memfd::adopt(std::move(p.read_end)); });
  EXPECT_NE(what.find("not a memfd"), std::string::npos) << what;
}

TEST(Memfd, SharedAcrossForkThroughTheMapping) {
  auto seg = Memfd::create({.size = 4096});
  auto m = seg.map();
  test::Forked child([&] {
    auto mine = Memfd::adopt(seg.fd().duplicate()).map();
    std::memcpy(mine.bytes().data(), "from child", 10);
    return 0;
  });
  ASSERT_TRUE(child.wait().success());
  EXPECT_EQ(std::memcmp(m.bytes().data(), "from child", 10), 0);
}

TEST(Memfd, SizeZeroIsRefused) {
  EXPECT_NE(message_of([] { (void)Memfd::create({.size = 0}); }).find("size is 0"), std::string::npos);
}

}  // namespace
}  // namespace ipckit
