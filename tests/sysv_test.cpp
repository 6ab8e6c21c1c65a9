// Unit tests for ipckit::sysv: keys, creating and opening segments, attachments, stat and
// IPC_SET, and the messages of every error a user may meet. The seed's claims H1–H11 are
// shown in tests/seed/seed_sysv_shm_test.cpp.
//
// Every segment made here is removed when its test ends, passed or failed (RemoveAtEnd, in
// the parent only); keyed ones use keys from files of the test's own TempDir.

#include <gtest/gtest.h>
#include <grp.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/sysv.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using test::RemoveAtEnd;

using sysv::Attachment;
using sysv::Key;
using sysv::SharedMemory;

static_assert(!std::is_copy_constructible_v<Attachment>);
static_assert(!std::is_copy_assignable_v<Attachment>);
static_assert(std::is_nothrow_move_constructible_v<Attachment>);
static_assert(std::is_nothrow_move_assignable_v<Attachment>);
static_assert(std::is_nothrow_default_constructible_v<Attachment>);
static_assert(std::is_trivially_copyable_v<Key>);
static_assert(std::is_copy_constructible_v<SharedMemory>);  // a plain handle: owns nothing
static_assert(Key::private_key().is_private());
static_assert(Key::from_value(0x162e).value() == 0x162e);
static_assert(!Key::from_value(0x162e).is_private());

std::filesystem::path key_file(const test::TempDir& dir, std::string_view name) {
  auto path = dir / name;
  std::ofstream(path) << "ipckit sysv key file\n";
  return path;
}

// A key no segment holds yet, from a file of `dir` (ftok keys may collide with unrelated
// segments; then the next file is tried).
Key free_key(const test::TempDir& dir) {
  for (int attempt = 0;; ++attempt) {
    Key key = Key::from_path(key_file(dir, "key" + std::to_string(attempt)), 'U');
    if (::shmget(key.value(), 0, 0) == -1 && errno == ENOENT) return key;
    if (attempt == 20) throw std::runtime_error("no free ftok key found");
  }
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }
bool is_gone(int errnum) { return errnum == EINVAL || errnum == EIDRM; }

void put(Attachment& a, std::string_view text) {
  auto dst = a.subspan(0, text.size());
  std::memcpy(dst.data(), text.data(), text.size());
}

std::string get(const Attachment& a, std::size_t length) {
  auto src = a.subspan(0, length);
  return {reinterpret_cast<const char*>(src.data()), length};
}

// Runs `f`, which must throw ipckit::Error; returns it (or nothing, with a test failure).
template <class F>
std::optional<Error> error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no Error was thrown";
  return std::nullopt;
}

// A create that must fail; should it succeed, the segment is removed at once.
std::optional<Error> create_error(const sysv::ShmCreateOptions& options) {
  return error_of([&] { RemoveAtEnd unexpected(SharedMemory::create(options)); });
}

void send_byte(const Fd& fd) {
  const std::byte b{1};
  ASSERT_TRUE(fd.write_all(std::span{&b, 1}).ok());
}

bool receive_byte(const Fd& fd) {
  std::byte b{};
  return fd.read_exact(std::span{&b, 1}).ok();
}

// In a child: becomes uid and gid 65534 (nobody), with no supplementary groups and so no
// capabilities. false when this process may not (not root).
bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setgid(65534) == 0 && ::setuid(65534) == 0;
}
constexpr int kCannotDropPrivileges = 77;

// --- Key ----------------------------------------------------------------------------------

TEST(SysvKey, ToStringIsEightHexDigitsAsIpcsPrints) {
  EXPECT_EQ(Key::from_value(0x162e).to_string(), "0x0000162e");
  EXPECT_EQ(Key::from_value(0x41012345).to_string(), "0x41012345");
  EXPECT_EQ(Key::from_value(-1).to_string(), "0xffffffff");
  EXPECT_EQ(Key::private_key().to_string(), "0x00000000");
}

