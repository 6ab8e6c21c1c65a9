// Unit tests for ipckit::Region and ipckit::Mapping: ownership, the checks made before mmap,
// the bounds and alignment checks of the accessors, and the messages that explain them.
// The seed's claims themselves are shown in seed/seed_mapping_test.cpp.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/pipe.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using test::put;
using test::get;
using test::file_bytes;
using test::make_file;
using test::open_file;

static_assert(!std::is_copy_constructible_v<Mapping>);
static_assert(!std::is_copy_assignable_v<Mapping>);
static_assert(std::is_nothrow_move_constructible_v<Mapping>);
static_assert(std::is_nothrow_move_assignable_v<Mapping>);
static_assert(std::is_nothrow_default_constructible_v<Mapping>);

const std::size_t kPage = page_size();
constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

bool page_mapped(const void* address) {
  return ::msync(const_cast<void*>(address), kPage, MS_ASYNC) == 0;
}

::testing::AssertionResult has(const std::string& text, std::string_view part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << part << "\" not in: " << text;
}

// --- page_size -----------------------------------------------------------------------------

TEST(Mapping, PageSizeIsTheSystemsAndAPowerOfTwo) {
  EXPECT_EQ(page_size(), static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(page_size() & (page_size() - 1), 0u);
  EXPECT_EQ(page_size(), page_size());
}

// --- ownership -----------------------------------------------------------------------------

TEST(Mapping, DefaultConstructedIsEmpty) {
  Mapping m;
  EXPECT_FALSE(m.valid());
  EXPECT_EQ(m.size(), 0u);
  EXPECT_FALSE(m.writable());
  EXPECT_TRUE(m.bytes().empty());
  EXPECT_TRUE(m.subspan(0, 0).empty());
  EXPECT_EQ(test::error_from([&] { (void)m.subspan(0, 1); }).errnum(), ERANGE);
  EXPECT_EQ(test::error_from([&] { (void)m.as<char>(0); }).errnum(), ERANGE);
}

TEST(Mapping, MoveConstructionHandsOverTheMemory) {
  auto a = Mapping::anonymous_shared(kPage);
  put(a, 0, "kept");
  void* address = a.bytes().data();
  Mapping b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.size(), 0u);
  EXPECT_FALSE(a.writable());
  EXPECT_EQ(b.bytes().data(), address);
  EXPECT_TRUE(b.writable());
  EXPECT_EQ(get(b, 0, 4), "kept");
}

TEST(Mapping, MoveAssignmentUnmapsTheOldAndTakesTheNew) {
  auto a = Mapping::anonymous_shared(kPage);
  auto b = Mapping::anonymous_shared(2 * kPage);
  void* old_address = a.bytes().data();
  void* new_address = b.bytes().data();
  a = std::move(b);
  EXPECT_FALSE(page_mapped(old_address));
  EXPECT_EQ(a.bytes().data(), new_address);
  EXPECT_EQ(a.size(), 2 * kPage);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)
}

TEST(Mapping, MoveAssignmentToItselfKeepsTheMapping) {
  auto a = Mapping::anonymous_shared(kPage);
  void* address = a.bytes().data();
  Mapping& same = a;
  a = std::move(same);
  EXPECT_TRUE(a.valid());
  EXPECT_EQ(a.bytes().data(), address);
  EXPECT_TRUE(page_mapped(address));
}

TEST(Mapping, MoveAssignmentIntoAnEmptyMappingWorks) {
  Mapping empty;
  auto a = Mapping::anonymous_shared(kPage);
  void* address = a.bytes().data();
  empty = std::move(a);
  EXPECT_EQ(empty.bytes().data(), address);
  a = Mapping{};  // assigning an empty one unmaps nothing and leaves it empty
  EXPECT_FALSE(a.valid());
  EXPECT_TRUE(page_mapped(address));
}

TEST(Mapping, DestructorUnmapsTheWholeLength) {
  void* address = nullptr;
  {
    auto m = Mapping::anonymous_shared(3 * kPage + 1);  // four pages underneath
    address = m.bytes().data();
    for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(page_mapped(static_cast<char*>(address) + i * kPage));
  }
  for (std::size_t i = 0; i < 4; ++i) EXPECT_FALSE(page_mapped(static_cast<char*>(address) + i * kPage));
}

// --- anonymous_shared ----------------------------------------------------------------------

