// Listing and removing IPC objects: list_sysv_shm / list_posix_shm against what the system's
// own tools say (lsipc, ipcs, ipcmk, Python's shm_open), and `ipckit ls` / `ipckit rm` as a
// user runs them.
//
// Other tests create System V segments and /dev/shm objects at the same time (ctest -j), so
// every check looks only at the objects this test made, by id, key or name. Each object is
// owned by a guard that removes it even when an assertion fails.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <semaphore.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "ipckit/inspect.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using nlohmann::json;
using test::run_cli;
using test::shell_output;

// --- guards -------------------------------------------------------------------------------

// A System V segment this test made; IPC_RMID (what ipcrm -m does) on destruction unless the
// test saw it go. Ids are not reused soon (the kernel cycles through them), so a late
// IPC_RMID can only hit our own segment.
class SysvSegment {
 public:
  explicit SysvSegment(int id) : id_(id) {}
  SysvSegment(const SysvSegment&) = delete;
  SysvSegment& operator=(const SysvSegment&) = delete;
  ~SysvSegment() {
    if (id_ >= 0) ::shmctl(id_, IPC_RMID, nullptr);
  }
  [[nodiscard]] int id() const { return id_; }
  [[nodiscard]] key_t key() const {
    struct shmid_ds ds {};
    EXPECT_EQ(::shmctl(id_, IPC_STAT, &ds), 0) << "IPC_STAT of id " << id_;
    return ds.shm_perm.__key;
  }
  void forget() { id_ = -1; }  // the test removed it and checked it is gone

 private:
  int id_;
};

// `ipcmk -M size`: a segment made by util-linux, with a random key and mode 0644.
SysvSegment make_with_ipcmk(std::size_t size) {
  const std::string out = shell_output("ipcmk -M " + std::to_string(size));
  const std::string prefix = "Shared memory id: ";
  const auto at = out.find(prefix);
  if (at == std::string::npos) {
    ADD_FAILURE() << "ipcmk said: " << out;
    return SysvSegment{-1};
  }
  return SysvSegment{std::stoi(out.substr(at + prefix.size()))};
}

// A segment with a key above 0x7fffffff, which /proc/sysvipc/shm prints as a negative number.
SysvSegment make_with_high_key(key_t& key_out) {
  auto base = static_cast<std::uint32_t>(
      0x80000000U | ((static_cast<std::uint32_t>(::getpid()) & 0xffffU) << 12));
  for (std::uint32_t k = base; k < base + 4096; ++k) {
    int id = ::shmget(static_cast<key_t>(k), 4096, IPC_CREAT | IPC_EXCL | 0600);
    if (id >= 0) {
      key_out = static_cast<key_t>(k);
      return SysvSegment{id};
    }
    if (errno != EEXIST) break;
  }
  ADD_FAILURE() << "shmget with a high key failed: " << std::strerror(errno);
  return SysvSegment{-1};
}

bool sysv_exists(int id) {
  struct shmid_ds ds {};
  return ::shmctl(id, IPC_STAT, &ds) == 0;
}

// A shmat of this process, detached on destruction.
class Attached {
 public:
  explicit Attached(int id) : address_(::shmat(id, nullptr, SHM_RDONLY)) {
    EXPECT_NE(address_, reinterpret_cast<void*>(-1)) << "shmat: " << std::strerror(errno);
  }
  Attached(const Attached&) = delete;
  Attached& operator=(const Attached&) = delete;
  ~Attached() { detach(); }
  void detach() {
    if (address_ != reinterpret_cast<void*>(-1)) ::shmdt(address_);
    address_ = reinterpret_cast<void*>(-1);
  }

 private:
  void* address_;
};

