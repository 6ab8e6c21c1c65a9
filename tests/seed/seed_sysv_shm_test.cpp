// Conformance: the seed's claims about System V shared memory (共享内存), H1–H11, on the real
// kernel, through ipckit::sysv.
//
// Every segment a test makes is removed when the test ends, passed or failed: each is held by
// a RemoveAtEnd guard in the parent from the moment its id is known (IPC_PRIVATE where a key
// is not the point; otherwise a key from ftok on a file of the test's own TempDir). Children
// never hold guards: they _exit without running destructors, or return from Forked's body.

#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/mapping.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/sysv.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using test::RemoveAtEnd;

using sysv::Attachment;
using sysv::Key;
using sysv::SharedMemory;

// A file of `dir` to make keys from (ftok needs an existing path).
std::filesystem::path key_file(const test::TempDir& dir, std::string_view name = "key") {
  auto path = dir / name;
  std::ofstream(path) << "ipckit sysv key file\n";
  return path;
}

// Creates a keyed segment, exclusively, from a file of `dir`. ftok keys are only 32 bits
// (8 of proj_id, 8 of the device, 16 of the inode), so an unrelated segment may hold the key
// already: then the next file is tried, so that a test never touches a segment not its own.
struct Keyed {
  Key key;
  SharedMemory segment;
};
Keyed create_keyed(const test::TempDir& dir, std::size_t size, mode_t mode = 0600) {
  for (int attempt = 0;; ++attempt) {
    Key key = Key::from_path(key_file(dir, "key" + std::to_string(attempt)), 'I');
    try {
      return {key, SharedMemory::create({.key = key, .size = size, .mode = mode})};
    } catch (const Error& e) {
      if (e.errnum() != EEXIST || attempt == 20) throw;
    }
  }
}

void put(Attachment& a, std::string_view text, std::size_t offset = 0) {
  auto dst = a.subspan(offset, text.size());
  std::memcpy(dst.data(), text.data(), text.size());
}

std::string get(const Attachment& a, std::size_t length, std::size_t offset = 0) {
  auto src = a.subspan(offset, length);
  return {reinterpret_cast<const char*>(src.data()), length};
}

void send_int(const Fd& fd, int value) {
  ASSERT_TRUE(fd.write_all(std::as_bytes(std::span{&value, 1})).ok());
}

int receive_int(const Fd& fd) {
  int value = -1;
  IoResult r = fd.read_exact(std::as_writable_bytes(std::span{&value, 1}));
  EXPECT_TRUE(r.ok()) << to_string(r.status);
  return value;
}

// The words of `ipcs -m`'s line for segment `id`: key, shmid, owner, perms, bytes, nattch,
// and status when there is one. Empty when ipcs does not list it.
std::vector<std::string> ipcs_row(int id) {
  std::istringstream line(test::shell_output("ipcs -m | awk '$2 == " + std::to_string(id) + "'"));
  std::vector<std::string> words;
  for (std::string word; line >> word;) words.push_back(word);
  return words;
}

bool is_gone(int errnum) { return errnum == EINVAL || errnum == EIDRM; }

// With the sysctl kernel.shm_rmid_forced = 1 (0 by default), Linux marks a segment for
// removal when the process that created it exits: then H8 and the crash part of H11 do not
// hold, by the administrator's choice.
bool rmid_forced() {
  unsigned forced = 0;
  std::ifstream("/proc/sys/kernel/shm_rmid_forced") >> forced;
  return forced != 0;
}