TEST(Mapping, AnonymousSharedIsZeroFilledAndWritable) {
  auto m = Mapping::anonymous_shared(10000);
  EXPECT_TRUE(m.valid());
  EXPECT_TRUE(m.writable());
  EXPECT_EQ(m.size(), 10000u);
  for (std::byte b : m.bytes()) ASSERT_EQ(b, std::byte{0});
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(m.bytes().data()) % kPage, 0u);
}

TEST(Mapping, AnonymousSharedOfZeroBytesIsRefused) {
  Error e = test::error_from([] { (void)Mapping::anonymous_shared(0); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_EQ(e.syscall(), "mmap");
  EXPECT_TRUE(has(e.what(), "length 0"));
}

TEST(Mapping, TooLargeAnonymousMappingSaysHowMuchWasAsked) {
  Error e = test::error_from([] { (void)Mapping::anonymous_shared(kMax - kPage); });
  EXPECT_EQ(e.errnum(), ENOMEM);
  EXPECT_TRUE(has(e.what(), "asked " + std::to_string(kMax - kPage) + " bytes"));
}

// --- sync ----------------------------------------------------------------------------------

TEST(Mapping, SyncWaitsOrSchedulesTheWriteBack) {
  test::TempDir dir;
  const auto path = dir / "data";
  auto m = Mapping::map_file({.path = path, .create_size = kPage});
  put(m, 0, "synced");
  m.sync();
  m.sync(SyncMode::wait);
  m.sync(SyncMode::schedule);
  EXPECT_EQ(file_bytes(path).substr(0, 6), "synced");
  auto anon = Mapping::anonymous_shared(kPage);
  anon.sync();  // nothing to write back, and no error
  auto ro = Mapping::map_file({.path = path, .access = Access::read_only});
  ro.sync();
}

TEST(Mapping, SyncOfAnEmptyMappingIsAnError) {
  Mapping m;
  Error e = test::error_from([&] { m.sync(); });
  EXPECT_EQ(e.syscall(), "msync");
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has(e.what(), "moved from"));
}

// --- access and sharing --------------------------------------------------------------------

TEST(Mapping, ReadOnlyMappingIsNotWritableAndWritingFaults) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "read me", kPage);
  auto m = Mapping::map_file({.path = path, .access = Access::read_only});
  EXPECT_FALSE(m.writable());
  EXPECT_EQ(get(m, 0, 7), "read me");
  // The pages really are PROT_READ: a write through them is a fault, in a child.
  test::Forked child([&] {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::signal(SIGSEGV, SIG_DFL);
    *static_cast<volatile std::byte*>(m.bytes().data()) = std::byte{'X'};
    return 0;
  });
  ExitStatus s = child.wait();
  EXPECT_EQ(s.signal, SIGSEGV) << s.to_string();
  EXPECT_EQ(file_bytes(path).substr(0, 7), "read me");
}

TEST(Mapping, AFileThisUserMayOnlyReadMapsReadOnlyOrPrivateButNotSharedWritable) {
  test::TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all |
                                               std::filesystem::perms::group_exec |
                                               std::filesystem::perms::others_exec);
  const auto path = dir / "data";
  make_file(path, "frozen", kPage);
  // Root may open any file for writing: the check runs as "nobody" in a child then, on a
  // file owned by root; anyone else gets a file without write permission.
  const bool root = ::geteuid() == 0;
  const std::string mode = root ? "mode 0644" : "mode 0444";
  ASSERT_EQ(::chmod(path.c_str(), root ? 0644 : 0444), 0);
  auto body = [&]() -> int {
    Error e = test::error_from([&] { (void)Mapping::map_file({.path = path}); });
    EXPECT_EQ(e.syscall(), "open");
    EXPECT_EQ(e.errnum(), EACCES);
    EXPECT_TRUE(has(e.what(), "O_RDWR"));
    EXPECT_TRUE(has(e.what(), mode));
    EXPECT_TRUE(has(e.what(), "Access::read_only or Sharing::private_copy"));
    // Read-only, or private copy-on-write: only read permission is needed (O_RDONLY).
    auto ro = Mapping::map_file({.path = path, .access = Access::read_only});
    EXPECT_EQ(get(ro, 0, 6), "frozen");
    auto priv = Mapping::map_file({.path = path, .sharing = Sharing::private_copy});
    put(priv, 0, "thawed");
    EXPECT_EQ(get(priv, 0, 6), "thawed");
    return 0;
  };
  if (root) {
    test::Forked child([&] {
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 90;
      return body();
    });
    ExitStatus s = child.wait();
    EXPECT_TRUE(s.success()) << s.to_string();
  } else {
    (void)body();
  }
  EXPECT_EQ(file_bytes(path).substr(0, 6), "frozen");
}

