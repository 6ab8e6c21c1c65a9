#pragma once

// Shared by the listing tests (inspect_test.cpp, ls_cli_test.cpp, rm_cli_test.cpp): guards for
// the objects they make, makers that use the system's own tools (ipcmk, Python), what those
// tools say about an object (lsipc, ipcs), and private mount namespaces for the mqueue
// filesystem. Other tests create objects at the same time (ctest -j), so every check looks
// only at the objects its test made, by id, key or name.

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

namespace ipckit::listing_test {

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
inline SysvSegment make_with_ipcmk(std::size_t size) {
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
inline SysvSegment make_with_high_key(key_t& key_out) {
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

inline bool sysv_exists(int id) {
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
inline void make_with_python(const DevShmEntry& entry, std::size_t size) {
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
inline void make_posix(const DevShmEntry& entry, std::size_t size) {
  int fd = ::shm_open(entry.name().c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << entry.name() << ": " << std::strerror(errno);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  ::close(fd);
}

inline std::string unique_file() {
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
inline SysvObject make_queue_with_ipcmk() {
  const std::string out = shell_output("ipcmk -Q");
  const std::string prefix = "Message queue id: ";
  const auto at = out.find(prefix);
  if (at == std::string::npos) {
    ADD_FAILURE() << "ipcmk said: " << out;
    return SysvObject{SysvKind::msg, -1};
  }
  return SysvObject{SysvKind::msg, std::stoi(out.substr(at + prefix.size()))};
}

inline SysvObject make_set_with_ipcmk(int nsems) {
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
inline void send_to(const SysvObject& queue, long type, std::string_view text) {
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
inline std::string text_of(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// The object with `id` in `lsipc <flag> --json --bytes [more]` under `top` ("messages",
// "semaphores"), if any.
inline std::optional<json> lsipc_object(const std::string& flag, const char* top, int id,
                                 const std::string& more = "--numeric-perms") {
  const json all = json::parse(shell_output("lsipc " + flag + " --json --bytes " + more));
  if (!all.contains(top)) return std::nullopt;  // none at all: lsipc 2.38 prints {"": []}
  for (const json& o : all.at(top))
    if (text_of(o.at("id")) == std::to_string(id)) return o;
  return std::nullopt;
}

// "rw-r--r--" as "0644".
inline std::string octal_of_symbolic(const std::string& text) {
  unsigned mode = 0;
  for (char c : text) mode = (mode << 1) | (c == '-' ? 0U : 1U);
  char out[8];
  std::snprintf(out, sizeof out, "%04o", mode & 0777U);
  return text.size() == 9 ? out : "not rwx: " + text;
}

// lsipc's perms of a queue as "0644". util-linux 2.38 prints null for `lsipc -q
// --numeric-perms` (a bug of that version), so fall back to the symbolic form.
inline std::string lsipc_queue_perms(int id) {
  auto numeric = lsipc_object("-q", "messages", id);
  if (numeric && !numeric->at("perms").is_null()) return text_of(numeric->at("perms"));
  auto symbolic = lsipc_object("-q", "messages", id, "");
  return symbolic ? octal_of_symbolic(text_of(symbolic->at("perms"))) : "not in lsipc";
}

// The words of `ipcs <flag>`'s row whose second column is `id`.
inline std::vector<std::string> ipcs_row(const std::string& flag, int id, std::size_t min_words) {
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

inline std::optional<json> lsipc_segment(int id) {
  const std::string out = shell_output("lsipc -m --json --bytes --numeric-perms");
  // With no segment at all, lsipc 2.38 prints {"": []}: no "sharedmemory" key.
  const json all = json::parse(out);
  if (!all.contains("sharedmemory")) return std::nullopt;
  for (const json& seg : all.at("sharedmemory"))
    if (text_of(seg.at("id")) == std::to_string(id)) return seg;
  return std::nullopt;
}

// The words of `ipcs -m`'s row for `id`: key shmid owner perms bytes nattch [status].
inline std::vector<std::string> ipcs_row(int id) { return ipcs_row("-m", id, 6); }

inline std::optional<SysvShmInfo> listed_sysv(int id) {
  for (const SysvShmInfo& s : list_sysv_shm())
    if (s.id == id) return s;
  return std::nullopt;
}

inline std::optional<PosixShmInfo> listed_posix(const std::string& name) {
  for (const PosixShmInfo& o : list_posix_shm())
    if (o.name == name) return o;
  return std::nullopt;
}

inline std::string hex_key(key_t key) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", static_cast<std::uint32_t>(key));
  return text;
}

inline const json* find_in(const json& array, const char* field, const json& value) {
  for (const json& e : array)
    if (e.at(field) == value) return &e;
  return nullptr;
}

inline json ls_json(const std::vector<std::string>& flags) {
  std::vector<std::string> args{"ls", "--json"};
  args.insert(args.end(), flags.begin(), flags.end());
  auto r = run_cli(args);
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  return json::parse(r.out);
}

inline std::optional<SysvMsgInfo> listed_queue(int id) {
  for (const SysvMsgInfo& q : list_sysv_msg())
    if (q.id == id) return q;
  return std::nullopt;
}

inline std::optional<SysvSemInfo> listed_set(int id) {
  for (const SysvSemInfo& s : list_sysv_sem())
    if (s.id == id) return s;
  return std::nullopt;
}

// --- private mount namespaces, for the mqueue filesystem -----------------------------------

// Root may make a private mount namespace (unshare -m), where mounting the mqueue filesystem
// leaves the host's mounts alone.
inline bool can_make_private_mounts() {
  return ::geteuid() == 0 && shell_output("unshare -m true 2>/dev/null && echo yes") == "yes\n";
}

inline std::string sh_quote(const std::string& text) {
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
inline const std::string kUnmountEveryMqueue = "{ umount -a -t mqueue 2>/dev/null; true; }";
inline std::string mount_mqueue_at(const std::filesystem::path& dir) {
  return kUnmountEveryMqueue + " && mount -t mqueue none " + sh_quote(dir.string());
}

// Runs `[as_user] ipckit ARGS` in a private mount namespace after `setup` (shell commands
// run there first); returns its exit code and what it printed.
struct PrivateRun {
  int code = -1;
  std::string out;
  std::string err;
};
inline PrivateRun run_cli_in_private_mounts(const std::string& setup, const std::vector<std::string>& args,
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
inline void enter_private_mounts_without_mqueue() {
  ASSERT_EQ(::unshare(CLONE_NEWNS), 0) << std::strerror(errno);
  ASSERT_EQ(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0) << std::strerror(errno);
  for (std::string point = mqueue_mount_point(); !point.empty(); point = mqueue_mount_point())
    ASSERT_EQ(::umount2(point.c_str(), MNT_DETACH), 0) << point << ": " << std::strerror(errno);
}

// Runs `body` in a forked child inside a private mount namespace with no mqueue mount.
inline void in_private_mounts(const std::function<void()>& body) {
  test::Forked child([&] {
    enter_private_mounts_without_mqueue();
    if (::testing::Test::HasFatalFailure()) return 1;
    body();
    return 0;
  });
  const ExitStatus st = child.wait();
  EXPECT_TRUE(st.success()) << st.to_string() << " (the child's failures are printed above)";
}

}  // namespace ipckit::listing_test
