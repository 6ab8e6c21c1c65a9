// Listing and removing IPC objects: list_sysv_shm / _msg / _sem, list_posix_shm and
// list_posix_mq against what the system's own tools say (lsipc, ipcs, ipcmk, Python's
// shm_open, the mqueue filesystem), and `ipckit ls` / `ipckit rm` as a user runs them.
//
// Other tests create System V objects, /dev/shm objects and queues at the same time (ctest -j),
// so every check looks only at the objects this test made, by id, key or name. Each object is
// owned by a guard that removes it even when an assertion fails.
//
// POSIX message queues can be listed only through the mqueue filesystem, which this machine
// does not mount. Tests that list them mount it in a private mount namespace (unshare -m, as
// root), on a folder of their own: the host's mounts never change.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <mqueue.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
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
#include "ipckit/mqueue.hpp"
#include "ipckit/sysv.hpp"
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

// A System V message queue or semaphore set this test made; IPC_RMID (what ipcrm -q / -s
// does) on destruction unless the test saw it go.
enum class SysvKind { msg, sem };

class SysvObject {
 public:
  SysvObject(SysvKind kind, int id) : kind_(kind), id_(id) {}
  SysvObject(const SysvObject&) = delete;
  SysvObject& operator=(const SysvObject&) = delete;
  ~SysvObject() {
    if (id_ < 0) return;
    if (kind_ == SysvKind::msg) {
      ::msgctl(id_, IPC_RMID, nullptr);
    } else {
      ::semctl(id_, 0, IPC_RMID);
    }
  }
  [[nodiscard]] int id() const { return id_; }
  [[nodiscard]] bool exists() const {
    if (kind_ == SysvKind::msg) {
      struct msqid_ds ds {};
      return ::msgctl(id_, IPC_STAT, &ds) == 0;
    }
    struct semid_ds ds {};
    return ::semctl(id_, 0, IPC_STAT, &ds) == 0;
  }
  [[nodiscard]] key_t key() const {
    if (kind_ == SysvKind::msg) {
      struct msqid_ds ds {};
      EXPECT_EQ(::msgctl(id_, IPC_STAT, &ds), 0) << "IPC_STAT of queue " << id_;
      return ds.msg_perm.__key;
    }
    struct semid_ds ds {};
    EXPECT_EQ(::semctl(id_, 0, IPC_STAT, &ds), 0) << "IPC_STAT of set " << id_;
    return ds.sem_perm.__key;
  }
  /// Removes it now (IPC_RMID) and forgets it: its id and key then name nothing.
  void remove_now() {
    if (kind_ == SysvKind::msg) {
      EXPECT_EQ(::msgctl(id_, IPC_RMID, nullptr), 0);
    } else {
      EXPECT_EQ(::semctl(id_, 0, IPC_RMID), 0);
    }
    id_ = -1;
  }
  void forget_if_gone() {
    if (!exists()) id_ = -1;
  }

 private:
  SysvKind kind_;
  int id_;
};

// `ipcmk -Q` (a queue) or `ipcmk -S n` (a set of n): made by util-linux, random key, mode 0644.
SysvObject make_queue_with_ipcmk() {
  const std::string out = shell_output("ipcmk -Q");
  const std::string prefix = "Message queue id: ";
  const auto at = out.find(prefix);
  if (at == std::string::npos) {
    ADD_FAILURE() << "ipcmk said: " << out;
    return SysvObject{SysvKind::msg, -1};
  }
  return SysvObject{SysvKind::msg, std::stoi(out.substr(at + prefix.size()))};
}

SysvObject make_set_with_ipcmk(int nsems) {
  const std::string out = shell_output("ipcmk -S " + std::to_string(nsems));
  const std::string prefix = "Semaphore id: ";
  const auto at = out.find(prefix);
  if (at == std::string::npos) {
    ADD_FAILURE() << "ipcmk said: " << out;
    return SysvObject{SysvKind::sem, -1};
  }
  return SysvObject{SysvKind::sem, std::stoi(out.substr(at + prefix.size()))};
}

// Puts messages into a System V queue with the library (msgsnd).
void send_to(const SysvObject& queue, long type, std::string_view text) {
  auto q = sysv::MessageQueue::from_id(queue.id());
  ASSERT_EQ(q.send(type, std::as_bytes(std::span{text.data(), text.size()}), Deadline::now()),
            IoStatus::ok);
}

// A POSIX message queue this test made: mq_unlink on destruction (a queue already gone is fine).
class PosixQueue {
 public:
  explicit PosixQueue(long max_messages = 5, long message_size = 100, mode_t mode = 0600)
      : name_("/" + test::unique_name()),
        queue_(MessageQueue::create({.name = name_,
                                     .max_messages = max_messages,
                                     .message_size = message_size,
                                     .mode = mode})) {}
  PosixQueue(const PosixQueue&) = delete;
  PosixQueue& operator=(const PosixQueue&) = delete;
  ~PosixQueue() { ::mq_unlink(name_.c_str()); }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const MessageQueue& queue() const { return queue_; }
  void send(std::string_view text, unsigned priority = 0) const {
    ASSERT_EQ(queue_.send(std::as_bytes(std::span{text.data(), text.size()}), priority,
                          Deadline::now()),
              IoStatus::ok);
  }
  /// Whether the name still opens a queue (mq_open works with or without the mqueue mount).
  [[nodiscard]] bool exists() const {
    const mqd_t q = ::mq_open(name_.c_str(), O_RDONLY | O_CLOEXEC);
    if (q == static_cast<mqd_t>(-1)) return false;
    ::mq_close(q);
    return true;
  }

 private:
  std::string name_;  // before queue_: it is created first
  MessageQueue queue_;
};

// --- what the system's tools say ----------------------------------------------------------