TEST(Mapping, PrivateCopyReadOnlyIsNotWritable) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "x", kPage);
  auto m = Mapping::map_file({.path = path, .access = Access::read_only, .sharing = Sharing::private_copy});
  EXPECT_FALSE(m.writable());
}

TEST(Mapping, SharedWritesReachOtherMappingsOfTheSameFileInThisProcess) {
  test::TempDir dir;
  const auto path = dir / "data";
  auto a = Mapping::map_file({.path = path, .create_size = kPage});
  auto b = Mapping::map_file({.path = path});
  EXPECT_NE(a.bytes().data(), b.bytes().data());
  put(a, 10, "same page");
  EXPECT_EQ(get(b, 10, 9), "same page");
}

// --- map_file: opening and creating --------------------------------------------------------

TEST(Mapping, MissingFileErrorNamesThePathAndHowToCreateIt) {
  test::TempDir dir;
  const auto path = dir / "missing";
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path}); });
  EXPECT_EQ(e.syscall(), "open");
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_EQ(e.object(), path.string());
  EXPECT_TRUE(has(e.what(), path.string()));
  EXPECT_TRUE(has(e.what(), "create_size"));
}

TEST(Mapping, MissingFolderWithCreateSizeNamesTheFolder) {
  test::TempDir dir;
  const auto path = dir / "no-such-folder" / "data";
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .create_size = kPage}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has(e.what(), (dir / "no-such-folder").string()));
  EXPECT_TRUE(has(e.what(), "does not exist"));
}

TEST(Mapping, EmptyPathIsRefused) {
  Error e = test::error_from([] { (void)Mapping::map_file({}); });
  EXPECT_EQ(e.errnum(), ENOENT);
  EXPECT_TRUE(has(e.what(), "the path is empty"));
}

TEST(Mapping, SymbolicLinkIsRefused) {
  test::TempDir dir;
  const auto target = dir / "target";
  const auto link = dir / "link";
  make_file(target, "secret", kPage);
  std::filesystem::create_symlink(target, link);
  for (const auto& options : {MapFileOptions{.path = link}, MapFileOptions{.path = link, .create_size = kPage}}) {
    Error e = test::error_from([&] { (void)Mapping::map_file(options); });
    EXPECT_EQ(e.errnum(), ELOOP);
    EXPECT_TRUE(has(e.what(), "symbolic link"));
    EXPECT_TRUE(has(e.what(), "O_NOFOLLOW"));
  }
  // A dangling link is not followed to create a file elsewhere either.
  const auto dangling = dir / "dangling";
  std::filesystem::create_symlink(dir / "elsewhere", dangling);
  EXPECT_EQ(test::error_from([&] { (void)Mapping::map_file({.path = dangling, .create_size = kPage}); }).errnum(), ELOOP);
  EXPECT_FALSE(std::filesystem::exists(dir / "elsewhere"));
}

TEST(Mapping, CreateSizeCreatesTheFileWithMode0600) {
  test::TempDir dir;
  const auto path = dir / "new";
  auto m = Mapping::map_file({.path = path, .create_size = 5000});
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 5000);
  EXPECT_EQ(m.size(), 5000u);
}

TEST(Mapping, CreateSizeExtendsASmallerFileAndKeepsItsBytes) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "keep", 4);
  auto m = Mapping::map_file({.path = path, .create_size = 2 * kPage});
  EXPECT_EQ(std::filesystem::file_size(path), 2 * kPage);
  EXPECT_EQ(get(m, 0, 4), "keep");
  EXPECT_EQ(get(m, 4, 4), std::string(4, '\0'));
}

