// Conformance: POSIX shared memory beside System V's (Q3) and resource sharing with mutual
// exclusion (I3), on the real kernel.

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ipckit/mapping.hpp"
#include "ipckit/process.hpp"
#include "ipckit/shm.hpp"
#include "ipckit/sync.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

TEST(SeedShm, Q3_PosixSharedMemoryJoinsUnrelatedProcessesByName) {
  const std::string name = "/" + test::unique_name();
  struct Unlink {
    std::string n;
    ~Unlink() { ::shm_unlink(n.c_str()); }
  } guard{name};
  auto shm = SharedMemory::create({.name = name, .size = 4096});
  auto m = shm.map();
  std::memcpy(m.bytes().data(), "written by ipckit", 17);
  // A separate program (Python, no ipckit) opens the same name and answers in place.
  auto child = Child::spawn({.argv = {"python3", "-c",
                                      "import mmap, os, sys\n"
                                      "fd = os.open('/dev/shm' + sys.argv[1], os.O_RDWR)\n"
                                      "m = mmap.mmap(fd, 4096)\n"
                                      "print(m[:17].decode())\n"
                                      "m[100:109] = b'and back!'\n",
                                      name},
                             .out = Stdio::pipe()});
  EXPECT_EQ(read_all(child.stdout_pipe()), "written by ipckit\n");
  ASSERT_TRUE(child.wait().success());
  EXPECT_EQ(std::memcmp(m.bytes().data() + 100, "and back!", 9), 0);
  // No file on disk: the object lives in /dev/shm (tmpfs) until removed.
  EXPECT_TRUE(SharedMemory::remove(name));
}

TEST(SeedShm, I3_ProcessesShareACounterUnderMutualExclusion) {
  struct Counter {
    ProcessMutex mutex;
    std::uint64_t value;
  };
  auto m = Mapping::anonymous_shared(sizeof(Counter));
  auto& c = m.as<Counter>();
  ProcessMutex::init(c.mutex);
  c.value = 0;
  constexpr int kProcesses = 4;
  constexpr int kIncrements = 20000;
  std::vector<std::unique_ptr<test::Forked>> workers;
  for (int p = 0; p < kProcesses; ++p) {
    workers.push_back(std::make_unique<test::Forked>([&] {
      for (int i = 0; i < kIncrements; ++i) {
        ProcessLock lock(c.mutex);
        // A read-modify-write that loses updates unless the lock excludes the others.
        std::uint64_t v = c.value;
        c.value = v + 1;
      }
      return 0;
    }));
  }
  for (auto& w : workers) EXPECT_TRUE(w->wait().success());
  EXPECT_EQ(c.value, static_cast<std::uint64_t>(kProcesses) * kIncrements);
}

}  // namespace
}  // namespace ipckit