// lsipc prints every field as a string (util-linux 2.38) and a missing status as null;
// newer versions may print numbers. Text either way.
std::string text_of(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// The object with `id` in `lsipc <flag> --json --bytes [more]` under `top` ("messages",
// "semaphores"), if any.
std::optional<json> lsipc_object(const std::string& flag, const char* top, int id,
                                 const std::string& more = "--numeric-perms") {
  const json all = json::parse(shell_output("lsipc " + flag + " --json --bytes " + more));
  if (!all.contains(top)) return std::nullopt;  // none at all: lsipc 2.38 prints {"": []}
  for (const json& o : all.at(top))
    if (text_of(o.at("id")) == std::to_string(id)) return o;
  return std::nullopt;
}

// "rw-r--r--" as "0644".
std::string octal_of_symbolic(const std::string& text) {
  unsigned mode = 0;
  for (char c : text) mode = (mode << 1) | (c == '-' ? 0U : 1U);
  char out[8];
  std::snprintf(out, sizeof out, "%04o", mode & 0777U);
  return text.size() == 9 ? out : "not rwx: " + text;
}

// lsipc's perms of a queue as "0644". util-linux 2.38 prints null for `lsipc -q
// --numeric-perms` (a bug of that version), so fall back to the symbolic form.
std::string lsipc_queue_perms(int id) {
  auto numeric = lsipc_object("-q", "messages", id);
  if (numeric && !numeric->at("perms").is_null()) return text_of(numeric->at("perms"));
  auto symbolic = lsipc_object("-q", "messages", id, "");
  return symbolic ? octal_of_symbolic(text_of(symbolic->at("perms"))) : "not in lsipc";
}

// The words of `ipcs <flag>`'s row whose second column is `id`.
std::vector<std::string> ipcs_row(const std::string& flag, int id, std::size_t min_words) {
  std::istringstream lines(shell_output("ipcs " + flag));
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string w; words >> w;) row.push_back(w);
    if (row.size() >= min_words && row[1] == std::to_string(id)) return row;
  }
  return {};
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
std::vector<std::string> ipcs_row(int id) { return ipcs_row("-m", id, 6); }

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

std::optional<SysvMsgInfo> listed_queue(int id) {
  for (const SysvMsgInfo& q : list_sysv_msg())
    if (q.id == id) return q;
  return std::nullopt;
}

std::optional<SysvSemInfo> listed_set(int id) {
  for (const SysvSemInfo& s : list_sysv_sem())
    if (s.id == id) return s;
  return std::nullopt;
}

// --- private mount namespaces, for the mqueue filesystem -----------------------------------

// Root may make a private mount namespace (unshare -m), where mounting the mqueue filesystem
// leaves the host's mounts alone.
bool can_make_private_mounts() {
  return ::geteuid() == 0 && shell_output("unshare -m true 2>/dev/null && echo yes") == "yes\n";
}