TEST(Mapping, CreateSizeNeverShrinksAFile) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", 3 * kPage);
  {
    Fd fd = open_file(path, O_RDWR);
    ASSERT_EQ(::pwrite(fd.get(), "tail", 4, static_cast<off_t>(3 * kPage - 4)), 4);
  }
  auto m = Mapping::map_file({.path = path, .create_size = kPage});
  EXPECT_EQ(std::filesystem::file_size(path), 3 * kPage);
  EXPECT_EQ(m.size(), 3 * kPage);  // no length: the whole file
  EXPECT_EQ(get(m, 3 * kPage - 4, 4), "tail");
}

TEST(Mapping, CreateSizeWithAnExplicitLengthMapsThatLength) {
  test::TempDir dir;
  const auto path = dir / "data";
  auto m = Mapping::map_file({.path = path, .length = 100, .create_size = kPage});
  EXPECT_EQ(m.size(), 100u);
  EXPECT_EQ(std::filesystem::file_size(path), kPage);
}

TEST(Mapping, CreateSizeZeroLeavesAnEmptyFileThatIsRefused) {
  test::TempDir dir;
  const auto path = dir / "data";
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .create_size = 0}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has(e.what(), "empty"));
}

TEST(Mapping, BadArgumentsAreRefusedBeforeAnyFileIsCreated) {
  test::TempDir dir;
  const auto path = dir / "data";
  EXPECT_EQ(test::error_from([&] { (void)Mapping::map_file({.path = path, .length = 0, .create_size = kPage}); }).errnum(),
            EINVAL);
  EXPECT_EQ(test::error_from([&] { (void)Mapping::map_file({.path = path, .offset = 1, .create_size = kPage}); }).errnum(),
            EINVAL);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Mapping, DirectoryIsRefused) {
  test::TempDir dir;
  Error rw = test::error_from([&] { (void)Mapping::map_file({.path = dir.path()}); });
  EXPECT_EQ(rw.errnum(), EISDIR);
  Error ro = test::error_from([&] { (void)Mapping::map_file({.path = dir.path(), .access = Access::read_only}); });
  EXPECT_EQ(ro.errnum(), ENODEV);
  EXPECT_TRUE(has(ro.what(), "a directory, not a regular file"));
}

TEST(Mapping, FifoPathIsRefusedWithoutHanging) {
  test::TempDir dir;
  const auto path = dir / "fifo";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  // A plain open(O_RDONLY) would wait for a writer; map_file opens with O_NONBLOCK.
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .access = Access::read_only}); });
  EXPECT_EQ(e.errnum(), ENODEV);
  EXPECT_TRUE(has(e.what(), "a pipe or FIFO"));
  EXPECT_TRUE(has(e.what(), "map_fd"));
}

// --- map_file and map_fd: ranges -----------------------------------------------------------

TEST(Mapping, WithoutLengthTheRestOfTheFileFromTheOffsetIsMapped) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", 2 * kPage + 10);
  auto whole = Mapping::map_file({.path = path});
  EXPECT_EQ(whole.size(), 2 * kPage + 10);
  auto tail = Mapping::map_file({.path = path, .offset = 2 * kPage});
  EXPECT_EQ(tail.size(), 10u);
}

TEST(Mapping, OffsetAtOrPastTheEndNamesTheFileSize) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  for (std::size_t offset : {kPage, 4 * kPage}) {
    Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .offset = offset}); });
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_TRUE(has(e.what(), "offset " + std::to_string(offset)));
    EXPECT_TRUE(has(e.what(), "size " + std::to_string(kPage)));
  }
}

TEST(Mapping, LengthPastTheEndNamesTheFileSizeAndWhatFits) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", 2 * kPage);
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .offset = kPage, .length = kPage + 1}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has(e.what(), "ends at " + std::to_string(2 * kPage + 1)));
  EXPECT_TRUE(has(e.what(), "size " + std::to_string(2 * kPage)));
  EXPECT_TRUE(has(e.what(), "map at most " + std::to_string(kPage) + " bytes"));
  auto ok = Mapping::map_file({.path = path, .offset = kPage, .length = kPage});
  EXPECT_EQ(ok.size(), kPage);
}

TEST(Mapping, OffsetPlusLengthOverflowIsRefused) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", 2 * kPage);
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .offset = kPage, .length = kMax}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has(e.what(), "overflows"));
  Fd fd = open_file(path, O_RDWR);
  EXPECT_TRUE(has(test::error_from([&] { (void)Mapping::map_fd(fd, {.offset = kPage, .length = kMax - 1}); }).what(),
                  "overflows"));
}