TEST(SysvKey, ParseAcceptsHexAndDecimal) {
  EXPECT_EQ(Key::parse("0x0000162e").value(), 0x162e);
  EXPECT_EQ(Key::parse("0x162E").value(), 0x162e);
  EXPECT_EQ(Key::parse("0X1f").value(), 0x1f);
  EXPECT_EQ(Key::parse("5678").value(), 5678);
  EXPECT_EQ(Key::parse("0").value(), 0);
  EXPECT_TRUE(Key::parse("0x00000000").is_private());
  // 32 bits read either way: unsigned as ipcs prints them, or signed as key_t holds them.
  EXPECT_EQ(Key::parse("0xffffffff").value(), -1);
  EXPECT_EQ(Key::parse("4294967295").value(), -1);
  EXPECT_EQ(Key::parse("-1").value(), -1);
  EXPECT_EQ(Key::parse("-2147483648").value(), INT_MIN);
}

TEST(SysvKey, ParseOfToStringGivesTheSameKey) {
  for (key_t value : {0, 1, 0x162e, 0x41012345, INT_MAX, -1, INT_MIN}) {
    Key key = Key::from_value(value);
    EXPECT_EQ(Key::parse(key.to_string()), key) << key.to_string();
    EXPECT_EQ(Key::parse(std::to_string(value)), key) << value;
  }
}

TEST(SysvKey, ParseRefusesGarbageAndSaysWhatAKeyLooksLike) {
  for (std::string_view text : {"", "0x", "0xg1", "12abc", " 12", "12 ", "+5", "0x-1", "1.5", "key", "0x 1"}) {
    auto e = error_of([&] { (void)Key::parse(text); });
    ASSERT_TRUE(e) << "\"" << text << "\"";
    EXPECT_EQ(e->errnum(), EINVAL) << e->what();
    EXPECT_EQ(e->object(), text);
    EXPECT_TRUE(contains(e->what(), "0x0000162e")) << e->what();
  }
  for (std::string_view text : {"0x100000000", "4294967296", "-2147483649", "99999999999999999999999",
                                "0xffffffffffffffffffff"}) {
    auto e = error_of([&] { (void)Key::parse(text); });
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->errnum(), ERANGE) << e->what();
    EXPECT_TRUE(contains(e->what(), "32 bits")) << e->what();
  }
}

TEST(SysvKey, FromPathOfAMissingPathNamesIt) {
  test::TempDir dir;
  const auto missing = dir / "no" / "such" / "file";
  auto e = error_of([&] { (void)Key::from_path(missing, 'A'); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), ENOENT);
  EXPECT_EQ(e->syscall(), "ftok");
  EXPECT_EQ(e->object(), missing.string());
  EXPECT_TRUE(contains(e->what(), missing.string())) << e->what();
  EXPECT_TRUE(contains(e->what(), "does not exist")) << e->what();
}

TEST(SysvKey, FromPathRefusesProjIdWhoseLow8BitsAreZero) {
  test::TempDir dir;
  const auto file = key_file(dir, "f");
  for (int proj_id : {0, 0x100, 0x200, 0x7f00}) {
    auto e = error_of([&] { (void)Key::from_path(file, proj_id); });
    ASSERT_TRUE(e) << proj_id;
    EXPECT_EQ(e->errnum(), EINVAL);
    EXPECT_TRUE(contains(e->what(), "low 8 bits")) << e->what();
  }
  EXPECT_NO_THROW((void)Key::from_path(file, 0x101));
}

TEST(SysvKey, FromPathIsStableForOneFileAndProjId) {
  test::TempDir dir;
  const auto file = key_file(dir, "f");
  const Key key = Key::from_path(file, 'A');
  EXPECT_FALSE(key.is_private());
  EXPECT_EQ(Key::from_path(file, 'A'), key);
  EXPECT_NE(Key::from_path(file, 'B'), key);
  // A folder is a path too.
  EXPECT_NO_THROW((void)Key::from_path(dir.path(), 'A'));
}

