// Conformance: the seed's claims about memory maps (内存映射), M1–M13, on the real kernel.
// Where Linux differs from the notes, the test shows what Linux does (see docs/mapping.md).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using test::message_of;
using test::put;
using test::get;
using test::file_bytes;
using test::make_file;
using test::open_file;
using test::notify;
using test::await;

using namespace std::chrono_literals;

const std::size_t kPage = page_size();

// True while any byte of the page-aligned range is mapped: msync fails with ENOMEM only
// when part of the range is not mapped at all.
bool any_page_mapped(const void* address, std::size_t length) {
  for (std::size_t off = 0; off < length; off += kPage) {
    if (::msync(const_cast<char*>(static_cast<const char*>(address)) + off, kPage, MS_ASYNC) == 0) return true;
  }
  return false;
}

// For a child that is meant to die of a fault: the default action (not the sanitizer's
// handler, which would turn the signal into an exit code) and no core file.
void die_of_faults_plainly() {
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::signal(SIGSEGV, SIG_DFL);
  ::signal(SIGBUS, SIG_DFL);
}

int errnum_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.errnum();
  }
  ADD_FAILURE() << "no Error was thrown";
  return 0;
}

// EXPECT_TRUE(has(message, "part")) prints the whole message when the part is missing.
::testing::AssertionResult has(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << part << "\" not in: " << text;
}

// --- M1 ------------------------------------------------------------------------------------

TEST(SeedMapping, M1_WritingSharedMemoryChangesTheFile) {
  test::TempDir dir;
  const auto path = dir / "shared";
  auto m = Mapping::map_file({.path = path, .create_size = kPage});
  put(m, 0, "written through memory");
  // No write(2), no msync: read(2) of the file already returns the bytes (one page cache).
  EXPECT_EQ(file_bytes(path).substr(0, 22), "written through memory");
  EXPECT_EQ(file_bytes(path).size(), kPage);
}

TEST(SeedMapping, M1_AnotherProcessMappingTheSameFileSeesTheWrites) {
  test::TempDir dir;
  const auto path = dir / "shared";
  auto m = Mapping::map_file({.path = path, .create_size = kPage});
  put(m, 0, "before fork");
  auto child_wrote = Pipe::create();
  auto parent_wrote = Pipe::create();
  test::Forked child([&] {
    // The child maps the file by itself, by path, as any other process could.
    auto own = Mapping::map_file({.path = path});
    if (get(own, 0, 11) != "before fork") return 1;
    put(own, 100, "from the child");
    notify(child_wrote.write_end);
    if (!await(parent_wrote.read_end)) return 2;
    return get(own, 200, 15) == "from the parent" ? 0 : 3;
  });
  child_wrote.write_end.reset();  // a child that dies early gives end of stream, not a hang
  ASSERT_TRUE(await(child_wrote.read_end));
  EXPECT_EQ(get(m, 100, 14), "from the child");
  put(m, 200, "from the parent");
  notify(parent_wrote.write_end);
  ExitStatus s = child.wait();
  EXPECT_TRUE(s.success()) << s.to_string();
}

// --- M2 ------------------------------------------------------------------------------------

TEST(SeedMapping, M2_AnonymousSharedMappingMadeBeforeForkIsSharedWithTheChild) {
  auto m = Mapping::anonymous_shared(kPage);
  EXPECT_EQ(get(m, 0, 4), std::string(4, '\0'));  // zero-filled
  int ordinary = 1;                                // for contrast: copied at fork
  test::Forked child([&] {
    put(m, 0, "child was here");
    ordinary = 2;
    return 0;
  });
  ExitStatus s = child.wait();  // the child has ended: its writes are done
  ASSERT_TRUE(s.success()) << s.to_string();
  EXPECT_EQ(get(m, 0, 14), "child was here");
  EXPECT_EQ(ordinary, 1);  // the child's copy changed, not ours
}