TEST(Mapping, OffsetBeyondOffTIsRefused) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  const std::size_t huge = kMax - kMax % kPage;  // page-aligned, > INT64_MAX
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .offset = huge}); });
  EXPECT_EQ(e.errnum(), EOVERFLOW);
  EXPECT_TRUE(has(e.what(), "off_t"));
}

TEST(Mapping, OffsetErrorSuggestsTheValidOffsetsAround) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", 4 * kPage);
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .offset = 2 * kPage + 7}); });
  EXPECT_TRUE(has(e.what(), std::to_string(2 * kPage) + " and " + std::to_string(3 * kPage)));
  EXPECT_TRUE(has(e.what(), "skip 7 bytes"));
}

// --- map_fd --------------------------------------------------------------------------------

TEST(Mapping, MapFdNamesTheDescriptorInErrors) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  Fd fd = open_file(path, O_RDWR);
  Error e = test::error_from([&] { (void)Mapping::map_fd(fd, {.offset = 3}); });
  EXPECT_TRUE(has(e.object(), "fd " + std::to_string(fd.get())));
  EXPECT_TRUE(has(e.object(), path.string()));
}

TEST(Mapping, MapFdOfWriteOnlyDescriptorIsRefused) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  Fd wo = open_file(path, O_WRONLY);
  Error e = test::error_from([&] { (void)Mapping::map_fd(wo, {}); });
  EXPECT_EQ(e.errnum(), EACCES);
  EXPECT_TRUE(has(e.what(), "O_WRONLY"));
  EXPECT_TRUE(has(e.what(), "O_RDWR"));
}

TEST(Mapping, MapFdOfReadOnlyDescriptor) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "ro", kPage);
  Fd ro = open_file(path, O_RDONLY);
  EXPECT_EQ(test::error_from([&] { (void)Mapping::map_fd(ro, {}); }).errnum(), EACCES);
  auto m = Mapping::map_fd(ro, {.access = Access::read_only});
  EXPECT_EQ(get(m, 0, 2), "ro");
  auto priv = Mapping::map_fd(ro, {.sharing = Sharing::private_copy});
  EXPECT_TRUE(priv.writable());
}

// O_APPEND limits write(2), not the memory: the kernel maps such a descriptor shared and
// writable (only an append-only *file*, chattr +a, is refused), and so does ipckit.
TEST(Mapping, MapFdOfAnAppendModeDescriptorIsAllowedAsTheKernelDoes) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  Fd fd = open_file(path, O_RDWR | O_APPEND);
  auto m = Mapping::map_fd(fd, {});
  put(m, 0, "not at the end");
  EXPECT_EQ(file_bytes(path).substr(0, 14), "not at the end");
}

TEST(Mapping, MapFdOfAClosedDescriptorIsRefused) {
  Fd none;
  Error e = test::error_from([&] { (void)Mapping::map_fd(none, {.length = kPage}); });
  EXPECT_EQ(e.errnum(), EBADF);
  EXPECT_TRUE(has(e.what(), "not open"));
}

TEST(Mapping, MapFdOfAnOPathDescriptorIsRefused) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  Fd fd = open_file(path, O_PATH);
  Error e = test::error_from([&] { (void)Mapping::map_fd(fd, {.access = Access::read_only}); });
  EXPECT_EQ(e.errnum(), EBADF);
  EXPECT_TRUE(has(e.what(), "O_PATH"));
}

TEST(Mapping, MapFdOfAMemfdUsesItsSize) {
  Fd fd{::memfd_create("ipckit-mapping-test", MFD_CLOEXEC)};
  ASSERT_TRUE(fd.valid());
  EXPECT_TRUE(has(test::error_from([&] { (void)Mapping::map_fd(fd, {}); }).what(), "empty (size 0)"));
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(2 * kPage)), 0);
  auto a = Mapping::map_fd(fd, {});
  auto b = Mapping::map_fd(fd, {.offset = kPage});
  EXPECT_EQ(a.size(), 2 * kPage);
  EXPECT_EQ(b.size(), kPage);
  put(a, kPage, "memfd");
  EXPECT_EQ(get(b, 0, 5), "memfd");
}