// --- create ----------------------------------------------------------------------------------

TEST(SysvShm, CreatePrivateAlwaysMakesANewSegment) {
  SharedMemory a = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard_a(a);
  SharedMemory b = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard_b(b);
  EXPECT_NE(a.id(), b.id());
  EXPECT_GE(a.id(), 0);
  EXPECT_TRUE(a.stat().key.is_private());
}

TEST(SysvShm, CreateOfSizeZeroIsRefused) {
  auto e = create_error({.size = 0});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EINVAL);
  EXPECT_EQ(e->object(), "IPC_PRIVATE");
  EXPECT_TRUE(contains(e->what(), "size is 0")) << e->what();
}

TEST(SysvShm, CreateAboveShmmaxNamesTheLimitAndItsValue) {
  unsigned long long shmmax = 0;
  std::ifstream("/proc/sys/kernel/shmmax") >> shmmax;
  ASSERT_GT(shmmax, 0u);
  if (shmmax >= SIZE_MAX) GTEST_SKIP() << "shmmax is SIZE_MAX: no size is above it";
  auto e = create_error({.size = static_cast<std::size_t>(shmmax) + 1});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EINVAL);
  EXPECT_TRUE(contains(e->what(), "/proc/sys/kernel/shmmax")) << e->what();
  EXPECT_TRUE(contains(e->what(), std::to_string(shmmax))) << e->what();
}

TEST(SysvShm, CreateRefusesModeBitsBeyondTheNinePermissionBits) {
  test::TempDir dir;
  const Key key = free_key(dir);
  // 01000 is IPC_CREAT's value, 02000 IPC_EXCL's: a mode must not smuggle flags in.
  auto e = create_error({.key = key, .size = 4096, .mode = 02600});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EINVAL);
  EXPECT_TRUE(contains(e->what(), "02600")) << e->what();
  EXPECT_TRUE(contains(e->what(), "0777")) << e->what();
  EXPECT_EQ(::shmget(key.value(), 0, 0), -1);  // nothing was made
}

TEST(SysvShm, CreateExclusiveOnATakenKeyNamesTheKeyTheIdAndHowToRemoveIt) {
  test::TempDir dir;
  const Key key = free_key(dir);
  SharedMemory segment = SharedMemory::create({.key = key, .size = 4096});
  RemoveAtEnd guard(segment);
  auto e = create_error({.key = key, .size = 4096});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EEXIST);
  EXPECT_EQ(e->syscall(), "shmget");
  EXPECT_EQ(e->object(), "key " + key.to_string());
  EXPECT_TRUE(contains(e->what(), "(id " + std::to_string(segment.id()) + ")")) << e->what();
  EXPECT_TRUE(contains(e->what(), "`ipckit rm -M " + key.to_string() + "`")) << e->what();
  EXPECT_TRUE(contains(e->what(), "`ipcrm -M " + key.to_string() + "`")) << e->what();
}

TEST(SysvShm, CreateNonExclusiveUsesTheExistingSegment) {
  test::TempDir dir;
  const Key key = free_key(dir);
  SharedMemory first = SharedMemory::create({.key = key, .size = 8192, .exclusive = false});
  RemoveAtEnd guard(first);
  SharedMemory second = SharedMemory::create({.key = key, .size = 8192, .exclusive = false});
  EXPECT_EQ(second.id(), first.id());
  SharedMemory smaller = SharedMemory::create({.key = key, .size = 10, .exclusive = false});
  EXPECT_EQ(smaller.id(), first.id());
  EXPECT_EQ(smaller.stat().size, 8192u);
}