std::string sh_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Shell commands that leave a private mount namespace with no mqueue mount at all (whatever
// the host has), or with one at `dir` only.
const std::string kUnmountEveryMqueue = "{ umount -a -t mqueue 2>/dev/null; true; }";
std::string mount_mqueue_at(const std::filesystem::path& dir) {
  return kUnmountEveryMqueue + " && mount -t mqueue none " + sh_quote(dir.string());
}

// Runs `[as_user] ipckit ARGS` in a private mount namespace after `setup` (shell commands
// run there first); returns its exit code and what it printed.
struct PrivateRun {
  int code = -1;
  std::string out;
  std::string err;
};
PrivateRun run_cli_in_private_mounts(const std::string& setup, const std::vector<std::string>& args,
                                     const std::string& as_user = "") {
  test::TempDir scratch;
  const std::string err_file = (scratch / "stderr").string();
  std::string script = setup + " && exec " + as_user + " " + sh_quote(test::cli_path());
  for (const std::string& a : args) script += " " + sh_quote(a);
  std::string out =
      shell_output("unshare -m sh -c " + sh_quote(script) + " 2>" + err_file + "; echo \"exit=$?\"");
  PrivateRun run;
  const auto at = out.rfind("exit=");
  if (at != std::string::npos) {
    run.code = std::stoi(out.substr(at + 5));
    out.erase(at);
  }
  run.out = out;
  run.err = test::file_bytes(err_file);
  return run;
}

// In a forked child: makes this process's mounts private (unshare(CLONE_NEWNS)) and takes
// away every mqueue mount it inherited.
void enter_private_mounts_without_mqueue() {
  ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
  for (std::string point = mqueue_mount_point(); !point.empty(); point = mqueue_mount_point())
    ASSERT_EQ(::umount2(point.c_str(), MNT_DETACH), 0) << point << ": " << std::strerror(errno);
}

// Runs `body` in a forked child inside a private mount namespace with no mqueue mount.
void in_private_mounts(const std::function<void()>& body) {
  test::Forked child([&] {
    enter_private_mounts_without_mqueue();
    if (::testing::Test::HasFatalFailure()) return 1;
    body();
    return 0;
  });
  const ExitStatus st = child.wait();
  EXPECT_TRUE(st.success()) << st.to_string() << " (the child's failures are printed above)";
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

// --- list_sysv_msg, list_sysv_sem -----------------------------------------------------------

TEST(InspectSysvMsg, IpcmkQueueAgreesWithLsipcAndIpcsFieldByField) {
  SysvObject queue = make_queue_with_ipcmk();
  ASSERT_GE(queue.id(), 0);

  auto mine = listed_queue(queue.id());
  ASSERT_TRUE(mine) << "queue " << queue.id() << " not listed";
  auto theirs = lsipc_object("-q", "messages", queue.id());
  ASSERT_TRUE(theirs) << "lsipc does not show queue " << queue.id();

  EXPECT_EQ(mine->key, text_of(theirs->at("key")));
  EXPECT_EQ(mine->key, hex_key(queue.key()));
  EXPECT_EQ(std::to_string(mine->id), text_of(theirs->at("id")));
  EXPECT_EQ(mine->owner, text_of(theirs->at("owner")));
  EXPECT_EQ(mine->owner, user_name(::getuid()));
  EXPECT_EQ(mine->uid, ::getuid());
  EXPECT_EQ(mine->perms, lsipc_queue_perms(queue.id()));
  EXPECT_EQ(mine->perms, "0644");  // ipcmk's default mode
  EXPECT_EQ(std::to_string(mine->used_bytes), text_of(theirs->at("usedbytes")));
  EXPECT_EQ(std::to_string(mine->messages), text_of(theirs->at("msgs")));
  EXPECT_EQ(mine->messages, 0u);
  EXPECT_EQ(mine->used_bytes, 0u);
  EXPECT_EQ(std::to_string(mine->lspid), text_of(theirs->at("lspid")));
  EXPECT_EQ(std::to_string(mine->lrpid), text_of(theirs->at("lrpid")));
  EXPECT_GT(mine->ctime, 0);
  EXPECT_EQ(mine->stime, 0) << "nothing sent yet";

  auto row = ipcs_row("-q", queue.id(), 6);  // key msqid owner perms used-bytes messages
  ASSERT_EQ(row.size(), 6u) << "ipcs -q does not show queue " << queue.id();
  EXPECT_EQ(row[0], mine->key);
  EXPECT_EQ(row[2], mine->owner);
  EXPECT_EQ(std::stoi(row[3], nullptr, 8), std::stoi(mine->perms, nullptr, 8));  // ipcs: "644"
  EXPECT_EQ(row[4], std::to_string(mine->used_bytes));
  EXPECT_EQ(row[5], std::to_string(mine->messages));
}

TEST(InspectSysvMsg, QueueHoldingMessagesShowsTheirCountAndBytesLikeLsipc) {
  SysvObject queue = make_queue_with_ipcmk();
  ASSERT_GE(queue.id(), 0);
  send_to(queue, 1, "hello");
  send_to(queue, 7, "goodbye!");

  auto mine = listed_queue(queue.id());
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->messages, 2u);
  EXPECT_EQ(mine->used_bytes, 13u);  // the text only, not the types
  EXPECT_EQ(mine->lspid, ::getpid());
  EXPECT_EQ(mine->lrpid, 0);
  EXPECT_GT(mine->stime, 0);

  auto theirs = lsipc_object("-q", "messages", queue.id());
  ASSERT_TRUE(theirs);
  EXPECT_EQ(text_of(theirs->at("msgs")), "2");
  EXPECT_EQ(text_of(theirs->at("usedbytes")), "13");
  EXPECT_EQ(text_of(theirs->at("lspid")), std::to_string(::getpid()));
  auto row = ipcs_row("-q", queue.id(), 6);
  ASSERT_EQ(row.size(), 6u);
  EXPECT_EQ(row[4], "13");
  EXPECT_EQ(row[5], "2");
}

TEST(InspectSysvSem, IpcmkSetAgreesWithLsipcAndIpcsFieldByField) {
  SysvObject set = make_set_with_ipcmk(3);
  ASSERT_GE(set.id(), 0);

  auto mine = listed_set(set.id());
  ASSERT_TRUE(mine) << "set " << set.id() << " not listed";
  auto theirs = lsipc_object("-s", "semaphores", set.id());
  ASSERT_TRUE(theirs) << "lsipc does not show set " << set.id();

  EXPECT_EQ(mine->key, text_of(theirs->at("key")));
  EXPECT_EQ(mine->key, hex_key(set.key()));
  EXPECT_EQ(std::to_string(mine->id), text_of(theirs->at("id")));
  EXPECT_EQ(mine->owner, text_of(theirs->at("owner")));
  EXPECT_EQ(mine->perms, text_of(theirs->at("perms")));
  EXPECT_EQ(mine->perms, "0644");
  EXPECT_EQ(std::to_string(mine->nsems), text_of(theirs->at("nsems")));
  EXPECT_EQ(mine->nsems, 3u);
  EXPECT_EQ(mine->uid, ::getuid());
  EXPECT_GT(mine->ctime, 0);

  auto row = ipcs_row("-s", set.id(), 5);  // key semid owner perms nsems
  ASSERT_EQ(row.size(), 5u) << "ipcs -s does not show set " << set.id();
  EXPECT_EQ(row[0], mine->key);
  EXPECT_EQ(row[2], mine->owner);
  EXPECT_EQ(std::stoi(row[3], nullptr, 8), 0644);
  EXPECT_EQ(row[4], "3");
}

TEST(InspectSysvSem, QueuesAndSetsAreOrderedByIdAndKeptApart) {
  SysvObject q1 = make_queue_with_ipcmk();
  SysvObject q2 = make_queue_with_ipcmk();
  SysvObject s1 = make_set_with_ipcmk(1);
  SysvObject s2 = make_set_with_ipcmk(2);
  const auto queues = list_sysv_msg();
  const auto sets = list_sysv_sem();
  EXPECT_TRUE(std::is_sorted(queues.begin(), queues.end(),
                             [](const auto& a, const auto& b) { return a.id < b.id; }));
  EXPECT_TRUE(std::is_sorted(sets.begin(), sets.end(),
                             [](const auto& a, const auto& b) { return a.id < b.id; }));
  EXPECT_TRUE(listed_queue(q1.id()));
  EXPECT_TRUE(listed_queue(q2.id()));
  ASSERT_TRUE(listed_set(s2.id()));
  EXPECT_EQ(listed_set(s1.id())->nsems, 1u);
  EXPECT_EQ(listed_set(s2.id())->nsems, 2u);
  // Ids of queues and sets are counted apart: a queue's key is never listed as a set's.
  EXPECT_EQ(listed_queue(q1.id())->key, hex_key(q1.key()));
  EXPECT_EQ(listed_set(s1.id())->key, hex_key(s1.key()));
}

// --- list_posix_mq ------------------------------------------------------------------------

TEST(InspectPosixMq, QueueWithMessagesIsListedWithItsLimitsCountAndBytes) {
  if (!can_make_private_mounts()) GTEST_SKIP() << "needs root and unshare -m";
  PosixQueue queue(5, 100, 0640);
  PosixQueue other(3, 64);
  queue.send("hello", 1);
  queue.send("goodbye", 3);
  test::TempDir dir;

  in_private_mounts([&] {
    ASSERT_EQ(::mount("none", dir.path().c_str(), "mqueue", 0, nullptr), 0) << std::strerror(errno);
    EXPECT_EQ(mqueue_mount_point(), dir.path().string());
    const auto all = list_posix_mq();
    EXPECT_TRUE(std::is_sorted(all.begin(), all.end(),
                               [](const auto& a, const auto& b) { return a.name < b.name; }));
    const auto it = std::find_if(all.begin(), all.end(),
                                 [&](const PosixMqInfo& q) { return q.name == queue.name(); });
    ASSERT_NE(it, all.end()) << queue.name() << " not listed";
    EXPECT_EQ(it->messages, 2u);
    EXPECT_EQ(it->msg_max, 5u);
    EXPECT_EQ(it->msgsize_max, 100u);
    EXPECT_EQ(it->bytes, 12u);
    EXPECT_EQ(it->perms, "0640");
    EXPECT_EQ(it->owner, user_name(::getuid()));
    EXPECT_EQ(it->uid, ::getuid());
    // What the queue's own file says.
    const std::string file = test::file_bytes(dir.path() / queue.name().substr(1));
    EXPECT_EQ(file.rfind("QSIZE:12 ", 0), 0u) << file;

    const auto empty = std::find_if(all.begin(), all.end(),
                                    [&](const PosixMqInfo& q) { return q.name == other.name(); });
    ASSERT_NE(empty, all.end());
    EXPECT_EQ(empty->messages, 0u);
    EXPECT_EQ(empty->msg_max, 3u);
    EXPECT_EQ(empty->msgsize_max, 64u);
  });
  EXPECT_EQ(queue.queue().attributes().current_messages, 2) << "listing received nothing";
}

TEST(InspectPosixMq, QueueThisUserMayNotOpenIsListedAsNotReadable) {
  if (!can_make_private_mounts()) GTEST_SKIP() << "needs root and unshare -m";
  PosixQueue mine(4, 128, 0600);  // root's: user nobody may not open it
  mine.send("x", 0);
  PosixQueue everyones(3, 64, 0644);
  test::TempDir dir;
  in_private_mounts([&] {
    ASSERT_EQ(::mount("none", dir.path().c_str(), "mqueue", 0, nullptr), 0) << std::strerror(errno);
    ASSERT_EQ(::setresgid(65534, 65534, 65534), 0) << std::strerror(errno);
    ASSERT_EQ(::setresuid(65534, 65534, 65534), 0) << std::strerror(errno);
    const auto all = list_posix_mq(dir.path().string());
    auto listed = [&](const std::string& name) {
      return std::find_if(all.begin(), all.end(),
                          [&](const PosixMqInfo& q) { return q.name == name; });
    };
    const auto closed = listed(mine.name());
    ASSERT_NE(closed, all.end()) << mine.name() << " not listed";
    EXPECT_FALSE(closed->readable);
    EXPECT_EQ(closed->perms, "0600");
    EXPECT_EQ(closed->uid, 0u);
    const auto open = listed(everyones.name());
    ASSERT_NE(open, all.end()) << everyones.name() << " not listed";
    EXPECT_TRUE(open->readable);
    EXPECT_EQ(open->msg_max, 3u);
  });
}

TEST(InspectPosixMq, MountPointWithABlankInItsPathIsFound) {
  if (!can_make_private_mounts()) GTEST_SKIP() << "needs root and unshare -m";
  test::TempDir dir;
  const std::filesystem::path point = dir / "my queues";
  std::filesystem::create_directory(point);
  in_private_mounts([&] {
    ASSERT_EQ(::mount("none", point.c_str(), "mqueue", 0, nullptr), 0) << std::strerror(errno);
    EXPECT_EQ(mqueue_mount_point(), point.string());  // /proc/self/mountinfo says "my\040queues"
  });
}

TEST(InspectPosixMq, NotMountedThrowsSayingHowToMount) {
  if (!can_make_private_mounts()) GTEST_SKIP() << "needs root and unshare -m";
  in_private_mounts([] {
    EXPECT_EQ(mqueue_mount_point(), "");
    const Error e = test::error_from([] { (void)list_posix_mq(); });
    EXPECT_EQ(e.hint(), mqueue_mount_hint());
    const std::string message = e.what();
    EXPECT_NE(message.find("not mounted"), std::string::npos) << message;
    EXPECT_NE(message.find("mount -t mqueue none /dev/mqueue"), std::string::npos) << message;
    EXPECT_NE(message.find("mkdir -p /dev/mqueue"), std::string::npos) << message;
  });
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
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "notes") {
      EXPECT_TRUE(it->is_object()) << it->dump();  // only when a section could not look
      continue;
    }
    keys.push_back(it.key());
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"channels", "posix_mq", "posix_shm", "sysv_msg",
                                            "sysv_sem", "sysv_shm"}));
  for (const std::string& key : keys) EXPECT_TRUE(j.at(key).is_array()) << key;
  // Channels: tests/ls_channels_test.cpp.

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