TEST(Mapping, MapFdOfADeviceNeedsALength) {
  Fd zero = open_file("/dev/zero", O_RDWR);
  Error e = test::error_from([&] { (void)Mapping::map_fd(zero, {}); });
  EXPECT_EQ(e.errnum(), EINVAL);
  EXPECT_TRUE(has(e.what(), "a character device"));
  EXPECT_TRUE(has(e.what(), ".length"));
  auto m = Mapping::map_fd(zero, {.length = kPage});
  EXPECT_EQ(get(m, 0, 4), std::string(4, '\0'));
}

TEST(Mapping, MapFdOfAPipeIsTheKernelsEnodev) {
  auto p = Pipe::create();
  Error e = test::error_from([&] { (void)Mapping::map_fd(p.write_end, {.access = Access::read_only, .length = kPage}); });
  // The write end is O_WRONLY: refused before mmap, for that reason.
  EXPECT_EQ(e.errnum(), EACCES);
  Error r = test::error_from([&] { (void)Mapping::map_fd(p.read_end, {.access = Access::read_only, .length = kPage}); });
  EXPECT_EQ(r.errnum(), ENODEV);
  EXPECT_TRUE(has(r.hint(), "cannot be mapped"));
  Error no_length = test::error_from([&] { (void)Mapping::map_fd(p.read_end, {.access = Access::read_only}); });
  EXPECT_TRUE(has(no_length.what(), "a pipe or FIFO"));
}

TEST(Mapping, MapFdLeavesTheDescriptorToTheCaller) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  Fd fd = open_file(path, O_RDWR);
  {
    auto m = Mapping::map_fd(fd, {});
  }
  EXPECT_NE(::fcntl(fd.get(), F_GETFD), -1);  // still open after the mapping is gone
}

TEST(Mapping, ErrorMessagesHaveTheHouseForm) {
  test::TempDir dir;
  const auto path = dir / "data";
  make_file(path, "", kPage);
  Error e = test::error_from([&] { (void)Mapping::map_file({.path = path, .length = 0}); });
  const std::string prefix = "mmap(\"" + path.string() + "\"): Invalid argument (EINVAL): length 0";
  EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
}

// --- Region: bounds and alignment ----------------------------------------------------------

TEST(Region, SubspanInsideTheRegion) {
  auto m = Mapping::anonymous_shared(100);
  EXPECT_EQ(m.subspan(0, 100).size(), 100u);
  EXPECT_EQ(m.subspan(100, 0).size(), 0u);  // the empty range at the end is fine
  EXPECT_EQ(m.subspan(10, 5).data(), m.bytes().data() + 10);
  const Mapping& c = m;
  EXPECT_EQ(c.subspan(99, 1).data(), c.bytes().data() + 99);
}

TEST(Region, SubspanPastTheEndNamesOffsetLengthAndSize) {
  auto m = Mapping::anonymous_shared(100);
  Error e = test::error_from([&] { (void)m.subspan(96, 8); });
  EXPECT_EQ(e.errnum(), ERANGE);
  EXPECT_EQ(e.syscall(), "Region::subspan");
  EXPECT_TRUE(has(e.what(), "offset 96 + length 8"));
  EXPECT_TRUE(has(e.what(), "ends at 104"));
  EXPECT_TRUE(has(e.what(), "size 100"));
  EXPECT_TRUE(has(e.what(), "the last offset where it fits is 92"));
  const Mapping& c = m;
  EXPECT_EQ(test::error_from([&] { (void)c.subspan(101, 0); }).errnum(), ERANGE);
  EXPECT_TRUE(has(test::error_from([&] { (void)c.subspan(0, 101); }).what(), "larger than the whole region"));
}

TEST(Region, SubspanOverflowIsCaughtNotWrapped) {
  auto m = Mapping::anonymous_shared(100);
  // 16 + (SIZE_MAX - 7) wraps to 8, which would "fit" a naive check.
  Error e = test::error_from([&] { (void)m.subspan(16, kMax - 7); });
  EXPECT_EQ(e.errnum(), ERANGE);
  EXPECT_TRUE(has(e.what(), "overflows"));
  EXPECT_EQ(test::error_from([&] { (void)m.subspan(kMax, 1); }).errnum(), ERANGE);
  EXPECT_EQ(test::error_from([&] { (void)m.subspan(kMax, 0); }).errnum(), ERANGE);
}