TEST(SeedMapping, M2_TheParentChildExamplePrintsWhatTheChildWrote) {
  auto child = Child::spawn({.argv = {std::string(IPCKIT_EXAMPLES_DIR) + "/mapping_parent_child"},
                             .out = Stdio::pipe()});
  std::string out = read_all(child.stdout_pipe());
  ExitStatus s = child.wait();
  EXPECT_TRUE(s.success()) << s.to_string();
  EXPECT_EQ(out, "parent read: hello from the child\n");
}

// --- M3 ------------------------------------------------------------------------------------

TEST(SeedMapping, M3_UnrelatedProgramsTalkThroughAMappedFile) {
  test::TempDir dir;
  const auto path = dir / "mailbox";
  const std::string examples = IPCKIT_EXAMPLES_DIR;

  // Another program creates the file, maps it and leaves a message; we map it and read.
  auto writer = Child::spawn({.argv = {examples + "/mapping_writer", path.string(), "hello, unrelated process"},
                              .out = Stdio::null()});
  ASSERT_TRUE(writer.wait().success());
  {
    auto m = Mapping::map_file({.path = path, .access = Access::read_only});
    std::uint32_t length = m.as<std::uint32_t>(0);
    EXPECT_EQ(get(m, 4, length), "hello, unrelated process");
  }

  // We write the next message into our mapping; another program maps the file and prints it.
  {
    auto m = Mapping::map_file({.path = path});
    const std::string_view reply = "and hello back";
    put(m, 4, reply);
    m.as<std::uint32_t>(0) = static_cast<std::uint32_t>(reply.size());
  }
  auto reader = Child::spawn({.argv = {examples + "/mapping_reader", path.string()}, .out = Stdio::pipe()});
  std::string out = read_all(reader.stdout_pipe());
  ASSERT_TRUE(reader.wait().success());
  EXPECT_EQ(out, "and hello back\n");
}

TEST(SeedMapping, M3_TwoLiveMappingsInUnrelatedProcessesSeeEachOthersWrites) {
  test::TempDir dir;
  const auto path = dir / "mailbox";
  auto m = Mapping::map_file({.path = path, .create_size = kPage});
  // A separate program (Python's mmap module) maps the same file while we keep ours.
  const char* script = R"(
import mmap, sys
with open(sys.argv[1], 'r+b') as f:
    m = mmap.mmap(f.fileno(), 4096)   # MAP_SHARED, read-write; the file closes, the map stays
m[0:11] = b'from python'
print('ready', flush=True)
sys.stdin.readline()
print(m[100:111].decode(), flush=True)
)";
  std::optional<Child> python;
  try {
    python.emplace(Child::spawn({.argv = {"python3", "-c", script, path.string()},
                                 .in = Stdio::pipe(), .out = Stdio::pipe()}));
  } catch (const Error& e) {
    if (e.errnum() == ENOENT) GTEST_SKIP() << "python3 is not installed";
    throw;
  }
  // Wait for "ready\n": Python has written through its mapping.
  std::string got;
  while (got.find('\n') == std::string::npos) {
    char buf[64];
    IoResult r = python->stdout_pipe().read_some(std::as_writable_bytes(std::span{buf}), Deadline::after(30s));
    ASSERT_TRUE(r.ok()) << to_string(r.status);
    got.append(buf, r.bytes);
  }
  EXPECT_EQ(got, "ready\n");
  EXPECT_EQ(get(m, 0, 11), "from python");  // seen through our own, older mapping
  put(m, 100, "from ipckit");
  ASSERT_TRUE(python->stdin_pipe().write_all(std::as_bytes(std::span{"go\n", 3})).ok());
  std::string rest = read_all(python->stdout_pipe());
  ExitStatus s = python->wait();
  EXPECT_TRUE(s.success()) << s.to_string();
  EXPECT_EQ(rest, "from ipckit\n");
}

// --- M4 ------------------------------------------------------------------------------------