// Any user can name a /dev/shm file with bytes that are not UTF-8, a terminal escape or a
// newline. JSON carries such a name exactly (name_hex beside a readable name), and text shows
// it escaped, so it can neither end the listing nor forge a row nor colour the terminal.
TEST(LsCli, NamesThatAreNotUtf8OrHoldEscapesAreCarriedExactlyAndShownHarmlessly) {
  const std::string base = unique_file();
  DevShmEntry object(base + "-\xff\x1b[31m\nforged 1 root 0600");
  DevShmEntry channel("ipckit-ch-" + base + "-\x1b]0;title\x07");
  make_posix(object, 100);
  make_posix(channel, 0);
  const auto hex = [](std::string_view raw) {
    std::string out;
    char two[3];
    for (const char c : raw) {
      std::snprintf(two, sizeof two, "%02x", static_cast<unsigned char>(c));
      out += two;
    }
    return out;
  };

  auto listed = run_cli({"ls", "--json", "--posix", "--channels"});
  ASSERT_EQ(listed.status.shell_code(), 0) << listed.err;
  const auto parsed = json::parse(listed.out);
  bool found = false;
  for (const auto& row : parsed.at("posix_shm")) {
    if (!row.contains("name_hex") || row.at("name_hex") != hex(object.name())) continue;
    found = true;
    EXPECT_EQ(row.at("name"), "/" + base + "-\xef\xbf\xbd\x1b[31m\nforged 1 root 0600");
    EXPECT_EQ(row.at("size"), 100);
  }
  EXPECT_TRUE(found) << listed.out;
  found = false;
  for (const auto& row : parsed.at("channels")) {
    // Valid UTF-8 (escapes and all): the name as it is, no _hex field.
    if (row.at("name") != channel.file().substr(10)) continue;
    found = true;
    EXPECT_FALSE(row.contains("name_hex"));
  }
  EXPECT_TRUE(found) << listed.out;

  auto text = run_cli({"ls", "--posix", "--channels"});
  ASSERT_EQ(text.status.shell_code(), 0) << text.err;
  EXPECT_EQ(text.out.find('\x1b'), std::string::npos) << "a raw escape reached the terminal";
  EXPECT_EQ(text.out.find('\x07'), std::string::npos);
  EXPECT_TRUE(test::has_substring(text.out, "-\\xff\\x1b[31m\\x0aforged 1 root 0600"));
  EXPECT_TRUE(test::has_substring(text.out, "-\\x1b]0;title\\x07"));
  std::istringstream lines(text.out);
  for (std::string line; std::getline(lines, line);) EXPECT_NE(line.rfind("forged", 0), 0U) << line;
}