TEST(SysvShm, CreateNonExclusiveLargerThanTheExistingSegmentSaysItsSize) {
  test::TempDir dir;
  const Key key = free_key(dir);
  SharedMemory segment = SharedMemory::create({.key = key, .size = 4096});
  RemoveAtEnd guard(segment);
  auto e = create_error({.key = key, .size = 10000, .exclusive = false});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EINVAL);
  EXPECT_TRUE(contains(e->what(), "has only 4096 bytes, fewer than the 10000 asked")) << e->what();
  EXPECT_TRUE(contains(e->what(), "ipcrm -M " + key.to_string())) << e->what();
  EXPECT_EQ(segment.stat().size, 4096u);
}

// ENOSPC (shmmni or shmall reached) is not shown: it would take filling the machine's limits
// (4096 segments here), which other tests and users running at the same time would feel.

// --- open and from_id ------------------------------------------------------------------------

TEST(SysvShm, OpenOfAMissingKeySaysNoSegmentHasIt) {
  test::TempDir dir;
  const Key key = free_key(dir);
  auto e = error_of([&] { (void)SharedMemory::open(key); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), ENOENT);
  EXPECT_TRUE(contains(e->what(), "no segment has key " + key.to_string())) << e->what();
  EXPECT_TRUE(contains(e->what(), "`ipckit ls -m` lists the segments and their keys")) << e->what();
  EXPECT_FALSE(contains(e->what(), "SharedMemory::")) << e->what();
}

TEST(SysvShm, OpenOfThePrivateKeyIsRefusedClearly) {
  auto e = error_of([] { (void)SharedMemory::open(Key::private_key()); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EINVAL);
  EXPECT_EQ(e->object(), "IPC_PRIVATE");
  EXPECT_TRUE(contains(e->what(), "from_id")) << e->what();
}

TEST(SysvShm, FromIdFindsALiveSegment) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  EXPECT_EQ(SharedMemory::from_id(segment.id()).id(), segment.id());
}

TEST(SysvShm, FromIdOfAnUnknownIdFails) {
  // An id that surely names nothing: one whose segment was just destroyed.
  SharedMemory segment = SharedMemory::create({.size = 4096});
  {
    RemoveAtEnd guard(segment);
  }
  auto e = error_of([&] { (void)SharedMemory::from_id(segment.id()); });
  ASSERT_TRUE(e);
  EXPECT_TRUE(is_gone(e->errnum())) << e->what();
  EXPECT_EQ(e->object(), "shmid " + std::to_string(segment.id()));
  EXPECT_TRUE(contains(e->what(), "no segment has this id")) << e->what();

  auto negative = error_of([] { (void)SharedMemory::from_id(-1); });
  ASSERT_TRUE(negative);
  EXPECT_EQ(negative->errnum(), EINVAL);
}

// --- attach and Attachment ---------------------------------------------------------------------

TEST(SysvShm, AttachmentSizeIsTheSizeAskedNotWholePages) {
  SharedMemory segment = SharedMemory::create({.size = 100});
  RemoveAtEnd guard(segment);
  Attachment a = segment.attach();
  EXPECT_EQ(a.size(), 100u);
  EXPECT_EQ(a.bytes().size(), 100u);
  EXPECT_TRUE(a.writable());
}

TEST(SysvShm, ReadOnlyAttachmentSaysSoAndSeesWrites) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  Attachment rw = segment.attach(Access::read_write);
  Attachment ro = segment.attach(Access::read_only);
  EXPECT_TRUE(rw.writable());
  EXPECT_FALSE(ro.writable());
  put(rw, "hello");
  EXPECT_EQ(get(ro, 5), "hello");
  EXPECT_EQ(segment.stat().nattch, 2u);  // attachments are counted, not processes
}

TEST(SysvShm, AttachAfterTheSegmentIsDestroyedFails) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  segment.remove();  // nothing attached: destroyed at once
  auto e = error_of([&] { (void)segment.attach(); });
  ASSERT_TRUE(e);
  EXPECT_TRUE(is_gone(e->errnum())) << e->what();
  EXPECT_EQ(e->syscall(), "shmat");
  EXPECT_TRUE(contains(e->what(), "destroyed")) << e->what();
  auto ro = error_of([&] { (void)segment.attach(Access::read_only); });
  ASSERT_TRUE(ro);
  EXPECT_EQ(ro->syscall(), "shmat(SHM_RDONLY)");
}