// A mapping is plain memory: a read never waits for a writer, it returns whatever bytes are
// there now. The notes: "内存映射区通信，是非阻塞" (communication through a mapping does not
// block). Ordering and exclusion are the program's job: ipckit offers ProcessMutex and
// ProcessCondition (sync.hpp, tested in sync_test.cpp) to put inside the mapping.
TEST(SeedMapping, M4_ReadingBeforeTheWriterWroteReturnsTheOldBytesWithoutBlocking) {
  auto m = Mapping::anonymous_shared(kPage);
  put(m, 0, "old!");
  auto go = Pipe::create();
  auto done = Pipe::create();
  test::Forked writer([&] {
    std::byte b{};
    if (!go.read_end.read_exact(std::span{&b, 1}).ok()) return 1;  // waits in read(2)
    put(m, 0, "new!");
    notify(done.write_end);
    return 0;
  });
  done.write_end.reset();
  ASSERT_TRUE(test::wait_until_blocked_in(writer.pid(), SYS_read));
  // The writer has not written: the read returns at once, with the old bytes.
  EXPECT_EQ(get(m, 0, 4), "old!");
  notify(go.write_end);
  ASSERT_TRUE(await(done.read_end));  // the pipe, not the mapping, says "written"
  EXPECT_EQ(get(m, 0, 4), "new!");
  EXPECT_TRUE(writer.wait().success());
}

// --- M5 ------------------------------------------------------------------------------------

TEST(SeedMapping, M5_LengthZeroFailsWithAnErrorNamingTheLength) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "x", kPage);
  Fd fd = open_file(path, O_RDWR);
  // The kernel: EINVAL.
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, 0, PROT_READ, MAP_SHARED, fd.get(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EINVAL);
  // ipckit: the same errno, and words.
  std::string msg = message_of([&] { (void)Mapping::map_file({.path = path, .length = 0}); });
  EXPECT_TRUE(has(msg, "length 0"));
  EXPECT_TRUE(has(msg, path.string()));
  EXPECT_EQ(errnum_of([&] { (void)Mapping::map_fd(fd, {.length = 0}); }), EINVAL);
  EXPECT_TRUE(has(message_of([&] { (void)Mapping::map_fd(fd, {.length = 0}); }), "length 0"));
  EXPECT_TRUE(has(message_of([] { (void)Mapping::anonymous_shared(0); }), "length 0"));
}

// --- M6 ------------------------------------------------------------------------------------

TEST(SeedMapping, M6_SharedWritableMappingOfAReadOnlyFileIsRefused) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "x", kPage);
  Fd ro = open_file(path, O_RDONLY);
  // The kernel: EACCES (Q&A 2).
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, ro.get(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EACCES);
  // ipckit: says what the mapping asks, how the file is open, and what would work.
  try {
    (void)Mapping::map_fd(ro, {.access = Access::read_write, .sharing = Sharing::shared});
    FAIL() << "mapping an O_RDONLY file shared and writable must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EACCES);
    EXPECT_EQ(e.syscall(), "mmap");
    std::string msg = e.what();
    EXPECT_TRUE(has(msg, "PROT_READ|PROT_WRITE, MAP_SHARED"));
    EXPECT_TRUE(has(msg, "open O_RDONLY"));
    EXPECT_TRUE(has(msg, "O_RDWR"));
    EXPECT_TRUE(has(msg, "Access::read_only"));
  }
  // What the open mode allows works.
  auto m = Mapping::map_fd(ro, {.access = Access::read_only});
  EXPECT_EQ(get(m, 0, 1), "x");
  EXPECT_FALSE(m.writable());
}

TEST(SeedMapping, M6_AMappingNeedsTheFileReadableSoWriteOnlyIsRefused) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "x", kPage);
  Fd wo = open_file(path, O_WRONLY);
  // The kernel: even a write-only protection needs a readable descriptor (Q&A 4).
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, kPage, PROT_WRITE, MAP_SHARED, wo.get(), 0), MAP_FAILED);
  EXPECT_EQ(errno, EACCES);
  for (Access access : {Access::read_only, Access::read_write}) {
    std::string msg = message_of([&] { (void)Mapping::map_fd(wo, {.access = access}); });
    EXPECT_TRUE(has(msg, "O_WRONLY"));
    EXPECT_TRUE(has(msg, "cannot be mapped at all"));
    EXPECT_EQ(errnum_of([&] { (void)Mapping::map_fd(wo, {.access = access}); }), EACCES);
  }
}