TEST(LsCli, JsonQueueAndSetAgreeWithLsipcFieldByField) {
  SysvObject queue = make_queue_with_ipcmk();
  SysvObject set = make_set_with_ipcmk(3);
  ASSERT_GE(queue.id(), 0);
  ASSERT_GE(set.id(), 0);
  send_to(queue, 1, "hello");
  send_to(queue, 2, "world!!");

  json j = ls_json({});
  const json* q = find_in(j.at("sysv_msg"), "id", queue.id());
  ASSERT_NE(q, nullptr) << j.at("sysv_msg").dump();
  auto theirs = lsipc_object("-q", "messages", queue.id());
  ASSERT_TRUE(theirs);
  EXPECT_EQ(q->at("key").get<std::string>(), text_of(theirs->at("key")));
  EXPECT_EQ(q->at("key").get<std::string>(), hex_key(queue.key()));
  EXPECT_EQ(q->at("owner").get<std::string>(), text_of(theirs->at("owner")));
  EXPECT_EQ(q->at("perms").get<std::string>(), lsipc_queue_perms(queue.id()));
  EXPECT_EQ(q->at("used_bytes").dump(), text_of(theirs->at("usedbytes")));
  EXPECT_EQ(q->at("messages").dump(), text_of(theirs->at("msgs")));
  EXPECT_EQ(q->at("lspid").dump(), text_of(theirs->at("lspid")));
  EXPECT_EQ(q->at("lrpid").dump(), text_of(theirs->at("lrpid")));
  EXPECT_EQ(q->at("messages"), 2);
  EXPECT_EQ(q->at("used_bytes"), 12);
  EXPECT_TRUE(q->at("used_bytes").is_number_unsigned());

  const json* s = find_in(j.at("sysv_sem"), "id", set.id());
  ASSERT_NE(s, nullptr) << j.at("sysv_sem").dump();
  auto their_set = lsipc_object("-s", "semaphores", set.id());
  ASSERT_TRUE(their_set);
  EXPECT_EQ(s->at("key").get<std::string>(), text_of(their_set->at("key")));
  EXPECT_EQ(s->at("owner").get<std::string>(), text_of(their_set->at("owner")));
  EXPECT_EQ(s->at("perms").get<std::string>(), text_of(their_set->at("perms")));
  EXPECT_EQ(s->at("nsems").dump(), text_of(their_set->at("nsems")));
  EXPECT_EQ(s->at("nsems"), 3);
}

TEST(LsCli, TextShowsQueuesAndSetsLikeIpcs) {
  SysvObject queue = make_queue_with_ipcmk();
  SysvObject set = make_set_with_ipcmk(2);
  ASSERT_GE(queue.id(), 0);
  ASSERT_GE(set.id(), 0);
  send_to(queue, 1, "abc");

  auto r = run_cli({"ls", "--sysv"});
  ASSERT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_NE(r.out.find("------ Message Queues --------"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("------ Semaphore Arrays --------"), std::string::npos) << r.out;
  EXPECT_LT(r.out.find("Message Queues"), r.out.find("Semaphore Arrays")) << "ipcs's order";

  // Section by section: a row's id is looked up in its own section only.
  std::string section;
  bool queue_row = false, set_row = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("------", 0) == 0) {
      section = line;
      continue;
    }
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    if (w.empty()) continue;
    if (section.find("Message Queues") != std::string::npos) {
      if (w[0] == "key") {
        EXPECT_EQ(w, (std::vector<std::string>{"key", "msqid", "owner", "perms", "used-bytes",
                                               "messages"}));
      } else if (w.size() > 1 && w[1] == std::to_string(queue.id())) {
        queue_row = true;
        EXPECT_EQ(w, (std::vector<std::string>{hex_key(queue.key()), std::to_string(queue.id()),
                                               user_name(::getuid()), "0644", "3", "1"}));
        auto ipcs = ipcs_row("-q", queue.id(), 6);
        ASSERT_EQ(ipcs.size(), 6u);
        EXPECT_EQ(ipcs[4], w[4]);
        EXPECT_EQ(ipcs[5], w[5]);
      }
    }
    if (section.find("Semaphore Arrays") != std::string::npos) {
      if (w[0] == "key") {
        EXPECT_EQ(w, (std::vector<std::string>{"key", "semid", "owner", "perms", "nsems"}));
      } else if (w.size() > 1 && w[1] == std::to_string(set.id())) {
        set_row = true;
        EXPECT_EQ(w, (std::vector<std::string>{hex_key(set.key()), std::to_string(set.id()),
                                               user_name(::getuid()), "0644", "2"}));
      }
    }
  }
  EXPECT_TRUE(queue_row) << r.out;
  EXPECT_TRUE(set_row) << r.out;
}