TEST(SysvShm, DefaultAttachmentIsEmpty) {
  Attachment a;
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(a.size(), 0u);
  EXPECT_FALSE(a.writable());
  EXPECT_TRUE(a.bytes().empty());
}

TEST(SysvShm, MovingAnAttachmentKeepsOneAttachAndTheSourceDetachesNothing) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  std::optional<Attachment> target;
  {
    Attachment source = segment.attach();
    put(source, "moved");
    target.emplace(std::move(source));
    EXPECT_FALSE(source.valid());  // NOLINT(bugprone-use-after-move): the moved-from state is the point
    EXPECT_EQ(source.size(), 0u);
    EXPECT_EQ(segment.stat().nattch, 1u);
  }  // ~source: nothing to detach
  EXPECT_EQ(segment.stat().nattch, 1u);
  EXPECT_EQ(get(*target, 5), "moved");  // still mapped
  target.reset();  // ~target: the one shmdt
  EXPECT_EQ(segment.stat().nattch, 0u);
}

TEST(SysvShm, MoveAssigningAnAttachmentDetachesTheOldOneFirst) {
  SharedMemory first = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard_first(first);
  SharedMemory second = SharedMemory::create({.size = 8192});
  RemoveAtEnd guard_second(second);
  Attachment a = first.attach();
  Attachment b = second.attach(Access::read_only);
  a = std::move(b);
  EXPECT_EQ(first.stat().nattch, 0u);
  EXPECT_EQ(second.stat().nattch, 1u);
  EXPECT_EQ(a.size(), 8192u);
  EXPECT_FALSE(a.writable());
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move)

  Attachment& alias = a;
  a = std::move(alias);  // self-move: keeps the attachment
  EXPECT_TRUE(a.valid());
  EXPECT_EQ(second.stat().nattch, 1u);
  a = Attachment{};
  EXPECT_EQ(second.stat().nattch, 0u);
}

TEST(SysvShm, AttachmentAccessorsAreBoundsAndAlignmentChecked) {
  SharedMemory segment = SharedMemory::create({.size = 100});
  RemoveAtEnd guard(segment);
  Attachment a = segment.attach();
  a.as<std::uint64_t>(88) = 42;  // bytes 88..95 of 100
  EXPECT_EQ(std::as_const(a).as<std::uint64_t>(88), 42u);
  auto past = error_of([&] { (void)a.as<std::uint64_t>(96); });  // 96..103: past the end
  ASSERT_TRUE(past);
  EXPECT_EQ(past->errnum(), ERANGE);
  EXPECT_TRUE(contains(past->what(), "100")) << past->what();
  EXPECT_TRUE(error_of([&] { (void)a.as<std::uint32_t>(2); }));  // misaligned
  EXPECT_EQ(a.array<std::uint32_t>(0, 25).size(), 25u);
  EXPECT_TRUE(error_of([&] { (void)a.array<std::uint32_t>(0, 26); }));
  EXPECT_EQ(a.subspan(90, 10).size(), 10u);
  EXPECT_TRUE(error_of([&] { (void)a.subspan(90, 11); }));
  EXPECT_TRUE(error_of([&] { (void)a.subspan(SIZE_MAX, 2); }));
}

// --- stat ------------------------------------------------------------------------------------