// A file of /dev/shm this test made (object, semaphore file, symlink or folder): removed on
// destruction.
class DevShmEntry {
 public:
  explicit DevShmEntry(std::string file) : file_(std::move(file)) {}
  DevShmEntry(const DevShmEntry&) = delete;
  DevShmEntry& operator=(const DevShmEntry&) = delete;
  ~DevShmEntry() {
    std::error_code ec;
    std::filesystem::remove(path(), ec);
  }
  [[nodiscard]] std::string path() const { return "/dev/shm/" + file_; }
  [[nodiscard]] std::string name() const { return "/" + file_; }  // as shm_open takes it
  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] bool exists() const {
    struct stat st {};
    return ::lstat(path().c_str(), &st) == 0;
  }

 private:
  std::string file_;
};

// A POSIX shm object made by Python's _posixshmem.shm_open (the libc call itself) and sized
// with os.ftruncate. Not multiprocessing.shared_memory: its resource tracker unlinks the
// object when the Python process exits (track=False needs 3.13), so nothing would be left.
void make_with_python(const DevShmEntry& entry, std::size_t size) {
  const std::string script =
      "import _posixshmem, os; "
      "fd = _posixshmem.shm_open('" +
      entry.name() +
      "', os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600); "
      "os.ftruncate(fd, " +
      std::to_string(size) + "); os.close(fd)";
  const std::string out = shell_output("python3 -c \"" + script + "\" 2>&1 && echo made");
  ASSERT_NE(out.find("made"), std::string::npos) << out;
  ASSERT_TRUE(entry.exists()) << entry.path();
}

// A plain POSIX shm object (shm_open + ftruncate from this process).
void make_posix(const DevShmEntry& entry, std::size_t size) {
  int fd = ::shm_open(entry.name().c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << entry.name() << ": " << std::strerror(errno);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  ::close(fd);
}

std::string unique_file() {
  return test::unique_name();
}

// --- what the system's tools say ----------------------------------------------------------

// lsipc prints every field as a string (util-linux 2.38) and a missing status as null;
// newer versions may print numbers. Text either way.
std::string text_of(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::optional<json> lsipc_segment(int id) {
  const std::string out = shell_output("lsipc -m --json --bytes --numeric-perms");
  // With no segment at all, lsipc 2.38 prints {"": []}: no "sharedmemory" key.
  const json all = json::parse(out);
  if (!all.contains("sharedmemory")) return std::nullopt;
  for (const json& seg : all.at("sharedmemory"))
    if (text_of(seg.at("id")) == std::to_string(id)) return seg;
  return std::nullopt;
}

// The words of `ipcs -m`'s row for `id`: key shmid owner perms bytes nattch [status].
std::vector<std::string> ipcs_row(int id) {
  std::istringstream lines(shell_output("ipcs -m"));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string w; words >> w;) row.push_back(w);
    if (row.size() >= 6 && row[1] == std::to_string(id)) return row;
  }
  return {};
}

std::optional<SysvShmInfo> listed_sysv(int id) {
  for (const SysvShmInfo& s : list_sysv_shm())
    if (s.id == id) return s;
  return std::nullopt;
}

std::optional<PosixShmInfo> listed_posix(const std::string& name) {
  for (const PosixShmInfo& o : list_posix_shm())
    if (o.name == name) return o;
  return std::nullopt;
}

std::string hex_key(key_t key) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<std::uint32_t>(key));
  return text;
}

const json* find_in(const json& array, const char* field, const json& value) {
  for (const json& e : array)
    if (e.at(field) == value) return &e;
  return nullptr;
}

json ls_json(const std::vector<std::string>& flags) {
  std::vector<std::string> args{"ls", "--json"};
  args.insert(args.end(), flags.begin(), flags.end());
  auto r = run_cli(args);
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  return json::parse(r.out);
}

// --- list_sysv_shm --------------------------------------------------------------------------