TEST(LsCli, KindAndFamilyFiltersChooseTheSections) {
  SysvSegment seg = make_with_ipcmk(4096);
  ASSERT_GE(seg.id(), 0);
  SysvObject queue = make_queue_with_ipcmk();
  ASSERT_GE(queue.id(), 0);
  SysvObject set = make_set_with_ipcmk(1);
  ASSERT_GE(set.id(), 0);
  DevShmEntry object(unique_file());
  make_posix(object, 100);

  struct Case {
    std::vector<std::string> flags;
    bool sysv_shm, sysv_msg, sysv_sem, posix_shm;
    bool posix_mq_section;  // the text shows the POSIX message queue section (or its note)
  };
  for (const Case& c : {Case{{"--sysv"}, true, true, true, false, false},
                        Case{{"--posix"}, false, false, false, true, true},
                        Case{{"-m"}, true, false, false, true, false},
                        Case{{"-q"}, false, true, false, false, true},
                        Case{{"-s"}, false, false, true, false, false},
                        Case{{"-q", "-s"}, false, true, true, false, true},
                        Case{{"-m", "--sysv"}, true, false, false, false, false},
                        Case{{"-m", "--posix"}, false, false, false, true, false},
                        Case{{"-q", "--sysv"}, false, true, false, false, false},
                        Case{{"-q", "--posix"}, false, false, false, false, true},
                        Case{{"--sysv", "--posix"}, true, true, true, true, true}}) {
    std::string what;
    for (const auto& f : c.flags) what += f + " ";
    json j = ls_json(c.flags);
    EXPECT_GE(j.size(), 6u) << what << "every key is always there";
    EXPECT_EQ(find_in(j.at("sysv_shm"), "id", seg.id()) != nullptr, c.sysv_shm) << what;
    EXPECT_EQ(find_in(j.at("sysv_msg"), "id", queue.id()) != nullptr, c.sysv_msg) << what;
    EXPECT_EQ(find_in(j.at("sysv_sem"), "id", set.id()) != nullptr, c.sysv_sem) << what;
    EXPECT_EQ(find_in(j.at("posix_shm"), "name", object.name()) != nullptr, c.posix_shm) << what;
    EXPECT_TRUE(c.sysv_shm || j.at("sysv_shm").empty()) << what;
    EXPECT_TRUE(c.sysv_msg || j.at("sysv_msg").empty()) << what;
    EXPECT_TRUE(c.sysv_sem || j.at("sysv_sem").empty()) << what;
    EXPECT_TRUE(c.posix_shm || j.at("posix_shm").empty()) << what;
    if (!c.posix_mq_section) {
      EXPECT_TRUE(j.at("posix_mq").empty()) << what;
      EXPECT_FALSE(j.contains("notes")) << what << "no note for a section not asked for";
    }

    std::vector<std::string> args{"ls"};
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    auto text = run_cli(args);
    ASSERT_EQ(text.status.shell_code(), 0) << what << text.err;
    EXPECT_EQ(text.out.find("Shared Memory Segments") != std::string::npos, c.sysv_shm)
        << what << text.out;
    EXPECT_EQ(text.out.find("------ Message Queues --------") != std::string::npos, c.sysv_msg)
        << what << text.out;
    EXPECT_EQ(text.out.find("Semaphore Arrays") != std::string::npos, c.sysv_sem)
        << what << text.out;
    EXPECT_EQ(text.out.find(object.name()) != std::string::npos, c.posix_shm) << what << text.out;
    EXPECT_EQ(text.out.find("POSIX Message Queues") != std::string::npos, c.posix_mq_section)
        << what << text.out;
  }
}

TEST(LsCli, PosixQueueIsListedFromAPrivateMqueueMount) {
  if (!can_make_private_mounts()) GTEST_SKIP() << "needs root and unshare -m";
  PosixQueue queue(4, 128);
  queue.send("one", 0);
  queue.send("second", 9);
  test::TempDir dir;

  auto r = run_cli_in_private_mounts(mount_mqueue_at(dir.path()), {"ls", "--posix", "--json"});
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const json j = json::parse(r.out);
  EXPECT_FALSE(j.contains("notes")) << r.out;
  const json* q = find_in(j.at("posix_mq"), "name", queue.name());
  ASSERT_NE(q, nullptr) << j.at("posix_mq").dump();
  EXPECT_EQ(q->at("owner"), user_name(::getuid()));
  EXPECT_EQ(q->at("perms"), "0600");
  EXPECT_EQ(q->at("messages"), 2);
  EXPECT_EQ(q->at("msg_max"), 4);
  EXPECT_EQ(q->at("msgsize_max"), 128);
  EXPECT_EQ(q->at("used_bytes"), 9);

  r = run_cli_in_private_mounts(mount_mqueue_at(dir.path()), {"ls", "-q", "--posix"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("------ POSIX Message Queues (" + dir.path().string() + ") --------"),
            std::string::npos)
      << r.out;
  bool header = false, row = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    if (!w.empty() && w[0] == "name") {
      header = true;
      EXPECT_EQ(w, (std::vector<std::string>{"name", "owner", "perms", "used-bytes", "messages",
                                             "msg_max", "msgsize_max"}));
    }
    if (!w.empty() && w[0] == queue.name()) {
      row = true;
      EXPECT_EQ(w, (std::vector<std::string>{queue.name(), user_name(::getuid()), "0600", "9",
                                             "2", "4", "128"}));
    }
  }
  EXPECT_TRUE(header) << r.out;
  EXPECT_TRUE(row) << r.out;
  EXPECT_EQ(queue.queue().attributes().current_messages, 2) << "listing received nothing";
}

TEST(LsCli, QueueNotReadableByTheUserIsListedWithOwnerAndMode) {
  if (!can_make_private_mounts() || shell_output("command -v setpriv").empty())
    GTEST_SKIP() << "needs root, unshare -m and setpriv";
  PosixQueue queue(4, 128, 0600);  // root's: user nobody may not open it
  queue.send("x", 0);
  test::TempDir dir;
  auto r = run_cli_in_private_mounts(mount_mqueue_at(dir.path()), {"ls", "--posix", "--json"},
                                     "setpriv --reuid=65534 --regid=65534 --clear-groups");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const json j = json::parse(r.out);
  const json* q = find_in(j.at("posix_mq"), "name", queue.name());
  ASSERT_NE(q, nullptr) << j.at("posix_mq").dump();
  EXPECT_EQ(q->at("owner"), user_name(::getuid()));
  EXPECT_EQ(q->at("perms"), "0600");
  // Unknown to nobody: null, not 0 (the queue holds a message).
  for (const char* field : {"messages", "msg_max", "msgsize_max", "used_bytes"})
    EXPECT_TRUE(q->at(field).is_null()) << field << " in " << q->dump();

  r = run_cli_in_private_mounts(mount_mqueue_at(dir.path()), {"ls", "--posix", "-q"},
                                "setpriv --reuid=65534 --regid=65534 --clear-groups");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  bool row = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    if (w.empty() || w[0] != queue.name()) continue;
    row = true;
    EXPECT_EQ(w, (std::vector<std::string>{queue.name(), user_name(::getuid()), "0600", "?", "?",
                                           "?", "?"}));
  }
  EXPECT_TRUE(row) << r.out;
}