TEST(SysvShm, StatReportsKeySizeCreatorTimesOwnerAndMode) {
  test::TempDir dir;
  const Key key = free_key(dir);
  const std::time_t before = std::time(nullptr);
  SharedMemory segment = SharedMemory::create({.key = key, .size = 1000, .mode = 0640});
  RemoveAtEnd guard(segment);
  const std::time_t after = std::time(nullptr);

  sysv::ShmStat s = segment.stat();
  EXPECT_EQ(s.key, key);
  EXPECT_EQ(s.size, 1000u);
  EXPECT_EQ(s.nattch, 0u);
  EXPECT_EQ(s.cpid, ::getpid());
  EXPECT_EQ(s.lpid, 0);   // nobody attached yet
  EXPECT_EQ(s.atime, 0);  // never attached
  EXPECT_EQ(s.dtime, 0);
  EXPECT_GE(s.ctime, before);
  EXPECT_LE(s.ctime, after);
  EXPECT_EQ(s.uid, ::geteuid());
  EXPECT_EQ(s.gid, ::getegid());
  EXPECT_EQ(s.cuid, ::geteuid());
  EXPECT_EQ(s.cgid, ::getegid());
  EXPECT_EQ(s.mode, 0640u);
  EXPECT_FALSE(s.marked_for_removal);

  {
    Attachment a = segment.attach();
    s = segment.stat();
    EXPECT_EQ(s.nattch, 1u);
    EXPECT_EQ(s.lpid, ::getpid());
    EXPECT_GE(s.atime, before);
    EXPECT_EQ(s.dtime, 0);
  }
  s = segment.stat();
  EXPECT_EQ(s.nattch, 0u);
  EXPECT_GE(s.dtime, s.atime);
  EXPECT_NE(s.dtime, 0);
}

TEST(SysvShm, DefaultModeIsOwnerOnly) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  EXPECT_EQ(segment.stat().mode, 0600u);
}

TEST(SysvShm, StatOfADestroyedSegmentFails) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  segment.remove();
  auto e = error_of([&] { (void)segment.stat(); });
  ASSERT_TRUE(e);
  EXPECT_TRUE(is_gone(e->errnum()));
  EXPECT_EQ(e->syscall(), "shmctl(IPC_STAT)");
}

// --- remove, set_mode, set_owner -------------------------------------------------------------

TEST(SysvShm, RemoveTwiceAndRemoveOfADestroyedSegmentAreFine) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  EXPECT_NO_THROW(segment.remove());
  EXPECT_NO_THROW(segment.remove());
  EXPECT_NO_THROW(SharedMemory(segment).remove());
}

TEST(SysvShm, SetModeRefusesBitsBeyondTheNinePermissionBits) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  auto e = error_of([&] { segment.set_mode(01644); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EINVAL);
  EXPECT_EQ(segment.stat().mode, 0600u);  // unchanged
  segment.set_mode(0644);
  EXPECT_EQ(segment.stat().mode, 0644u);
}