// Linux differs from Q&A 2: with MAP_PRIVATE, PROT_WRITE on an O_RDONLY file is allowed,
// because the writes go to private copies of the pages, never to the file.
TEST(SeedMapping, M6_LinuxAllowsAPrivateWritableMappingOfAReadOnlyFile) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "original", kPage);
  Fd ro = open_file(path, O_RDONLY);
  void* raw = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro.get(), 0);
  ASSERT_NE(raw, MAP_FAILED) << std::strerror(errno);
  ::munmap(raw, kPage);
  auto m = Mapping::map_fd(ro, {.access = Access::read_write, .sharing = Sharing::private_copy});
  EXPECT_TRUE(m.writable());
  put(m, 0, "scribble");
  EXPECT_EQ(file_bytes(path).substr(0, 8), "original");
}

// Linux differs from Q&A 4 ("only write permission fails"): PROT_WRITE alone is accepted on a
// descriptor open O_RDWR (x86-64 and arm64 pages cannot be write-only; they are readable too).
// ipckit has no write-only Access: a mapping is read_only or read_write.
TEST(SeedMapping, M6_LinuxAcceptsAWriteOnlyProtection) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "x", kPage);
  Fd rw = open_file(path, O_RDWR);
  void* raw = ::mmap(nullptr, kPage, PROT_WRITE, MAP_SHARED, rw.get(), 0);
  ASSERT_NE(raw, MAP_FAILED) << std::strerror(errno);
  static_cast<char*>(raw)[1] = 'y';
  ::munmap(raw, kPage);
  EXPECT_EQ(file_bytes(path).substr(0, 2), "xy");
}

// --- M7 ------------------------------------------------------------------------------------

TEST(SeedMapping, M7_PrivateMappingIsCopyOnWriteAndTheFileDoesNotChange) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "original", kPage);
  auto shared = Mapping::map_file({.path = path});
  auto priv = Mapping::map_file({.path = path, .sharing = Sharing::private_copy});
  put(priv, 0, "changed!");
  EXPECT_EQ(get(priv, 0, 8), "changed!");              // this process sees its copy
  EXPECT_EQ(get(shared, 0, 8), "original");            // other mappings do not
  EXPECT_EQ(file_bytes(path).substr(0, 8), "original");  // nor does the file
  // The notes say MAP_PRIVATE "creates a new one": a new copy of the page in memory, not a
  // new file. The folder still holds the one file.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
  // And a child forked afterwards gets its own copy: its writes stay its own.
  test::Forked child([&] {
    put(priv, 0, "child's!");
    return 0;
  });
  ASSERT_TRUE(child.wait().success());
  EXPECT_EQ(get(priv, 0, 8), "changed!");
}

// What the notes do not say: until this process writes a page, a private mapping still shows
// that page of the file as others change it. Copy-on-write copies only the pages written.
TEST(SeedMapping, M7_UntouchedPagesOfAPrivateMappingStillFollowTheFile) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", 2 * kPage);
  auto priv = Mapping::map_file({.path = path, .sharing = Sharing::private_copy});
  put(priv, 0, "mine");  // page 0 is now a private copy; page 1 is not
  auto shared = Mapping::map_file({.path = path});
  put(shared, 0, "file");
  put(shared, kPage, "file");
  EXPECT_EQ(get(priv, 0, 4), "mine");
  EXPECT_EQ(get(priv, kPage, 4), "file");
}

// --- M8 ------------------------------------------------------------------------------------

TEST(SeedMapping, M8_AnEmptyFileIsRefusedWithAClearError) {
  test::TempDir dir;
  const auto path = dir / "empty";
  make_file(path, "", 0);
  try {
    (void)Mapping::map_file({.path = path});
    FAIL() << "an empty file must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EINVAL);
    std::string msg = e.what();
    EXPECT_TRUE(has(msg, path.string()));
    EXPECT_TRUE(has(msg, "empty (size 0)"));
    EXPECT_TRUE(has(msg, "SIGBUS"));
    EXPECT_TRUE(has(msg, "create_size"));
  }
  Fd fd = open_file(path, O_RDWR);
  EXPECT_TRUE(has(message_of([&] { (void)Mapping::map_fd(fd, {.length = kPage}); }), "empty (size 0)"));
}