TEST(LsCli, MqueueNotMountedSaysHowToMountAndListsTheRest) {
  if (!can_make_private_mounts()) GTEST_SKIP() << "needs root and unshare -m";
  SysvObject queue = make_queue_with_ipcmk();
  ASSERT_GE(queue.id(), 0);
  PosixQueue posix_queue;

  auto r = run_cli_in_private_mounts(kUnmountEveryMqueue, {"ls", "--json"});
  ASSERT_EQ(r.code, 0) << "not a failure of the whole command: " << r.err;
  const json j = json::parse(r.out);
  EXPECT_TRUE(j.at("posix_mq").is_array());
  EXPECT_TRUE(j.at("posix_mq").empty());
  ASSERT_TRUE(j.contains("notes")) << r.out;
  const std::string note = j.at("notes").at("posix_mq").get<std::string>();
  EXPECT_NE(note.find("not mounted"), std::string::npos) << note;
  EXPECT_NE(note.find("mount -t mqueue none /dev/mqueue"), std::string::npos) << note;
  EXPECT_NE(find_in(j.at("sysv_msg"), "id", queue.id()), nullptr) << "the rest is listed";

  r = run_cli_in_private_mounts(kUnmountEveryMqueue, {"ls", "-q"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("POSIX Message Queues"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not mounted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(hex_key(queue.key())), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(posix_queue.name()), std::string::npos) << r.out;
}

TEST(LsCli, HelpNamesTheFlagsAndWhatIsNotListedYet) {
  auto r = run_cli({"ls", "--help"});
  EXPECT_EQ(r.status.shell_code(), 0);
  for (const char* s : {"Usage", "-m", "-q", "-s", "--sysv", "--posix", "--json", "sysv_shm",
                        "sysv_msg", "sysv_sem", "posix_shm", "posix_mq", "channels",
                        "mount -t mqueue none /dev/mqueue", "not listed yet"})
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

TEST(RmCli, RemovesAQueueByIdOrKeyAndOnlyTheOneNamed) {
  SysvObject by_id = make_queue_with_ipcmk();
  SysvObject by_hex_key = make_queue_with_ipcmk();
  SysvObject by_dec_key = make_queue_with_ipcmk();
  ASSERT_GE(by_id.id(), 0);
  ASSERT_GE(by_hex_key.id(), 0);
  ASSERT_GE(by_dec_key.id(), 0);
  send_to(by_id, 1, "held");  // a queue holding messages goes with them

  auto r = run_cli({"rm", "-q", std::to_string(by_id.id())});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(by_id.exists());
  EXPECT_FALSE(lsipc_object("-q", "messages", by_id.id())) << "still in lsipc";
  EXPECT_TRUE(by_hex_key.exists());
  EXPECT_TRUE(by_dec_key.exists());

  r = run_cli({"rm", "-Q", hex_key(by_hex_key.key())});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_FALSE(by_hex_key.exists());
  EXPECT_TRUE(by_dec_key.exists()) << "only the key given goes";

  const std::string dec = std::to_string(static_cast<std::uint32_t>(by_dec_key.key()));
  r = run_cli({"rm", "-Q", dec});
  EXPECT_EQ(r.status.shell_code(), 0) << dec << ": " << r.err;
  EXPECT_FALSE(by_dec_key.exists());

  by_id.forget_if_gone();
  by_hex_key.forget_if_gone();
  by_dec_key.forget_if_gone();
}

TEST(RmCli, RemovesASemaphoreSetByIdOrKeyAndOnlyTheOneNamed) {
  SysvObject by_id = make_set_with_ipcmk(3);
  SysvObject by_key = make_set_with_ipcmk(1);
  SysvObject survivor = make_set_with_ipcmk(2);
  ASSERT_GE(by_id.id(), 0);
  ASSERT_GE(by_key.id(), 0);
  ASSERT_GE(survivor.id(), 0);

  auto r = run_cli({"rm", "-s", std::to_string(by_id.id())});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(by_id.exists());
  EXPECT_FALSE(lsipc_object("-s", "semaphores", by_id.id())) << "still in lsipc";
  EXPECT_TRUE(by_key.exists());

  r = run_cli({"rm", "-S", hex_key(by_key.key())});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_FALSE(by_key.exists());
  EXPECT_TRUE(survivor.exists()) << "only the objects named go";

  by_id.forget_if_gone();
  by_key.forget_if_gone();
}

TEST(RmCli, QueueAndSetFlagsDoNotCrossKinds) {
  // A queue's id given to -s (or a set's to -q) must not remove the other kind's object
  // that happens to have the same number.
  SysvObject queue = make_queue_with_ipcmk();
  SysvObject set = make_set_with_ipcmk(1);
  ASSERT_GE(queue.id(), 0);
  ASSERT_GE(set.id(), 0);
  auto r = run_cli({"rm", "-S", hex_key(queue.key()), "-Q", hex_key(set.key())});
  EXPECT_EQ(r.status.shell_code(), 1) << r.err;
  EXPECT_TRUE(queue.exists());
  EXPECT_TRUE(set.exists());
}

TEST(RmCli, RemovesAPosixQueueNamedWithOrWithoutTheSlash) {
  PosixQueue with_slash;
  PosixQueue without;
  with_slash.send("still held");  // a queue holding messages, and open here, loses its name

  auto r = run_cli({"rm", "--mq", with_slash.name()});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_FALSE(with_slash.exists());
  EXPECT_TRUE(without.exists()) << "only the name given goes";

  r = run_cli({"rm", "--mq", without.name().substr(1)});
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  EXPECT_FALSE(without.exists());
}

TEST(RmCli, UnknownQueueSetOrNameFailsNamingItAndRemovesNothingElse) {
  SysvObject queue = make_queue_with_ipcmk();
  SysvObject set = make_set_with_ipcmk(1);
  ASSERT_GE(queue.id(), 0);
  ASSERT_GE(set.id(), 0);
  PosixQueue posix_queue;
  SysvObject dead_queue = make_queue_with_ipcmk();
  SysvObject dead_set = make_set_with_ipcmk(1);
  const int dead_queue_id = dead_queue.id();
  const key_t dead_queue_key = dead_queue.key();
  const int dead_set_id = dead_set.id();
  const key_t dead_set_key = dead_set.key();
  dead_queue.remove_now();
  dead_set.remove_now();
  const std::string unknown_name = "/" + test::unique_name();

  const std::vector<std::pair<std::string, std::string>> uses = {
      {"-q", std::to_string(dead_queue_id)}, {"-q", "abc"},  {"-q", "-5"},
      {"-Q", hex_key(dead_queue_key)},       {"-Q", "0"},    {"-Q", "0xzz"},
      {"-s", std::to_string(dead_set_id)},   {"-s", "1.5"},  {"-S", hex_key(dead_set_key)},
      {"-S", "0x00000000"},                  {"--mq", unknown_name},
      {"--mq", "a/b"},                       {"--mq", "/"}};
  for (const auto& [flag, value] : uses) {
    auto r = run_cli({"rm", flag, value});
    EXPECT_EQ(r.status.shell_code(), 1) << flag << " " << value << ": " << r.err;
    EXPECT_NE(r.err.find(flag + " " + value), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_NE(run_cli({"rm", "-q", std::to_string(dead_queue_id)}).err.find("no queue has this id"),
            std::string::npos);
  EXPECT_NE(run_cli({"rm", "-Q", "0"}).err.find("remove them by id with -q ID"), std::string::npos);
  // A key that finds nothing: said for the command line's user, not a programmer's.
  auto expect_key_hint = [](const std::string& err, const std::string& says,
                            const std::string& lists) {
    EXPECT_NE(err.find(says), std::string::npos) << err;
    EXPECT_NE(err.find("`ipckit ls " + lists + "` lists the"), std::string::npos) << err;
    EXPECT_EQ(err.find("::create"), std::string::npos) << err;
  };
  expect_key_hint(run_cli({"rm", "-Q", hex_key(dead_queue_key)}).err,
                  "no queue has key " + hex_key(dead_queue_key), "-q");
  expect_key_hint(run_cli({"rm", "-S", hex_key(dead_set_key)}).err,
                  "no semaphore set has key " + hex_key(dead_set_key), "-s");
  EXPECT_NE(run_cli({"rm", "--mq", unknown_name}).err.find("no POSIX message queue"),
            std::string::npos);
  EXPECT_TRUE(queue.exists());
  EXPECT_TRUE(set.exists());
  EXPECT_TRUE(posix_queue.exists());
}

TEST(RmCli, EveryKindAtOnceRemovesTheValidOnesAndReportsEachFailure) {
  SysvSegment seg = make_with_ipcmk(4096);
  SysvObject queue = make_queue_with_ipcmk();
  SysvObject set = make_set_with_ipcmk(2);
  ASSERT_GE(seg.id(), 0);
  ASSERT_GE(queue.id(), 0);
  ASSERT_GE(set.id(), 0);
  PosixQueue posix_queue;
  DevShmEntry object(unique_file());
  make_posix(object, 100);
  const std::string unknown_name = "/" + test::unique_name();

  auto r = run_cli({"rm", "-S", hex_key(set.key()), "--mq", unknown_name, "-q",
                    std::to_string(queue.id()), "--mq", posix_queue.name(), "-m",
                    std::to_string(seg.id()), "--shm", object.name()});
  EXPECT_EQ(r.status.shell_code(), 1) << r.err;
  EXPECT_FALSE(set.exists());
  EXPECT_FALSE(queue.exists());
  EXPECT_FALSE(posix_queue.exists());
  EXPECT_FALSE(sysv_exists(seg.id()));
  EXPECT_FALSE(object.exists());
  std::vector<std::string> lines;
  std::istringstream err(r.err);
  for (std::string line; std::getline(err, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_NE(lines[0].find("--mq " + unknown_name), std::string::npos) << lines[0];

  set.forget_if_gone();
  queue.forget_if_gone();
  if (!sysv_exists(seg.id())) seg.forget();
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
  SysvObject queue = make_queue_with_ipcmk();
  ASSERT_GE(queue.id(), 0);
  SysvObject set = make_set_with_ipcmk(1);
  ASSERT_GE(set.id(), 0);
  PosixQueue posix_queue(5, 100, 0644);
  DevShmEntry object(unique_file());
  make_posix(object, 100);
  ASSERT_EQ(::chmod(object.path().c_str(), 0644), 0);

  for (const std::string& args :
       {"rm -m " + std::to_string(seg.id()), "rm -M " + hex_key(seg.key()),
        "rm -q " + std::to_string(queue.id()), "rm -Q " + hex_key(queue.key()),
        "rm -s " + std::to_string(set.id()), "rm -S " + hex_key(set.key()),
        "rm --shm " + object.name(), "rm --mq " + posix_queue.name()}) {
    const std::string out = run_cli_as_nobody(args);
    EXPECT_NE(out.find("exit=1"), std::string::npos) << args << ": " << out;
    EXPECT_NE(out.find(args.substr(3)), std::string::npos) << args << ": " << out;
    EXPECT_TRUE(out.find("EPERM") != std::string::npos || out.find("EACCES") != std::string::npos)
        << args << ": " << out;
  }
  EXPECT_TRUE(sysv_exists(seg.id()));
  EXPECT_TRUE(queue.exists());
  EXPECT_TRUE(set.exists());
  EXPECT_TRUE(object.exists());
  EXPECT_TRUE(posix_queue.exists());
}

// --stale: tests/ls_channels_test.cpp, in a private /dev/shm (on the host's it would remove
// the stale channels other tests make at the same time).

TEST(RmCli, NothingToRemoveIsAUsageError) {
  auto r = run_cli({"rm"});
  EXPECT_EQ(r.status.shell_code(), 2);
  EXPECT_NE(r.err.find("nothing to remove"), std::string::npos) << r.err;
}

TEST(RmCli, HelpNamesEveryFlag) {
  auto r = run_cli({"rm", "--help"});
  EXPECT_EQ(r.status.shell_code(), 0);
  for (const char* s : {"Usage", "-m", "-M", "-q", "-Q", "-s", "-S", "--shm", "--mq", "--stale",
                        "no stale channels"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in\n" << r.out;
}

}  // namespace
}  // namespace ipckit