TEST(SeedSysvShm, H1_ShmgetCreatesOrFindsASegmentByKeyAndNewSegmentsAreZeroFilled) {
  test::TempDir dir;
  auto [key, created] = create_keyed(dir, 8192);
  RemoveAtEnd guard(created);

  // Created: every byte is 0.
  {
    Attachment a = created.attach();
    ASSERT_EQ(a.size(), 8192u);
    for (std::byte b : a.bytes()) ASSERT_EQ(b, std::byte{0});
    put(a, "found by key");
  }

  // Found: the same key gives the same segment, with what was written.
  SharedMemory found = SharedMemory::create({.key = key, .size = 100, .exclusive = false});
  EXPECT_EQ(found.id(), created.id());
  EXPECT_EQ(SharedMemory::open(key).id(), created.id());
  EXPECT_EQ(get(found.attach(Access::read_only), 12), "found by key");
  EXPECT_EQ(found.stat().size, 8192u);  // finding it does not resize it

  // The kernel's own call: shmget with the key and no IPC_CREAT finds it too.
  EXPECT_EQ(::shmget(key.value(), 0, 0), created.id());

  // An IPC_PRIVATE segment is zero-filled as well.
  SharedMemory anonymous = SharedMemory::create({.size = 3 * 4096 + 5});
  RemoveAtEnd anonymous_guard(anonymous);
  Attachment b = anonymous.attach(Access::read_only);
  for (std::byte byte : b.bytes()) ASSERT_EQ(byte, std::byte{0});
}

TEST(SeedSysvShm, H2_CreateExclusiveOnAnExistingKeyFailsWithEexist) {
  test::TempDir dir;
  auto [key, segment] = create_keyed(dir, 4096);
  RemoveAtEnd guard(segment);

  // The kernel: IPC_CREAT | IPC_EXCL on a taken key is EEXIST.
  errno = 0;
  EXPECT_EQ(::shmget(key.value(), 4096, IPC_CREAT | IPC_EXCL | 0600), -1);
  EXPECT_EQ(errno, EEXIST);

  // ipckit: an Error naming the key and how to remove the segment.
  try {
    auto again = SharedMemory::create({.key = key, .size = 4096});
    RemoveAtEnd unexpected(again);
    FAIL() << "an exclusive create on a taken key succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EEXIST);
    const std::string what = e.what();
    EXPECT_NE(what.find(key.to_string()), std::string::npos) << what;
    EXPECT_NE(what.find("ipcrm -M " + key.to_string()), std::string::npos) << what;
    EXPECT_NE(what.find("ipckit rm -M " + key.to_string()), std::string::npos) << what;
  }
}

TEST(SeedSysvShm, H3_FtokMakesTheKeyFromAnExistingPathAndTheLow8BitsOfProjId) {
  test::TempDir dir;
  const auto a = key_file(dir, "a");
  const auto b = key_file(dir, "b");

  // Only the low 8 bits of proj_id count: 0x141 and 0x41 give the same key.
  EXPECT_EQ(Key::from_path(a, 0x141), Key::from_path(a, 0x41));
  EXPECT_NE(Key::from_path(a, 0x42), Key::from_path(a, 0x41));
  // glibc puts them in the key's top byte (the rest: 8 bits of the device, 16 of the inode).
  EXPECT_EQ(static_cast<std::uint32_t>(Key::from_path(a, 0x41).value()) >> 24, 0x41u);
  // The same as the C call.
  EXPECT_EQ(Key::from_path(a, 'I').value(), ::ftok(a.c_str(), 'I'));

  // The key comes from the file (its inode), not from the spelling of the path.
  EXPECT_EQ(Key::from_path(dir.path() / "." / "a", 'I'), Key::from_path(a, 'I'));
  // Another file, another key.
  EXPECT_NE(Key::from_path(b, 'I'), Key::from_path(a, 'I'));

  // The path must exist.
  const auto missing = dir / "missing";
  try {
    (void)Key::from_path(missing, 'I');
    FAIL() << "ftok of a missing path succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ENOENT);
    EXPECT_EQ(e.object(), missing.string());
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  // A proj_id whose low 8 bits are 0 is refused (those are the only bits ftok uses).
  try {
    (void)Key::from_path(a, 0x100);
    FAIL() << "proj_id 0x100 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), EINVAL);
    EXPECT_NE(std::string(e.what()).find("low 8 bits"), std::string::npos) << e.what();
  }
}

TEST(SeedSysvShm, H4_ShmatAttachesWhereTheKernelPicksAndShmRdonlyCannotWrite) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);

  // Two attachments in one process: two addresses, both chosen by the kernel, one memory.
  Attachment rw = segment.attach();
  Attachment ro = segment.attach(Access::read_only);
  ASSERT_TRUE(rw.valid());
  ASSERT_TRUE(ro.valid());
  EXPECT_NE(rw.bytes().data(), ro.bytes().data());
  EXPECT_TRUE(rw.writable());
  EXPECT_FALSE(ro.writable());
  put(rw, "seen through both");
  EXPECT_EQ(get(ro, 17), "seen through both");

  // Writing through a read-only attachment is a segmentation fault: the page is PROT_READ.
  test::Forked writer([&] {
    const struct rlimit no_core {};
    ::setrlimit(RLIMIT_CORE, &no_core);  // no core file from this expected crash
    ::signal(SIGSEGV, SIG_DFL);          // the kernel's action, not a sanitizer's report
    Attachment mine = segment.attach(Access::read_only);
    auto* p = static_cast<volatile char*>(static_cast<void*>(mine.bytes().data()));
    *p = 'X';
    return 0;  // not reached
  });
  ExitStatus status = writer.wait();
  EXPECT_FALSE(status.exited) << status.to_string();
  EXPECT_EQ(status.signal, SIGSEGV) << status.to_string();
  EXPECT_EQ(get(ro, 17), "seen through both");  // unchanged
}