TEST(Region, AsChecksSizeAndAlignment) {
  auto m = Mapping::anonymous_shared(64);
  m.as<std::uint64_t>(8) = 0x1122334455667788;
  EXPECT_EQ(m.as<std::uint64_t>(8), 0x1122334455667788u);
  EXPECT_EQ(m.as<std::uint8_t>(8), 0x88);  // little-endian, x86-64 and arm64
  (void)m.as<std::uint64_t>(56);

  Error past = test::error_from([&] { (void)m.as<std::uint64_t>(60); });
  EXPECT_EQ(past.errnum(), ERANGE);
  EXPECT_TRUE(has(past.what(), "offset 60"));
  EXPECT_TRUE(has(past.what(), "1 object of 8 bytes"));
  EXPECT_TRUE(has(past.what(), "size 64"));

  Error misaligned = test::error_from([&] { (void)m.as<std::uint64_t>(4); });
  EXPECT_EQ(misaligned.errnum(), ERANGE);
  EXPECT_TRUE(has(misaligned.what(), "offset 4 is not aligned"));
  EXPECT_TRUE(has(misaligned.what(), "alignment of 8"));
  EXPECT_TRUE(has(misaligned.what(), "0 and 8"));
}

TEST(Region, ConstAsReadsTheSameObject) {
  auto m = Mapping::anonymous_shared(64);
  m.as<std::uint32_t>(4) = 7;
  const Mapping& c = m;
  EXPECT_EQ(c.as<std::uint32_t>(4), 7u);
  EXPECT_EQ(test::error_from([&] { (void)c.as<std::uint32_t>(2); }).errnum(), ERANGE);
}

TEST(Region, ArrayChecksCountSizeAndAlignment) {
  auto m = Mapping::anonymous_shared(100);
  auto slots = m.array<std::uint32_t>(4, 24);
  EXPECT_EQ(slots.size(), 24u);
  EXPECT_EQ(static_cast<void*>(slots.data()), static_cast<void*>(m.bytes().data() + 4));
  EXPECT_TRUE(m.array<std::uint32_t>(100, 0).empty());  // zero objects at the end

  Error past = test::error_from([&] { (void)m.array<std::uint32_t>(4, 25); });
  EXPECT_TRUE(has(past.what(), "25 objects of 4 bytes (100 bytes)"));
  EXPECT_TRUE(has(past.what(), "ends at 104"));

  Error misaligned = test::error_from([&] { (void)m.array<std::uint32_t>(6, 2); });
  EXPECT_TRUE(has(misaligned.what(), "alignment of 4"));
  EXPECT_TRUE(has(misaligned.what(), "4 and 8"));
}

TEST(Region, ArrayCountOverflowIsCaughtNotWrapped) {
  auto m = Mapping::anonymous_shared(100);
  // kMax / 4 + 1 objects of 8 bytes: the byte count wraps; the check must not.
  Error e = test::error_from([&] { (void)m.array<std::uint64_t>(0, kMax / 4 + 1); });
  EXPECT_EQ(e.errnum(), ERANGE);
  EXPECT_TRUE(has(e.what(), "overflows"));
  // count * size fits but offset + count * size wraps.
  EXPECT_TRUE(has(test::error_from([&] { (void)m.array<std::uint8_t>(8, kMax - 4); }).what(), "overflows"));
}

struct alignas(64) CacheLine {
  std::uint64_t value;
};

TEST(Region, OverAlignedTypesAreChecked) {
  auto m = Mapping::anonymous_shared(kPage);
  (void)m.as<CacheLine>(128);
  Error e = test::error_from([&] { (void)m.as<CacheLine>(72); });
  EXPECT_TRUE(has(e.what(), "alignment of 64"));
  EXPECT_TRUE(has(e.what(), "64 and 128"));
}

}  // namespace
}  // namespace ipckit

namespace ipckit {
namespace {

TEST(Mapping, AFailedMapFileLeavesNoFileItCreated) {
  test::TempDir dir;
  const auto path = dir / "new";
  EXPECT_THROW((void)Mapping::map_file({.path = path, .offset = 8192, .create_size = 4096}), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
  // A file that was there before is left alone.
  test::make_file(path, "keep", 4096);
  EXPECT_THROW((void)Mapping::map_file({.path = path, .offset = 8192, .create_size = 4096}), Error);
  EXPECT_EQ(test::file_bytes(path).substr(0, 4), "keep");
}

}  // namespace
}  // namespace ipckit