TEST(InspectSysvShm, IpcmkSegmentAgreesWithLsipcAndIpcsFieldByField) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  Attached attached(seg.id());  // nattch 1, lpid this process

  auto mine = listed_sysv(seg.id());
  ASSERT_TRUE(mine) << "id " << seg.id() << " not listed";
  auto theirs = lsipc_segment(seg.id());
  ASSERT_TRUE(theirs) << "lsipc does not show id " << seg.id();

  EXPECT_EQ(mine->key, text_of(theirs->at("key")));
  EXPECT_EQ(mine->key, hex_key(seg.key()));
  EXPECT_EQ(std::to_string(mine->id), text_of(theirs->at("id")));
  EXPECT_EQ(std::to_string(mine->size), text_of(theirs->at("size")));
  EXPECT_EQ(mine->size, 4096u);
  EXPECT_EQ(mine->perms, text_of(theirs->at("perms")));
  EXPECT_EQ(mine->perms, "0644");  // ipcmk's default mode
  EXPECT_EQ(mine->owner, text_of(theirs->at("owner")));
  EXPECT_EQ(mine->owner, user_name(::getuid()));
  EXPECT_EQ(mine->uid, ::getuid());
  EXPECT_EQ(std::to_string(mine->nattch), text_of(theirs->at("nattch")));
  EXPECT_EQ(mine->nattch, 1u);
  EXPECT_EQ(std::to_string(mine->cpid), text_of(theirs->at("cpid")));
  EXPECT_GT(mine->cpid, 0);
  EXPECT_EQ(std::to_string(mine->lpid), text_of(theirs->at("lpid")));
  EXPECT_EQ(mine->lpid, ::getpid());
  EXPECT_EQ(mine->status, text_of(theirs->at("status")));
  EXPECT_EQ(mine->status, "");
  EXPECT_GT(mine->ctime, 0);
  EXPECT_GT(mine->atime, 0);  // attached above

  auto row = ipcs_row(seg.id());
  ASSERT_GE(row.size(), 6u) << "ipcs -m does not show id " << seg.id();
  EXPECT_EQ(row[0], mine->key);
  EXPECT_EQ(row[2], mine->owner);
  EXPECT_EQ(std::stoi(row[3], nullptr, 8), std::stoi(mine->perms, nullptr, 8));  // ipcs: "644"
  EXPECT_EQ(row[4], std::to_string(mine->size));
  EXPECT_EQ(row[5], std::to_string(mine->nattch));
}

TEST(InspectSysvShm, ListIsOrderedById) {
  SysvSegment a = make_with_ipcmk(4096);
  SysvSegment b = make_with_ipcmk(8192);
  auto all = list_sysv_shm();
  EXPECT_TRUE(
      std::is_sorted(all.begin(), all.end(),
                     [](const SysvShmInfo& x, const SysvShmInfo& y) { return x.id < y.id; }));
  EXPECT_TRUE(listed_sysv(a.id()));
  EXPECT_TRUE(listed_sysv(b.id()));
}

TEST(InspectSysvShm, AttachedSegmentMarkedForRemovalShowsDestAndKeyZero) {
  int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_GE(id, 0) << std::strerror(errno);
  SysvSegment seg(id);
  Attached attached(id);
  ASSERT_EQ(::shmctl(id, IPC_RMID, nullptr), 0);

  auto mine = listed_sysv(id);
  ASSERT_TRUE(mine) << "a segment still attached lives on until its last detach";
  EXPECT_EQ(mine->status, "dest");
  EXPECT_EQ(mine->key, "0x00000000");
  EXPECT_EQ(mine->perms, "0600");  // SHM_DEST is not a permission bit
  EXPECT_EQ(mine->nattch, 1u);
  auto theirs = lsipc_segment(id);
  ASSERT_TRUE(theirs);
  EXPECT_EQ(text_of(theirs->at("status")), "dest");
  EXPECT_EQ(text_of(theirs->at("perms")), "0600");

  attached.detach();
  EXPECT_FALSE(listed_sysv(id)) << "destroyed at the last detach";
  seg.forget();
}

TEST(InspectSysvShm, KeyAboveInt32MaxIsShownAsUnsignedHexLikeLsipc) {
  key_t key = 0;
  SysvSegment seg = make_with_high_key(key);
  ASSERT_GE(seg.id(), 0);
  auto mine = listed_sysv(seg.id());
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->key, hex_key(key));
  EXPECT_EQ(mine->key.substr(0, 3), "0x8");
  auto theirs = lsipc_segment(seg.id());
  ASSERT_TRUE(theirs);
  EXPECT_EQ(mine->key, text_of(theirs->at("key")));
}