TEST(SeedMapping, M8_CreateSizeExtendsANewFileBeforeMapping) {
  test::TempDir dir;
  const auto path = dir / "new";
  auto m = Mapping::map_file({.path = path, .create_size = 3 * kPage});
  EXPECT_EQ(std::filesystem::file_size(path), 3 * kPage);
  EXPECT_EQ(m.size(), 3 * kPage);
  EXPECT_EQ(get(m, 3 * kPage - 4, 4), std::string(4, '\0'));  // zero-filled up to the end
  put(m, 3 * kPage - 4, "last");
  EXPECT_EQ(file_bytes(path).substr(3 * kPage - 4), "last");
}

// The kernel: mmap of a too-short file succeeds (Linux differs from the notes here: the call
// does not fail), and the fault comes later, at the first touch of a page wholly past the end.
TEST(SeedMapping, M8_TouchingAPagePastTheEndOfTheFileRaisesSigbus) {
  test::TempDir dir;
  const auto empty = dir / "empty";
  make_file(empty, "", 0);
  test::Forked on_empty([&] {
    die_of_faults_plainly();
    int fd = ::open(empty.c_str(), O_RDWR | O_CLOEXEC);
    void* p = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 1;  // not what Linux does
    static_cast<volatile char*>(p)[0] = 'x';  // SIGBUS
    return 2;
  });
  ExitStatus s = on_empty.wait();
  EXPECT_FALSE(s.exited) << s.to_string();
  EXPECT_EQ(s.signal, SIGBUS) << s.to_string();

  const auto short_file = dir / "short";
  make_file(short_file, "100 bytes", 100);
  test::Forked past_end([&] {
    die_of_faults_plainly();
    int fd = ::open(short_file.c_str(), O_RDWR | O_CLOEXEC);
    auto* p = static_cast<volatile char*>(::mmap(nullptr, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (p == MAP_FAILED) return 1;
    if (p[200] != 0) return 3;  // past the end but in the file's last page: zeros, no fault
    p[kPage] = 'x';            // the first page wholly past the end: SIGBUS
    return 2;
  });
  s = past_end.wait();
  EXPECT_FALSE(s.exited) << s.to_string();
  EXPECT_EQ(s.signal, SIGBUS) << s.to_string();
}

TEST(SeedMapping, M8_IpckitRefusesARangePastTheEndUpFront) {
  test::TempDir dir;
  const auto path = dir / "short";
  make_file(path, "100 bytes", 100);
  try {
    (void)Mapping::map_file({.path = path, .length = 2 * kPage});
    FAIL() << "a range past the end of the file must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EINVAL);
    std::string msg = e.what();
    EXPECT_TRUE(has(msg, "size 100"));
    EXPECT_TRUE(has(msg, "SIGBUS"));
    EXPECT_TRUE(has(msg, "at most 100 bytes"));
  }
  // Without a length, the mapping is the file: 100 bytes, every one checked.
  auto m = Mapping::map_file({.path = path});
  EXPECT_EQ(m.size(), 100u);
  EXPECT_EQ(get(m, 0, 9), "100 bytes");
}

// --- M9 ------------------------------------------------------------------------------------

TEST(SeedMapping, M9_OffsetMustBeAMultipleOfThePageSize) {
  ASSERT_EQ(kPage, 4096u);  // the notes' "4k"; also what this machine uses
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", 2 * kPage);
  Fd fd = open_file(path, O_RDWR);
  ASSERT_EQ(::pwrite(fd.get(), "second page", 11, static_cast<off_t>(kPage)), 11);
  // The kernel: EINVAL for the notes' offset 1000 (Q&A 3).
  errno = 0;
  EXPECT_EQ(::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd.get(), 1000), MAP_FAILED);
  EXPECT_EQ(errno, EINVAL);
  // ipckit: names the page size and the nearest valid offsets.
  for (std::size_t offset : {std::size_t{100}, std::size_t{1000}}) {
    try {
      (void)Mapping::map_file({.path = path, .offset = offset});
      FAIL() << "offset " << offset << " must be refused";
    } catch (const Error& e) {
      EXPECT_EQ(e.errnum(), EINVAL);
      std::string msg = e.what();
      EXPECT_TRUE(has(msg, "offset " + std::to_string(offset)));
      EXPECT_TRUE(has(msg, "page size 4096"));
      EXPECT_TRUE(has(msg, "0 and 4096"));
    }
  }
  EXPECT_TRUE(has(message_of([&] { (void)Mapping::map_fd(fd, {.offset = 5000}); }), "4096 and 8192"));
  // A multiple of the page size works: the mapping starts at that byte of the file.
  auto m = Mapping::map_file({.path = path, .offset = kPage});
  EXPECT_EQ(m.size(), kPage);
  EXPECT_EQ(get(m, 0, 11), "second page");
}

// --- M10 -----------------------------------------------------------------------------------

// The only ways to unmap are destruction and assignment: no public unmap(address, length).
template <class T>
concept CanUnmapByHand = requires(T& m) { m.unmap(); };
static_assert(!CanUnmapByHand<Mapping>);
static_assert(!std::is_copy_constructible_v<Mapping> && !std::is_copy_assignable_v<Mapping>);

TEST(SeedMapping, M10_MunmapNeedsTheAddressMmapGaveAndTheMappingKeepsIt) {
  // The kernel: the notes' ptr++ then munmap fails (EINVAL: not page-aligned) and leaks the
  // mapping.
  void* raw = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(raw, MAP_FAILED);
  char* moved_ptr = static_cast<char*>(raw) + 1;
  errno = 0;
  EXPECT_EQ(::munmap(moved_ptr, kPage), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_TRUE(any_page_mapped(raw, kPage));  // still there
  ::munmap(raw, kPage);

  // ipckit: the Mapping keeps the address and length; moving hands them over whole.
  auto m = Mapping::anonymous_shared(3 * kPage);
  void* address = m.bytes().data();
  EXPECT_EQ(m.size(), 3 * kPage);
  {
    Mapping owner = std::move(m);
    EXPECT_FALSE(m.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(m.size(), 0u);
    EXPECT_EQ(owner.bytes().data(), address);
    EXPECT_EQ(owner.size(), 3 * kPage);
    EXPECT_TRUE(any_page_mapped(address, 3 * kPage));
  }
  // The owner's destructor unmapped all three pages, at the address mmap gave.
  EXPECT_FALSE(any_page_mapped(address, 3 * kPage));
}

TEST(SeedMapping, M10_AssigningUnmapsTheOldMappingFirst) {
  auto a = Mapping::anonymous_shared(2 * kPage);
  auto b = Mapping::anonymous_shared(kPage);
  void* old_address = a.bytes().data();
  void* new_address = b.bytes().data();
  a = std::move(b);
  EXPECT_FALSE(any_page_mapped(old_address, 2 * kPage));
  EXPECT_EQ(a.bytes().data(), new_address);
  EXPECT_EQ(a.size(), kPage);
  EXPECT_TRUE(any_page_mapped(new_address, kPage));
}

// --- M11 -----------------------------------------------------------------------------------

TEST(SeedMapping, M11_ClosingTheDescriptorLeavesTheMappingValid) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "kept", kPage);
  Fd fd = open_file(path, O_RDWR);
  auto m = Mapping::map_fd(fd, {});
  fd.reset();  // close(2) the descriptor that was mapped
  EXPECT_EQ(get(m, 0, 4), "kept");
  put(m, 4, " alive");
  EXPECT_EQ(file_bytes(path).substr(0, 10), "kept alive");  // writes still reach the file
  m.sync();
}

TEST(SeedMapping, M11_MapFileKeepsNoDescriptorOpen) {
  test::TempDir dir;
  const auto path = dir / "data";
  auto m = Mapping::map_file({.path = path, .create_size = kPage});
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(entry.path(), ec);
    EXPECT_NE(target, path) << entry.path() << " still refers to the file";
  }
  put(m, 0, "no fd needed");
  EXPECT_EQ(file_bytes(path).substr(0, 12), "no fd needed");
}