TEST(SeedSysvShm, H5_ShmdtDetachesNattchDropsAndLpidNamesTheDetacher) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);

  Attachment a = segment.attach();
  sysv::ShmStat s = segment.stat();
  EXPECT_EQ(s.nattch, 1u);
  EXPECT_EQ(s.lpid, ::getpid());
  EXPECT_EQ(s.dtime, 0);

  a = Attachment{};  // shmdt
  EXPECT_FALSE(a.valid());
  s = segment.stat();
  EXPECT_EQ(s.nattch, 0u);
  EXPECT_EQ(s.lpid, ::getpid());
  EXPECT_NE(s.dtime, 0);

  // Another process attaches and detaches (explicitly, before it exits): lpid is its pid.
  test::Forked child([&] {
    {
      Attachment mine = segment.attach();
      EXPECT_EQ(segment.stat().nattch, 1u);
    }
    EXPECT_EQ(segment.stat().nattch, 0u);
    EXPECT_EQ(segment.stat().lpid, ::getpid());
    return 0;
  });
  ASSERT_TRUE(child.wait().success());
  s = segment.stat();
  EXPECT_EQ(s.nattch, 0u);
  EXPECT_EQ(s.lpid, child.pid());
}

TEST(SeedSysvShm, H6_IpcStatNattchCountsTheAttachedProcesses) {
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  EXPECT_EQ(segment.stat().nattch, 0u);

  Pipe attached = Pipe::create();  // child -> parent: "I am attached"
  Pipe go = Pipe::create();        // parent -> child: "detach and exit"
  test::Forked child([&] {
    Attachment mine = segment.attach();
    send_int(attached.write_end, 1);
    (void)receive_int(go.read_end);
    return 0;  // ~Attachment detaches
  });
  attached.write_end.reset();  // the child's copy is the only one: its death is end of stream
  ASSERT_EQ(receive_int(attached.read_end), 1);
  EXPECT_EQ(segment.stat().nattch, 1u);  // the child

  {
    Attachment mine = segment.attach();
    EXPECT_EQ(segment.stat().nattch, 2u);  // the child and this process
    send_int(go.write_end, 1);
    ASSERT_TRUE(child.wait().success());
    EXPECT_EQ(segment.stat().nattch, 1u);  // this process
  }
  EXPECT_EQ(segment.stat().nattch, 0u);
}