TEST(SysvShm, SetModeDecidesWhatAnotherUserMayDo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as another user (uid 65534)";
  SharedMemory segment = SharedMemory::create({.size = 4096});  // root's, mode 0600
  RemoveAtEnd guard(segment);
  {
    Attachment a = segment.attach();
    put(a, "for whom?");
  }
  Pipe step_done = Pipe::create();
  Pipe mode_changed = Pipe::create();
  test::Forked other([&]() -> int {
    if (!become_nobody()) return kCannotDropPrivileges;
    // Mode 0600, owned by root: no attach, no stat, no remove, no IPC_SET.
    auto attach_error = error_of([&] { (void)segment.attach(Access::read_only); });
    if (attach_error) {
      EXPECT_EQ(attach_error->errnum(), EACCES);
      const std::string what = attach_error->what();
      EXPECT_TRUE(contains(what, "root (uid 0)")) << what;
      EXPECT_TRUE(contains(what, "0600")) << what;
      EXPECT_TRUE(contains(what, "IPC_STAT is refused")) << what;
      EXPECT_TRUE(contains(what, "this process runs as uid 65534") || contains(what, "(uid 65534)")) << what;
    }
    auto stat_error = error_of([&] { (void)segment.stat(); });
    if (stat_error) {
      EXPECT_EQ(stat_error->errnum(), EACCES);
    }
    auto remove_error = error_of([&] { segment.remove(); });
    if (remove_error) {
      EXPECT_EQ(remove_error->errnum(), EPERM);
      EXPECT_TRUE(contains(remove_error->what(), "belongs to root (uid 0)")) << remove_error->what();
    }
    auto set_error = error_of([&] { segment.set_mode(0666); });
    if (set_error) {
      EXPECT_EQ(set_error->errnum(), EPERM);
    }

    send_byte(step_done.write_end);
    if (!receive_byte(mode_changed.read_end)) return 3;
    // Mode 0644: others may read, not write.
    Attachment ro = segment.attach(Access::read_only);
    EXPECT_EQ(get(ro, 9), "for whom?");
    EXPECT_EQ(segment.stat().mode, 0644u);
    auto write_error = error_of([&] { (void)segment.attach(Access::read_write); });
    if (write_error) {
      EXPECT_EQ(write_error->errnum(), EACCES);
      EXPECT_TRUE(contains(write_error->what(), "Access::read_only")) << write_error->what();
    }
    return 0;
  });
  step_done.write_end.reset();
  const bool first_step = receive_byte(step_done.read_end);
  if (first_step) {
    segment.set_mode(0644);
    send_byte(mode_changed.write_end);
  }
  ExitStatus status = other.wait();
  if (status.exited && status.code == kCannotDropPrivileges) GTEST_SKIP() << "setuid(65534) was refused";
  EXPECT_TRUE(first_step);
  EXPECT_TRUE(status.success()) << status.to_string();
  EXPECT_EQ(segment.stat().mode, 0644u);
}

TEST(SysvShm, AnOwnerWhoMayNotReadCanStillChangeTheMode) {
  // Root reads everything (CAP_IPC_OWNER), so the owner here is a child running as uid 65534.
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as another user (uid 65534)";
  Pipe id_pipe = Pipe::create();
  Pipe go = Pipe::create();
  test::Forked owner([&]() -> int {
    if (!become_nobody()) return kCannotDropPrivileges;
    SharedMemory mine = SharedMemory::create({.size = 4096, .mode = 0200});  // write-only
    const int id = mine.id();
    if (!id_pipe.write_end.write_all(std::as_bytes(std::span{&id, 1})).ok()) return 3;
    if (!receive_byte(go.read_end)) return 4;
    auto e = error_of([&] { (void)mine.stat(); });  // IPC_STAT needs read permission
    if (e) {
      EXPECT_EQ(e->errnum(), EACCES);
    }
    mine.set_mode(0600);  // IPC_SET does not: ipckit reads the rest from /proc/sysvipc/shm
    EXPECT_EQ(mine.stat().mode, 0600u);
    EXPECT_EQ(mine.stat().uid, 65534u);
    EXPECT_EQ(mine.stat().gid, 65534u);
    return 0;
  });
  id_pipe.write_end.reset();
  int id = -1;
  const bool got_id = id_pipe.read_end.read_exact(std::as_writable_bytes(std::span{&id, 1})).ok();
  std::optional<RemoveAtEnd> guard;
  if (got_id) {
    guard.emplace(SharedMemory::from_id(id));
    send_byte(go.write_end);
  }
  ExitStatus status = owner.wait();
  if (status.exited && status.code == kCannotDropPrivileges) GTEST_SKIP() << "setuid(65534) was refused";
  ASSERT_TRUE(got_id);
  EXPECT_TRUE(status.success()) << status.to_string();
  EXPECT_EQ(SharedMemory::from_id(id).stat().mode, 0600u);
}

TEST(SysvShm, SetOwnerToAnInvalidUidIsAnError) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  auto e = error_of([&] { segment.set_owner(static_cast<uid_t>(-1), 0); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->errnum(), EINVAL);
  EXPECT_EQ(e->syscall(), "shmctl(IPC_SET)");
  EXPECT_TRUE(contains(e->what(), "uid 4294967295")) << e->what();
  EXPECT_EQ(segment.stat().uid, ::geteuid());
}

}  // namespace
}  // namespace ipckit