// --- list_posix_shm -------------------------------------------------------------------------

TEST(InspectPosixShm, ObjectMadeByPythonIsListedWithItsRealSize) {
  DevShmEntry entry(unique_file());
  make_with_python(entry, 12345);
  auto mine = listed_posix(entry.name());
  ASSERT_TRUE(mine) << entry.name() << " not listed";
  EXPECT_EQ(mine->size, 12345u);
  EXPECT_EQ(mine->perms, "0600");
  EXPECT_EQ(mine->owner, user_name(::getuid()));
  EXPECT_EQ(mine->uid, ::getuid());
  auto all = list_posix_shm();
  EXPECT_TRUE(
      std::is_sorted(all.begin(), all.end(),
                     [](const PosixShmInfo& x, const PosixShmInfo& y) { return x.name < y.name; }));
}

TEST(InspectPosixShm, SemaphoresSymlinksAndFoldersAreLeftOut) {
  DevShmEntry object(unique_file());
  make_posix(object, 100);

  const std::string sem_name = "/" + unique_file();
  sem_t* sem = ::sem_open(sem_name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED) << std::strerror(errno);
  ::sem_close(sem);
  DevShmEntry sem_file("sem." + sem_name.substr(1));
  ASSERT_TRUE(sem_file.exists()) << "glibc keeps named semaphores in " << sem_file.path();

  DevShmEntry link(unique_file());
  ASSERT_EQ(::symlink(object.path().c_str(), link.path().c_str()), 0) << std::strerror(errno);
  DevShmEntry folder(unique_file());
  ASSERT_EQ(::mkdir(folder.path().c_str(), 0700), 0) << std::strerror(errno);

  EXPECT_TRUE(listed_posix(object.name()));
  EXPECT_FALSE(listed_posix(sem_file.name()));
  EXPECT_FALSE(listed_posix(link.name()));
  EXPECT_FALSE(listed_posix(folder.name()));
}

TEST(InspectUserName, NameOfRootAndNumberOfAUidWithoutName) {
  EXPECT_EQ(user_name(0), "root");
  EXPECT_EQ(user_name(3999999), "3999999");
}

// --- ipckit ls ------------------------------------------------------------------------------

TEST(LsCli, JsonHasEveryKeyOfTheContractAndShowsTheSegmentAsLsipcDoes) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  DevShmEntry object(unique_file());
  make_posix(object, 5000);

  json j = ls_json({});
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"channels", "posix_mq", "posix_shm", "sysv_msg",
                                            "sysv_sem", "sysv_shm"}));
  for (const char* later : {"sysv_msg", "sysv_sem", "posix_mq", "channels"}) {
    EXPECT_TRUE(j.at(later).is_array()) << later;
    EXPECT_TRUE(j.at(later).empty()) << later;
  }

  const json* s = find_in(j.at("sysv_shm"), "id", seg.id());
  ASSERT_NE(s, nullptr) << j.at("sysv_shm").dump();
  auto theirs = lsipc_segment(seg.id());
  ASSERT_TRUE(theirs);
  EXPECT_EQ(s->at("key").get<std::string>(), text_of(theirs->at("key")));
  EXPECT_EQ(s->at("owner").get<std::string>(), text_of(theirs->at("owner")));
  EXPECT_EQ(s->at("perms").get<std::string>(), text_of(theirs->at("perms")));
  EXPECT_EQ(s->at("size").dump(), text_of(theirs->at("size")));
  EXPECT_EQ(s->at("nattch").dump(), text_of(theirs->at("nattch")));
  EXPECT_EQ(s->at("cpid").dump(), text_of(theirs->at("cpid")));
  EXPECT_EQ(s->at("lpid").dump(), text_of(theirs->at("lpid")));
  EXPECT_EQ(s->at("status").get<std::string>(), "");
  EXPECT_TRUE(s->at("size").is_number_unsigned());
  EXPECT_TRUE(s->at("id").is_number_integer());

  const json* p = find_in(j.at("posix_shm"), "name", object.name());
  ASSERT_NE(p, nullptr) << j.at("posix_shm").dump();
  EXPECT_EQ(p->at("size"), 5000);
  EXPECT_EQ(p->at("perms"), "0600");
  EXPECT_EQ(p->at("owner"), user_name(::getuid()));
}