TEST(SeedSysvShm, H7_IpcRmidOnlyMarksAndTheLastDetachDestroys) {
  test::TempDir dir;
  auto [key, segment] = create_keyed(dir, 4096);
  RemoveAtEnd guard(segment);
  const int id = segment.id();

  Attachment a = segment.attach();
  put(a, "still here");
  EXPECT_EQ(segment.stat().key, key);

  segment.remove();  // IPC_RMID: marked, not gone
  sysv::ShmStat s = segment.stat();
  EXPECT_TRUE(s.marked_for_removal);
  EXPECT_EQ(s.key.value(), 0);  // the key reads 0 ...
  EXPECT_EQ(s.key.to_string(), "0x00000000");
  EXPECT_EQ(s.nattch, 1u);
  EXPECT_EQ(get(a, 10), "still here");  // ... and the memory is still there
  // ipcs shows the same: key 0x00000000, status dest.
  std::vector<std::string> row = ipcs_row(id);
  ASSERT_GE(row.size(), 7u) << test::shell_output("ipcs -m");
  EXPECT_EQ(row[0], "0x00000000");
  EXPECT_EQ(row[6], "dest");
  // The key no longer finds it.
  try {
    (void)SharedMemory::open(key);
    FAIL() << "a segment marked for removal was found by its key";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ENOENT);
  }

  // IPC_RMID may be called again.
  EXPECT_NO_THROW(segment.remove());

  // Linux-specific: a process may still attach a marked segment by its id.
  Attachment late = segment.attach(Access::read_only);
  EXPECT_EQ(get(late, 10), "still here");
  EXPECT_EQ(segment.stat().nattch, 2u);

  // The last detach destroys it.
  a = Attachment{};
  EXPECT_EQ(segment.stat().nattch, 1u);
  late = Attachment{};
  try {
    (void)segment.stat();
    FAIL() << "segment " << id << " outlived its last detach after IPC_RMID";
  } catch (const Error& e) {
    EXPECT_TRUE(is_gone(e.errnum())) << e.what();
  }
  EXPECT_TRUE(ipcs_row(id).empty());
  EXPECT_NO_THROW(segment.remove());  // gone: still not an error
}

TEST(SeedSysvShm, H8_TheSegmentOutlivesItsCreatorAndAnExitingProcessIsDetached) {
  if (rmid_forced()) GTEST_SKIP() << "kernel.shm_rmid_forced is 1: segments die with their creator here";
  test::TempDir dir;
  const Key key = Key::from_path(key_file(dir), 'I');
  Pipe id_pipe = Pipe::create();  // creator -> parent: the id
  Pipe go = Pipe::create();       // parent -> creator: "exit"
  test::Forked creator([&]() -> int {
    SharedMemory made = SharedMemory::create({.key = key, .size = 4096});
    auto* kept = new Attachment(made.attach());  // never detached by the program
    put(*kept, "made by the creator");
    send_int(id_pipe.write_end, made.id());
    (void)receive_int(go.read_end);
    ::_exit(0);  // exits still attached: the kernel detaches it
  });
  id_pipe.write_end.reset();  // the creator's copy is the only one: its death is end of stream
  const int id = receive_int(id_pipe.read_end);
  ASSERT_GE(id, 0);
  RemoveAtEnd guard(SharedMemory::from_id(id));

  SharedMemory segment = SharedMemory::open(key);  // an unrelated process would do just this
  EXPECT_EQ(segment.id(), id);
  Attachment mine = segment.attach(Access::read_only);
  EXPECT_EQ(segment.stat().nattch, 2u);
  EXPECT_EQ(segment.stat().cpid, creator.pid());

  send_int(go.write_end, 1);
  ExitStatus status = creator.wait();
  ASSERT_TRUE(status.success()) << status.to_string();

  // The creator is gone and was detached on its way out; the segment and its data remain.
  sysv::ShmStat s = segment.stat();
  EXPECT_EQ(s.nattch, 1u);
  EXPECT_EQ(s.lpid, creator.pid());
  EXPECT_FALSE(s.marked_for_removal);
  EXPECT_EQ(get(mine, 19), "made by the creator");

  // Nobody attached at all: it still exists, found by its key.
  mine = Attachment{};
  EXPECT_EQ(segment.stat().nattch, 0u);
  EXPECT_EQ(SharedMemory::open(key).id(), id);
  EXPECT_EQ(get(SharedMemory::open(key).attach(Access::read_only), 19), "made by the creator");
}