// --- M12 -----------------------------------------------------------------------------------

TEST(SeedMapping, M12_AccessorsAreBoundsChecked) {
  auto m = Mapping::anonymous_shared(100);  // one page underneath; 100 bytes are ours
  EXPECT_EQ(m.size(), 100u);
  (void)m.subspan(0, 100);
  (void)m.as<std::uint32_t>(96);
  (void)m.array<std::uint32_t>(0, 25);
  for (const auto& bad : std::initializer_list<std::function<void()>>{
           [&] { (void)m.subspan(90, 11); },
           [&] { (void)m.subspan(101, 0); },
           [&] { (void)m.as<std::uint32_t>(100); },
           [&] { (void)m.as<std::uint64_t>(96); },
           [&] { (void)m.array<std::uint32_t>(0, 26); },
           [&] { (void)m.array<std::uint32_t>(4, 25); },
       }) {
    EXPECT_EQ(errnum_of(bad), ERANGE);
  }
  std::string msg = message_of([&] { (void)m.subspan(90, 11); });
  EXPECT_TRUE(has(msg, "offset 90"));
  EXPECT_TRUE(has(msg, "length 11"));
  EXPECT_TRUE(has(msg, "size 100"));
}

// The kernel: past the mapping's last page, memory that is not mapped faults with SIGSEGV
// (Q&A 7). Linux rounds a 100-byte mapping up to a whole page, so bytes 100..4095 do not
// fault (they are not the file's, and ipckit's accessors refuse them).
TEST(SeedMapping, M12_RawAccessPastTheMappingsEndIsASegmentationFault) {
  test::Forked child([&] {
    die_of_faults_plainly();
    // Two pages reserved with no access, so nothing else can sit right after our mapping.
    void* area = ::mmap(nullptr, 2 * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return 1;
    auto* p = static_cast<volatile char*>(
        ::mmap(area, 100, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    if (p == MAP_FAILED) return 1;
    p[99] = 'a';
    p[4000] = 'b';  // past 100 bytes, inside the page: no fault
    p[kPage] = 'c';  // past the page: SIGSEGV
    return 2;
  });
  ExitStatus s = child.wait();
  EXPECT_FALSE(s.exited) << s.to_string();
  EXPECT_EQ(s.signal, SIGSEGV) << s.to_string();
}

// --- M13 -----------------------------------------------------------------------------------

TEST(SeedMapping, M13_AFailingMmapIsAnErrorNeverMapFailed) {
  auto p = Pipe::create();
  // The kernel: MAP_FAILED, which is (void*)-1, not NULL; a check for NULL misses it.
  errno = 0;
  void* raw = ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, p.read_end.get(), 0);
  EXPECT_EQ(raw, MAP_FAILED);
  EXPECT_EQ(raw, reinterpret_cast<void*>(-1));  // NOLINT(performance-no-int-to-ptr)
  EXPECT_NE(raw, nullptr);
  EXPECT_EQ(errno, ENODEV);
  // ipckit: an Error from mmap itself, naming the descriptor and what can be mapped.
  try {
    (void)Mapping::map_fd(p.read_end, {.access = Access::read_only, .length = kPage});
    FAIL() << "mapping a pipe must fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.syscall(), "mmap");
    EXPECT_EQ(e.errnum(), ENODEV);
    std::string msg = e.what();
    EXPECT_TRUE(has(msg, "pipe:["));
    EXPECT_TRUE(has(msg, "regular file"));
  }
}

TEST(SeedMapping, M13_RunningOutOfAddressSpaceIsAnError) {
  try {
    (void)Mapping::anonymous_shared(std::size_t{1} << 62);
    FAIL() << "4 EiB cannot be mapped";
  } catch (const Error& e) {
    EXPECT_EQ(e.syscall(), "mmap");
    EXPECT_EQ(e.errnum(), ENOMEM);
    EXPECT_TRUE(has(std::string(e.what()), "no room for the mapping"));
  }
}

}  // namespace
}  // namespace ipckit