TEST(LsCli, TextShowsTheSegmentLikeIpcsAndAPosixSection) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  DevShmEntry object(unique_file());
  make_posix(object, 5000);

  auto r = run_cli({"ls"});
  ASSERT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_NE(r.out.find("------ Shared Memory Segments --------"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("POSIX Shared Memory"), std::string::npos) << r.out;

  bool seg_row = false, object_row = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    if (w.size() == 7 && w[0] == "key") {
      EXPECT_EQ(w, (std::vector<std::string>{"key", "shmid", "owner", "perms", "bytes", "nattch",
                                             "status"}));
    }
    if (w.size() >= 6 && w[1] == std::to_string(seg.id())) {
      seg_row = true;
      EXPECT_EQ(w[0], hex_key(seg.key()));
      EXPECT_EQ(w[2], user_name(::getuid()));
      EXPECT_EQ(w[3], "0644");
      EXPECT_EQ(w[4], "4096");
      EXPECT_EQ(w[5], "0");
    }
    if (!w.empty() && w[0] == object.name()) {
      object_row = true;
      EXPECT_EQ(w,
                (std::vector<std::string>{object.name(), "5000", user_name(::getuid()), "0600"}));
    }
  }
  EXPECT_TRUE(seg_row) << r.out;
  EXPECT_TRUE(object_row) << r.out;
}

TEST(LsCli, SysvPosixAndShmFiltersChooseTheSections) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  DevShmEntry object(unique_file());
  make_posix(object, 100);

  struct Case {
    std::vector<std::string> flags;
    bool sysv;
    bool posix;
  };
  for (const Case& c :
       {Case{{"--sysv"}, true, false}, Case{{"--posix"}, false, true}, Case{{"-m"}, true, true},
        Case{{"-m", "--sysv"}, true, false}, Case{{"-m", "--posix"}, false, true},
        Case{{"--sysv", "--posix"}, true, true}}) {
    std::string what;
    for (const auto& f : c.flags) what += f + " ";
    json j = ls_json(c.flags);
    EXPECT_EQ(j.size(), 6u) << what << "every key is always there";
    EXPECT_EQ(find_in(j.at("sysv_shm"), "id", seg.id()) != nullptr, c.sysv) << what;
    EXPECT_EQ(find_in(j.at("posix_shm"), "name", object.name()) != nullptr, c.posix) << what;
    if (!c.sysv) {
      EXPECT_TRUE(j.at("sysv_shm").empty()) << what;
    }
    if (!c.posix) {
      EXPECT_TRUE(j.at("posix_shm").empty()) << what;
    }

    std::vector<std::string> args{"ls"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    auto text = run_cli(args);
    ASSERT_EQ(text.status.shell_code(), 0) << what << text.err;
    EXPECT_EQ(text.out.find("Shared Memory Segments") != std::string::npos, c.sysv)
        << what << text.out;
    EXPECT_EQ(text.out.find(object.name()) != std::string::npos, c.posix) << what << text.out;
  }
}

TEST(LsCli, QueuesAndSemaphoresSayTheyAreNotSupportedYet) {
  for (const char* flag : {"-q", "-s"}) {
    auto r = run_cli({"ls", flag});
    EXPECT_EQ(r.status.shell_code(), 1) << flag;
    EXPECT_NE(r.err.find("not supported yet"), std::string::npos) << flag << ": " << r.err;
    EXPECT_EQ(r.out, "") << flag;
  }
}