TEST(SeedSysvShm, H9_IpcSetChangesOwnerAndMode) {
  if (::geteuid() != 0) GTEST_SKIP() << "shows a change of owner to uid 65534 as root";
  SharedMemory segment = SharedMemory::create({.size = 4096});
  RemoveAtEnd guard(segment);
  EXPECT_EQ(segment.stat().mode, 0600u);

  segment.set_owner(65534, 65534);
  segment.set_mode(0640);
  sysv::ShmStat s = segment.stat();
  EXPECT_EQ(s.uid, 65534u);
  EXPECT_EQ(s.gid, 65534u);
  EXPECT_EQ(s.mode, 0640u);
  EXPECT_EQ(s.cuid, 0u);  // the creator stays who it was
  EXPECT_EQ(s.cgid, 0u);
  std::vector<std::string> row = ipcs_row(segment.id());
  ASSERT_GE(row.size(), 4u);
  EXPECT_EQ(row[3], "640");

  // The kernel's own call agrees.
  struct shmid_ds ds {};
  ASSERT_EQ(::shmctl(segment.id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.shm_perm.uid, 65534u);
  EXPECT_EQ(ds.shm_perm.mode & 0777, 0640u);

  // Back to root, so the removal at the end is the owner's.
  segment.set_owner(0, 0);
  segment.set_mode(0600);
  s = segment.stat();
  EXPECT_EQ(s.uid, 0u);
  EXPECT_EQ(s.mode, 0600u);
}

TEST(SeedSysvShm, H10_IpcsListsWhatIpckitMadeAndIpcrmRemovesIt) {
  test::TempDir dir;
  auto [key, segment] = create_keyed(dir, 12345, 0640);
  RemoveAtEnd guard(segment);
  Attachment a = segment.attach();
  const sysv::ShmStat s = segment.stat();

  // ipcs -m: key, shmid, owner, perms, bytes, nattch, as ipckit sees them.
  std::vector<std::string> row = ipcs_row(segment.id());
  ASSERT_GE(row.size(), 6u) << test::shell_output("ipcs -m");
  EXPECT_EQ(row[0], key.to_string());
  EXPECT_EQ(row[0], s.key.to_string());
  EXPECT_EQ(row[1], std::to_string(segment.id()));
  const struct passwd* owner = ::getpwuid(s.uid);  // NOLINT(concurrency-mt-unsafe): one thread
  EXPECT_EQ(row[2], owner != nullptr ? owner->pw_name : std::to_string(s.uid));
  EXPECT_EQ(row[3], "640");
  EXPECT_EQ(row[4], "12345");
  EXPECT_EQ(row[5], std::to_string(s.nattch));
  EXPECT_EQ(row[5], "1");

  // ipcrm -m ID: IPC_RMID, so while attached it is only marked ...
  EXPECT_EQ(test::shell_output("ipcrm -m " + std::to_string(segment.id()) + " && echo removed"), "removed\n");
  EXPECT_TRUE(segment.stat().marked_for_removal);
  EXPECT_EQ(segment.stat().key.value(), 0);
  // ... and the last detach destroys it.
  a = Attachment{};
  try {
    (void)segment.stat();
    FAIL() << "still there after ipcrm -m and the last detach";
  } catch (const Error& e) {
    EXPECT_TRUE(is_gone(e.errnum())) << e.what();
  }

  // ipcrm -M KEY: by key; with nothing attached the segment goes at once.
  auto [key2, segment2] = create_keyed(dir, 4096);
  RemoveAtEnd guard2(segment2);
  EXPECT_EQ(ipcs_row(segment2.id()).at(0), key2.to_string());
  EXPECT_EQ(test::shell_output("ipcrm -M " + key2.to_string() + " && echo removed"), "removed\n");
  EXPECT_TRUE(ipcs_row(segment2.id()).empty());
  try {
    (void)SharedMemory::open(key2);
    FAIL() << "found by its key after ipcrm -M";
  } catch (const Error& e) {
    EXPECT_EQ(e.errnum(), ENOENT);
  }
}

TEST(SeedSysvShm, H11_ShmNeedsNoFileSurvivesACrashAndAFileMappingKeepsItsDataInTheFile) {
  // The speed part of H11 (shm is faster than pipes) is the bench's job (`ipckit bench`),
  // not a test's; and "not a reboot" cannot be shown from inside one boot.

  // No file: an IPC_PRIVATE segment is named by nothing but its id. The kernel backs it with
  // an internal, unmounted shmem file ("/SYSV00000000" in /proc/self/maps), at no path.
  SharedMemory fileless = SharedMemory::create({.size = 4096});
  RemoveAtEnd fileless_guard(fileless);
  EXPECT_TRUE(fileless.stat().key.is_private());
  {
    Attachment a = fileless.attach();
    char address[32];
    std::snprintf(address, sizeof address, "%08lx-", reinterpret_cast<unsigned long>(a.bytes().data()));
    std::ifstream maps("/proc/self/maps");
    std::string line, entry;
    while (std::getline(maps, line))
      if (line.rfind(address, 0) == 0) entry = line;
    ASSERT_FALSE(entry.empty()) << "no /proc/self/maps entry at " << address;
    EXPECT_NE(entry.find("/SYSV00000000"), std::string::npos) << entry;
    EXPECT_FALSE(std::filesystem::exists("/SYSV00000000"));
  }

  // A file mapping: after unmapping, the data is in the file.
  test::TempDir dir;
  const auto file = dir / "mapped";
  {
    Mapping m = Mapping::map_file({.path = file, .create_size = 4096});
    auto dst = m.subspan(0, 12);
    std::memcpy(dst.data(), "in the file!", 12);
  }
  std::ifstream in(file, std::ios::binary);
  std::string first(12, '\0');
  in.read(first.data(), 12);
  EXPECT_EQ(first, "in the file!");

  // A crash: the creator is killed with SIGKILL while attached; the segment and its data
  // remain, and the dead process is detached.
  if (rmid_forced()) GTEST_SKIP() << "kernel.shm_rmid_forced is 1: segments die with their creator here";
  Pipe id_pipe = Pipe::create();
  Pipe never = Pipe::create();  // the creator blocks reading this until it is killed
  test::Forked creator([&] {
    SharedMemory made = SharedMemory::create({.size = 4096});
    Attachment a = made.attach();
    put(a, "survived the crash");
    send_int(id_pipe.write_end, made.id());
    (void)receive_int(never.read_end);
    return 1;  // not reached
  });
  id_pipe.write_end.reset();
  const int id = receive_int(id_pipe.read_end);
  ASSERT_GE(id, 0);
  RemoveAtEnd crash_guard(SharedMemory::from_id(id));
  ASSERT_EQ(::kill(creator.pid(), SIGKILL), 0);
  ExitStatus status = creator.wait();
  EXPECT_EQ(status.signal, SIGKILL) << status.to_string();

  SharedMemory survivor = SharedMemory::from_id(id);
  EXPECT_EQ(survivor.stat().nattch, 0u);
  EXPECT_EQ(survivor.stat().cpid, creator.pid());
  EXPECT_EQ(get(survivor.attach(Access::read_only), 18), "survived the crash");
}

}  // namespace
}  // namespace ipckit