TEST(LsCli, HelpNamesTheFlagsAndWhatIsNotListedYet) {
  auto r = run_cli({"ls", "--help"});
  EXPECT_EQ(r.status.shell_code(), 0);
  for (const char* s : {"Usage", "-m", "--sysv", "--posix", "--json", "sysv_shm", "posix_shm",
                        "channels", "not listed yet"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in\n" << r.out;
  auto top = run_cli({"--help"});
  EXPECT_NE(top.out.find(" ls "), std::string::npos) << top.out;
  EXPECT_NE(top.out.find(" rm "), std::string::npos) << top.out;
}

// --- ipckit rm ------------------------------------------------------------------------------

TEST(RmCli, RemovesASegmentById) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  ASSERT_TRUE(lsipc_segment(seg.id()));
  auto r = run_cli({"rm", "-m", std::to_string(seg.id())});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(lsipc_segment(seg.id())) << "still in lsipc";
  EXPECT_FALSE(sysv_exists(seg.id()));
  if (!sysv_exists(seg.id())) seg.forget();
}

TEST(RmCli, RemovesASegmentByKeyInHexOrDecimal) {
  SysvSegment hex = make_with_ipcmk(4096);
  SysvSegment dec = make_with_ipcmk(4096);
  ASSERT_GE(hex.id(), 0);
  ASSERT_GE(dec.id(), 0);
  const std::string hex_text = hex_key(hex.key());
  const std::string dec_text = std::to_string(static_cast<std::uint32_t>(dec.key()));

  auto r = run_cli({"rm", "-M", hex_text});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_FALSE(lsipc_segment(hex.id()));
  EXPECT_TRUE(lsipc_segment(dec.id())) << "only the key given goes";

  r = run_cli({"rm", "-M", dec_text});
  EXPECT_EQ(r.status.shell_code(), 0) << dec_text << ": " << r.err;
  EXPECT_FALSE(lsipc_segment(dec.id()));

  if (!sysv_exists(hex.id())) hex.forget();
  if (!sysv_exists(dec.id())) dec.forget();
}

TEST(RmCli, RemovesASegmentWhoseKeyIsAboveInt32Max) {
  key_t key = 0;
  SysvSegment seg = make_with_high_key(key);
  ASSERT_GE(seg.id(), 0);
  auto r = run_cli({"rm", "-M", hex_key(key)});
  EXPECT_EQ(r.status.shell_code(), 0) << hex_key(key) << ": " << r.err;
  EXPECT_FALSE(sysv_exists(seg.id()));
  if (!sysv_exists(seg.id())) seg.forget();
}

TEST(RmCli, AttachedSegmentIsMarkedForRemovalAndGoesAtItsLastDetach) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  Attached attached(seg.id());
  auto r = run_cli({"rm", "-m", std::to_string(seg.id())});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_NE(r.out.find("marked for removal"), std::string::npos) << r.out;
  auto mine = listed_sysv(seg.id());
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->status, "dest");
  attached.detach();
  EXPECT_FALSE(sysv_exists(seg.id()));
  if (!sysv_exists(seg.id())) seg.forget();
}

TEST(RmCli, RemovesAPosixObjectNamedWithOrWithoutTheSlash) {
  DevShmEntry with_slash(unique_file());
  DevShmEntry without(unique_file());
  make_with_python(with_slash, 12345);
  make_with_python(without, 4096);
  ASSERT_TRUE(listed_posix(with_slash.name()));

  auto r = run_cli({"rm", "--shm", with_slash.name()});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_FALSE(with_slash.exists());
  EXPECT_FALSE(listed_posix(with_slash.name()));
  EXPECT_TRUE(without.exists()) << "only the name given goes";

  r = run_cli({"rm", "--shm", without.file()});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_FALSE(without.exists());
}

// A segment made and removed: its id and key name nothing now (ids are not reused soon).
struct DeadSegment {
  int id = -1;
  key_t key = 0;
};
DeadSegment dead_segment() {
  SysvSegment seg = make_with_ipcmk(4096);
  DeadSegment dead{seg.id(), seg.key()};
  EXPECT_EQ(::shmctl(seg.id(), IPC_RMID, nullptr), 0);
  seg.forget();
  return dead;
}

TEST(RmCli, UnknownIdFailsNamingItAndRemovesNothingElse) {
  SysvSegment survivor = make_with_ipcmk(4096);
  ASSERT_GE(survivor.id(), 0);
  DevShmEntry object(unique_file());
  make_posix(object, 100);
  const DeadSegment dead = dead_segment();
  ASSERT_GE(dead.id, 0);

  for (const std::string& id : {std::to_string(dead.id), std::string("abc"), std::string("-5")}) {
    auto r = run_cli({"rm", "-m", id});
    EXPECT_EQ(r.status.shell_code(), 1) << id << ": " << r.err;
    EXPECT_NE(r.err.find("-m " + id), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_TRUE(sysv_exists(survivor.id()));
  EXPECT_TRUE(object.exists());
}

TEST(RmCli, UnknownKeyFailsNamingItAndRemovesNothingElse) {
  SysvSegment survivor = make_with_ipcmk(4096);
  ASSERT_GE(survivor.id(), 0);
  const DeadSegment dead = dead_segment();
  ASSERT_GE(dead.id, 0);

  for (const std::string& key : {hex_key(dead.key), std::string("0xzz"), std::string("0")}) {
    auto r = run_cli({"rm", "-M", key});
    EXPECT_EQ(r.status.shell_code(), 1) << key << ": " << r.err;
    EXPECT_NE(r.err.find("-M " + key), std::string::npos) << r.err;
  }
  EXPECT_TRUE(sysv_exists(survivor.id()));
}

TEST(RmCli, BadOrUnknownNameFailsNamingItAndRemovesNothingElse) {
  DevShmEntry survivor(unique_file());
  make_posix(survivor, 100);
  const std::string unknown = "/" + unique_file();
  for (const std::string& name : {std::string("a/b"), std::string("/"), unknown}) {
    auto r = run_cli({"rm", "--shm", name});
    EXPECT_EQ(r.status.shell_code(), 1) << name << ": " << r.err;
    EXPECT_NE(r.err.find("--shm " + name), std::string::npos) << r.err;
  }
  auto r = run_cli({"rm", "--shm", unknown});
  EXPECT_NE(r.err.find("no POSIX shared memory object"), std::string::npos) << r.err;
  EXPECT_TRUE(survivor.exists());
}

TEST(RmCli, SemaphoreFileIsNotRemovedAsSharedMemory) {
  const std::string sem_name = "/" + unique_file();
  sem_t* sem = ::sem_open(sem_name.c_str(), O_CREAT | O_EXCL, 0600, 0);
  ASSERT_NE(sem, SEM_FAILED) << std::strerror(errno);
  ::sem_close(sem);
  DevShmEntry sem_file("sem." + sem_name.substr(1));
  auto r = run_cli({"rm", "--shm", sem_file.name()});
  EXPECT_EQ(r.status.shell_code(), 1);
  EXPECT_NE(r.err.find("semaphore"), std::string::npos) << r.err;
  EXPECT_TRUE(sem_file.exists());
}

TEST(RmCli, SeveralObjectsRemovesTheValidOnesAndReportsEachFailure) {
  SysvSegment by_id = make_with_ipcmk(4096);
  SysvSegment by_key = make_with_ipcmk(4096);
  ASSERT_GE(by_id.id(), 0);
  ASSERT_GE(by_key.id(), 0);
  DevShmEntry object(unique_file());
  make_posix(object, 100);
  const DeadSegment dead = dead_segment();
  const std::string bad_name = "bad/name";

  auto r = run_cli({"rm", "-m", std::to_string(dead.id), "-m", std::to_string(by_id.id()), "--shm",
                    bad_name, "--shm", object.name(), "-M", hex_key(by_key.key()), "-M",
                    hex_key(dead.key)});
  EXPECT_EQ(r.status.shell_code(), 1) << r.err;
  EXPECT_FALSE(sysv_exists(by_id.id()));
  EXPECT_FALSE(sysv_exists(by_key.id()));
  EXPECT_FALSE(object.exists());

  // One line per failure, in the order given, each naming its object.
  std::vector<std::string> lines;
  std::istringstream err(r.err);
  for (std::string line; std::getline(err, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << r.err;
  EXPECT_NE(lines[0].find("-m " + std::to_string(dead.id)), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("--shm " + bad_name), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("-M " + hex_key(dead.key)), std::string::npos) << lines[2];

  if (!sysv_exists(by_id.id())) by_id.forget();
  if (!sysv_exists(by_key.id())) by_key.forget();
}

// Runs the ipckit command as user nobody (setpriv); returns what it printed and its exit code.
std::string run_cli_as_nobody(const std::string& args) {
  return shell_output("setpriv --reuid=65534 --regid=65534 --clear-groups " + test::cli_path() +
                      " " + args + " 2>&1; echo \"exit=$?\"");
}

TEST(RmCli, PermissionRefusalIsReportedAndNothingIsRemoved) {
  if (::geteuid() != 0 || shell_output("command -v setpriv").empty())
    GTEST_SKIP() << "needs root and setpriv to run ipckit as another user";
  SysvSegment seg = make_with_ipcmk(4096);  // root's, mode 0644: readable, not removable
  ASSERT_GE(seg.id(), 0);
  DevShmEntry object(unique_file());
  make_posix(object, 100);
  ASSERT_EQ(::chmod(object.path().c_str(), 0644), 0);

  for (const std::string& args : {"rm -m " + std::to_string(seg.id()),
                                  "rm -M " + hex_key(seg.key()), "rm --shm " + object.name()}) {
    const std::string out = run_cli_as_nobody(args);
    EXPECT_NE(out.find("exit=1"), std::string::npos) << args << ": " << out;
    EXPECT_NE(out.find(args.substr(3)), std::string::npos) << args << ": " << out;
    EXPECT_TRUE(out.find("EPERM") != std::string::npos || out.find("EACCES") != std::string::npos)
        << args << ": " << out;
  }
  EXPECT_TRUE(sysv_exists(seg.id()));
  EXPECT_TRUE(object.exists());
}

TEST(RmCli, FlagsNotSupportedYetFailBeforeAnythingIsRemoved) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  const std::vector<std::vector<std::string>> uses = {{"-q", "1"},   {"-Q", "0x1"},  {"-s", "1"},
                                                      {"-S", "0x1"}, {"--mq", "/x"}, {"--stale"}};
  for (const auto& use : uses) {
    std::vector<std::string> args{"rm", "-m", std::to_string(seg.id())};
    args.insert(args.end(), use.begin(), use.end());
    auto r = run_cli(args);
    EXPECT_EQ(r.status.shell_code(), 1) << use[0];
    EXPECT_NE(r.err.find("not supported yet"), std::string::npos) << use[0] << ": " << r.err;
    EXPECT_NE(r.err.find(use[0]), std::string::npos) << r.err;
    EXPECT_TRUE(sysv_exists(seg.id())) << use[0] << " removed the segment given with it";
  }
}

TEST(RmCli, NothingToRemoveIsAUsageError) {
  auto r = run_cli({"rm"});
  EXPECT_EQ(r.status.shell_code(), 2);
  EXPECT_NE(r.err.find("nothing to remove"), std::string::npos) << r.err;
}

TEST(RmCli, HelpNamesEveryFlag) {
  auto r = run_cli({"rm", "--help"});
  EXPECT_EQ(r.status.shell_code(), 0);
  for (const char* s : {"Usage", "-m", "-M", "-q", "-Q", "-s", "-S", "--shm", "--mq", "--stale",
                        "not supported yet"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in\n" << r.out;
}

}  // namespace
}  // namespace ipckit
