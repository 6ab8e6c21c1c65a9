// Listing and cleaning shm:// channels: ipckit::list_channels / remove_stale_channel and
// `ipckit ls` / `ipckit rm --stale`.
//
// Channel segments are made by hand here, with the layout of src/channel/shm_layout.hpp, and
// the liveness of their ends is played by forked children that hold the same
// open-file-description locks a listener (byte 0) and a sender (byte 1 + slot) hold; SIGKILL
// is a crash, and the kernel drops the locks. The last test uses the real transport
// (Channel::listen and Channel::connect).
//
// `ipckit rm --stale` removes every stale channel of the host, and other tests make and kill
// channels at the same time (ctest -j): a test that ran it on the host's /dev/shm could remove
// theirs. So every test that runs it does so in a child with a private /dev/shm (a fresh tmpfs
// in its own mount namespace, as root); it vanishes with the child. Tests that only list, or
// call remove_stale_channel on a name of their own, use the host's /dev/shm with unique names
// (unique_name(): the leak check knows /dev/shm/ipckit-ch-ipckit-t*), removed by RAII.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../src/channel/shm_layout.hpp"
#include "ipckit/channel.hpp"
#include "ipckit/inspect.hpp"
#include "ipckit/pipe.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::Forked;
using test::has_substring;
using test::run_cli;
namespace sc = detail::shm_channel;

constexpr std::uint64_t kCapacity = 4096;  // the smallest ring: small objects
constexpr std::uint32_t kSlots = 4;
// The size of such a channel, from the layout's table: ring 0 at 3776, rings 8192 bytes apart.
constexpr std::uint64_t kTotalSize = 3776 + kSlots * 8192;

// --- a hand-made channel segment ------------------------------------------------------------

/// The object "/ipckit-ch-ipckit-t-<pid>-<n>", created empty (0600, O_EXCL) and removed at the
/// end whatever happened. The test writes into it through its own descriptor, which holds no
/// lock (so it never makes the channel look alive).
class CraftedChannel {
 public:
  CraftedChannel() : name_(test::unique_name()) {
    const int fd = ::shm_open(object().c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    EXPECT_NE(fd, -1) << object() << ": " << std::strerror(errno);
    fd_ = Fd{fd};
  }
  CraftedChannel(const CraftedChannel&) = delete;
  CraftedChannel& operator=(const CraftedChannel&) = delete;
  ~CraftedChannel() { (void)::shm_unlink(object().c_str()); }

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::string object() const { return std::string(sc::kObjectPrefix) + name_; }
  [[nodiscard]] std::filesystem::path path() const { return "/dev/shm" + object(); }
  [[nodiscard]] bool exists() const { return std::filesystem::exists(std::filesystem::symlink_status(path())); }
  [[nodiscard]] int fd() const { return fd_.get(); }

  /// A sound header for `slots` rings of `capacity` bytes (ready), sized as it says.
  sc::ChannelHeader write_header(pid_t receiver_pid, std::uint32_t slots = kSlots, std::uint64_t capacity = kCapacity) {
    const auto g = sc::geometry(slots, capacity);
    EXPECT_TRUE(g);
    sc::ChannelHeader h = sc::make_header(*g, 1024, receiver_pid, false, {});
    h.ready = 1;
    resize(g->total_size);
    write(h);
    return h;
  }
  void write(const sc::ChannelHeader& h) { write_at(0, &h, sizeof h); }
  void resize(std::uint64_t size) {
    ASSERT_EQ(::ftruncate(fd(), static_cast<off_t>(size)), 0) << std::strerror(errno);
  }
  void set_slot(std::uint32_t i, sc::SlotState state, pid_t sender_pid) {
    sc::SlotEntry e{};
    e.state = static_cast<std::uint32_t>(state);
    e.sender_pid = sender_pid;
    write_at(sizeof(sc::ChannelHeader) + i * sizeof(sc::SlotEntry), &e, sizeof e);
  }
  void write_at(std::uint64_t offset, const void* bytes, std::size_t n) {
    ASSERT_EQ(::pwrite(fd(), bytes, n, static_cast<off_t>(offset)), static_cast<ssize_t>(n)) << std::strerror(errno);
  }

 private:
  std::string name_;
  Fd fd_;
};

/// A process that holds, through its own open of `object`, write locks on `bytes` (fcntl
/// F_OFD_SETLK, as a channel's end does) until it is killed.
class LockHolder {
 public:
  LockHolder(const std::string& object, std::vector<std::uint64_t> bytes) {
    Pipe ready = Pipe::create();
    child_ = std::make_unique<Forked>([&ready, object, bytes]() -> int {
      ready.read_end.reset();
      const int fd = ::shm_open(object.c_str(), O_RDWR | O_CLOEXEC, 0);
      if (fd == -1) return 10;
      for (const std::uint64_t byte : bytes) {
        struct flock l {};
        l.l_type = F_WRLCK;
        l.l_whence = SEEK_SET;
        l.l_start = static_cast<off_t>(byte);
        l.l_len = 1;
        if (::fcntl(fd, F_OFD_SETLK, &l) == -1) return 11;
      }
      test::notify(ready.write_end);
      for (;;) ::pause();
    });
    ready.write_end.reset();
    EXPECT_TRUE(test::await(ready.read_end)) << "the child did not lock " << object;
  }
  [[nodiscard]] pid_t pid() const { return child_->pid(); }
  /// SIGKILL, as a crash, and reaps it: its locks are gone once waitpid returns.
  void kill() {
    ASSERT_EQ(::kill(child_->pid(), SIGKILL), 0);
    const ExitStatus st = child_->wait();
    EXPECT_TRUE(!st.exited && st.signal == SIGKILL) << st.to_string();
  }

 private:
  std::unique_ptr<Forked> child_;
};

// --- looking -----------------------------------------------------------------------------

std::optional<ChannelInfo> listed(const std::string& name) {
  for (ChannelInfo& c : list_channels())
    if (c.name == name) return std::move(c);
  return std::nullopt;
}

// The channel `name` as list_channels() shows it; a test failure (and an empty ChannelInfo,
// stale unknown) when it is not listed.
ChannelInfo listed_or_fail(const std::string& name) {
  auto c = listed(name);
  if (!c) {
    ADD_FAILURE() << "channel " << name << " is not listed";
    return ChannelInfo{};
  }
  return std::move(*c);
}

json ls_json(const std::vector<std::string>& flags = {}) {
  std::vector<std::string> args{"ls", "--json"};
  args.insert(args.end(), flags.begin(), flags.end());
  const auto r = run_cli(args);
  EXPECT_EQ(r.status.shell_code(), 0) << r.err;
  return json::parse(r.out);
}

std::optional<json> json_row(const json& j, const std::string& name) {
  for (const json& row : j.at("channels"))
    if (row.at("name") == name) return row;
  return std::nullopt;
}

// The line of `text` that holds `part` ("" when none).
std::string line_with(const std::string& text, const std::string& part) {
  const auto at = text.find(part);
  if (at == std::string::npos) return "";
  const auto begin = text.rfind('\n', at);
  const auto end = text.find('\n', at);
  return text.substr(begin == std::string::npos ? 0 : begin + 1,
                     (end == std::string::npos ? text.size() : end) - (begin == std::string::npos ? 0 : begin + 1));
}

// --- a private /dev/shm -----------------------------------------------------------------------

constexpr int kCannotRun = 77;

// Runs `body` in a child whose /dev/shm is a fresh tmpfs of its own (a private mount
// namespace): `ipckit rm --stale` there sees only what the body made. kCannotRun when this
// process may not make one (not root).
ExitStatus in_private_dev_shm(const std::function<void()>& body) {
  Forked child([&]() -> int {
    if (::unshare(CLONE_NEWNS) != 0) return kCannotRun;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return kCannotRun;
    if (::mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m") != 0) return kCannotRun;
    body();
    return 0;
  });
  return child.wait(60s);
}

#define IPCKIT_EXPECT_PRIVATE_RUN(status)                                              \
  do {                                                                                 \
    const ExitStatus st_ = (status);                                                   \
    if (st_.exited && st_.code == kCannotRun) GTEST_SKIP() << "needs root and unshare(CLONE_NEWNS)"; \
    EXPECT_TRUE(st_.success()) << "the child with a private /dev/shm " << st_.to_string();  \
  } while (false)

bool have_setpriv() { return ::geteuid() == 0 && !test::shell_output("command -v setpriv").empty(); }

// The ipckit command run as user nobody: what it printed (stdout and stderr) and "exit=N".
std::string run_cli_as_nobody(const std::string& args) {
  return test::shell_output("setpriv --reuid=65534 --regid=65534 --clear-groups " + test::cli_path() + " " + args +
                            " 2>&1; echo \"exit=$?\"");
}

// --- list_channels --------------------------------------------------------------------------

TEST(ListChannels, LiveListenerIsListedNotStaleWithItsPidAndCapacity) {
  CraftedChannel ch;
  LockHolder listener(ch.object(), {sc::kReceiverLockByte});
  ch.write_header(listener.pid());

  const auto c = listed(ch.name());
  ASSERT_TRUE(c) << ch.object() << " not listed";
  EXPECT_EQ(c->object, ch.object());
  ASSERT_TRUE(c->stale.has_value()) << c->note;
  EXPECT_FALSE(*c->stale);
  EXPECT_TRUE(c->reader_alive);
  EXPECT_EQ(c->reader_pid, listener.pid());
  EXPECT_EQ(c->capacity, kCapacity);
  EXPECT_EQ(c->slots, kSlots);
  EXPECT_EQ(c->size, kTotalSize);
  EXPECT_EQ(c->writer_pid, 0);
  EXPECT_TRUE(c->writer_pids.empty());
  EXPECT_EQ(c->writers, 0u);
  EXPECT_EQ(c->owner, user_name(::geteuid()));
  EXPECT_EQ(c->perms, "0600");
  EXPECT_EQ(c->note, "");
}

TEST(ListChannels, SendersAreTheSlotsWhoseLockIsHeldNotTheRecordedPids) {
  CraftedChannel ch;
  LockHolder listener(ch.object(), {sc::kReceiverLockByte});
  LockHolder first(ch.object(), {sc::sender_lock_byte(0)});
  LockHolder third(ch.object(), {sc::sender_lock_byte(2)});
  ch.write_header(listener.pid());
  ch.set_slot(0, sc::SlotState::active, first.pid());
  ch.set_slot(1, sc::SlotState::active, ::getpid());  // a live pid, but nobody holds slot 1's lock
  ch.set_slot(2, sc::SlotState::active, third.pid());

  const auto c = listed(ch.name());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->writers, 2u);
  EXPECT_EQ(c->writer_pids, (std::vector<pid_t>{first.pid(), third.pid()}));
  EXPECT_EQ(c->writer_pid, first.pid());
  EXPECT_EQ(c->stale, std::optional<bool>(false));

  const auto row = json_row(ls_json({"--channels"}), ch.name());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->at("writer_pid"), first.pid());
  EXPECT_EQ(row->at("writer_pids"), json::array({first.pid(), third.pid()}));
  EXPECT_EQ(row->at("reader_pid"), listener.pid());
  EXPECT_EQ(row->at("capacity"), kCapacity);
  EXPECT_EQ(row->at("stale"), false);
}

TEST(ListChannels, ChannelIsStaleOnlyOnceListenerAndEverySenderWereKilled) {
  CraftedChannel ch;
  LockHolder listener(ch.object(), {sc::kReceiverLockByte});
  LockHolder sender(ch.object(), {sc::sender_lock_byte(1)});
  ch.write_header(listener.pid());
  ch.set_slot(1, sc::SlotState::active, sender.pid());
  ASSERT_EQ(listed_or_fail(ch.name()).stale, std::optional<bool>(false));

  listener.kill();
  auto c = listed(ch.name());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stale, std::optional<bool>(false)) << "a sender still lives";
  EXPECT_FALSE(c->reader_alive);
  EXPECT_EQ(c->reader_pid, 0) << "the dead listener's pid is not shown as a reader";
  EXPECT_EQ(c->writer_pid, sender.pid());
  EXPECT_TRUE(has_substring(c->note, "listener is gone"));

  sender.kill();
  c = listed(ch.name());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stale, std::optional<bool>(true)) << c->note;
  EXPECT_EQ(c->reader_pid, 0);
  EXPECT_EQ(c->writer_pid, 0);
  EXPECT_EQ(c->writers, 0u);
  EXPECT_EQ(c->capacity, kCapacity) << "a stale channel still shows what it was";

  const auto row = json_row(ls_json(), ch.name());
  ASSERT_TRUE(row) << ch.name() << " not in ls --json";
  EXPECT_EQ(row->at("stale"), true);
  EXPECT_EQ(row->at("reader_pid"), 0);
  EXPECT_EQ(row->at("writer_pid"), 0);
  for (const char* field : {"name", "capacity", "writer_pid", "reader_pid", "stale"})
    EXPECT_TRUE(row->contains(field)) << field;

  const auto text = run_cli({"ls", "--channels"});
  ASSERT_EQ(text.status.shell_code(), 0) << text.err;
  const std::string line = line_with(text.out, "shm://" + ch.name() + " ");
  EXPECT_TRUE(has_substring(line, " stale ")) << text.out;
  EXPECT_TRUE(has_substring(line, "its listener was pid " + std::to_string(listener.pid()))) << text.out;
}

TEST(ListChannels, PidsInTheSegmentNeverMakeAChannelLive) {
  CraftedChannel ch;
  ch.write_header(::getpid());  // this very process: alive, but it holds no lock
  ch.set_slot(0, sc::SlotState::active, ::getpid());
  const auto c = listed(ch.name());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stale, std::optional<bool>(true)) << c->note;
  EXPECT_EQ(c->reader_pid, 0);
  EXPECT_EQ(c->writer_pid, 0);
}

TEST(ListChannels, LockHeldThroughAnotherOpenInThisProcessCounts) {
  CraftedChannel ch;
  ch.write_header(::getpid());
  const int fd = ::shm_open(ch.object().c_str(), O_RDWR | O_CLOEXEC, 0);
  ASSERT_NE(fd, -1);
  const Fd own{fd};
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  l.l_start = 0;
  l.l_len = 1;
  ASSERT_EQ(::fcntl(own.get(), F_OFD_SETLK, &l), 0) << std::strerror(errno);
  const auto c = listed(ch.name());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stale, std::optional<bool>(false));
  EXPECT_EQ(c->reader_pid, ::getpid());
}

// Every value of the header is checked before use; a layout this ipckit does not know is
// never called stale (nobody can tell what its locks mean), a corrupt version-1 header still is
// when nobody holds a lock.
TEST(ListChannels, HeaderValuesAreCheckedAgainstTheObjectSize) {
  struct Case {
    const char* what;
    std::function<void(CraftedChannel&)> damage;
    std::optional<bool> stale;  // with nobody holding a lock
    const char* note;
  };
  const Case cases[] = {
      {"size other than the header says", [](CraftedChannel& ch) { ch.resize(kTotalSize + 4096); },
       true, "corrupt header"},
      {"total_size lies", [](CraftedChannel& ch) {
         auto h = ch.write_header(0);
         h.total_size = 1ULL << 40;
         ch.write(h);
       }, true, "corrupt header"},
      {"slot count above the maximum", [](CraftedChannel& ch) {
         auto h = ch.write_header(0);
         h.slot_count = 1000000;
         ch.write(h);
       }, true, "impossible layout"},
      {"capacity not a power of two", [](CraftedChannel& ch) {
         auto h = ch.write_header(0);
         h.ring_capacity = 5000;
         ch.write(h);
       }, true, "impossible layout"},
      {"header size of another build", [](CraftedChannel& ch) {
         auto h = ch.write_header(0);
         h.header_size = 512;
         ch.write(h);
       }, true, "another build"},
      {"wrong magic", [](CraftedChannel& ch) {
         auto h = ch.write_header(0);
         h.magic = 0x1122334455667788ULL;
         ch.write(h);
       }, std::nullopt, "not an ipckit channel"},
      {"another version", [](CraftedChannel& ch) {
         auto h = ch.write_header(0);
         h.version = 99;
         ch.write(h);
       }, std::nullopt, "layout version 99"},
      {"smaller than a header", [](CraftedChannel& ch) { ch.resize(100); }, std::nullopt, "too small"},
  };
  // All at once, so one `ipckit ls --json` shows them all.
  std::vector<std::unique_ptr<CraftedChannel>> channels;
  for (const Case& k : cases) {
    channels.push_back(std::make_unique<CraftedChannel>());
    channels.back()->write_header(0);
    k.damage(*channels.back());
  }
  const json j = ls_json({"--channels"});
  for (std::size_t i = 0; i < std::size(cases); ++i) {
    const Case& k = cases[i];
    CraftedChannel& ch = *channels[i];
    auto c = listed(ch.name());
    ASSERT_TRUE(c) << k.what;
    EXPECT_EQ(c->stale, k.stale) << k.what << ": " << c->note;
    EXPECT_TRUE(has_substring(c->note, k.note)) << k.what;
    EXPECT_EQ(c->capacity, 0u) << k.what << ": a capacity from a header that does not check out";
    EXPECT_EQ(c->slots, 0u) << k.what;
    const auto row = json_row(j, ch.name());
    ASSERT_TRUE(row) << k.what;
    EXPECT_TRUE(row->at("capacity").is_null()) << k.what << ": " << row->dump();
    EXPECT_EQ(row->at("stale"), k.stale ? json(*k.stale) : json(nullptr)) << k.what;
    if (k.stale) {
      // The same object with a live listener is not stale.
      LockHolder listener(ch.object(), {sc::kReceiverLockByte});
      c = listed(ch.name());
      ASSERT_TRUE(c) << k.what;
      EXPECT_EQ(c->stale, std::optional<bool>(false)) << k.what << ": " << c->note;
    }
  }
}

// listen() creates the object, then locks byte 0, then sizes it: an empty unlocked object may
// be one syscall old, so it is stale only once it is old; a sized unlocked one never is new.
TEST(ListChannels, ObjectLeftByAListenerThatDiedCreatingItIsStaleAndAFreshEmptyOneUnknown) {
  CraftedChannel empty;
  auto c = listed(empty.name());
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->stale.has_value()) << c->note;
  EXPECT_TRUE(has_substring(c->note, "being created"));
  {
    LockHolder listener(empty.object(), {sc::kReceiverLockByte});
    EXPECT_EQ(listed_or_fail(empty.name()).stale, std::optional<bool>(false));
  }
  const struct timespec hour_ago[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
  ASSERT_EQ(::futimens(empty.fd(), hour_ago), 0) << std::strerror(errno);
  c = listed(empty.name());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stale, std::optional<bool>(true)) << c->note;
  EXPECT_TRUE(has_substring(c->note, "died while creating it"));

  CraftedChannel sized;  // ftruncate'd, no header written: listen() had locked before that
  sized.resize(kTotalSize);
  c = listed(sized.name());
  ASSERT_TRUE(c);
  EXPECT_EQ(c->stale, std::optional<bool>(true)) << c->note;
  {
    LockHolder listener(sized.object(), {sc::kReceiverLockByte});
    c = listed(sized.name());
    ASSERT_TRUE(c);
    EXPECT_EQ(c->stale, std::optional<bool>(false)) << c->note;
    EXPECT_TRUE(has_substring(c->note, "being created"));
  }
  // Header written, ready still 0: the listener was initialising.
  CraftedChannel half;
  auto h = half.write_header(0);
  h.ready = 0;
  half.write(h);
  EXPECT_EQ(listed_or_fail(half.name()).stale, std::optional<bool>(true));
}

TEST(ListChannels, SymlinksFoldersAndOtherObjectsAreNotChannels) {
  CraftedChannel target;
  target.write_header(0);
  const std::string link_name = test::unique_name();
  const std::filesystem::path link = "/dev/shm/ipckit-ch-" + link_name;
  const std::filesystem::path folder = "/dev/shm/ipckit-ch-" + test::unique_name();
  const std::string other = "/" + test::unique_name();  // an ordinary shm object of ours
  struct Cleanup {
    std::vector<std::filesystem::path> paths;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& p : paths) std::filesystem::remove(p, ec);
    }
  } cleanup{{link, folder, "/dev/shm" + other}};
  std::filesystem::create_symlink(target.path(), link);
  std::filesystem::create_directory(folder);
  const int fd = ::shm_open(other.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_NE(fd, -1);
  ::close(fd);

  bool saw_target = false;
  for (const ChannelInfo& c : list_channels()) {
    EXPECT_NE(c.name, link_name) << "a symlink was followed";
    EXPECT_NE(c.object, folder.filename().string().insert(0, "/"));
    EXPECT_NE(c.object, other);
    saw_target |= c.name == target.name();
  }
  EXPECT_TRUE(saw_target);
}

TEST(ListChannels, ObjectThisUserMayNotOpenIsListedWithStaleUnknown) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become user nobody";
  CraftedChannel ch;  // root's, 0600
  ch.write_header(0);  // stale to root
  ASSERT_EQ(listed_or_fail(ch.name()).stale, std::optional<bool>(true));

  Forked nobody([&]() -> int {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) return 10;
    const auto c = listed(ch.name());
    EXPECT_TRUE(c) << "an object nobody may open is still listed";
    if (!c) return 11;
    EXPECT_FALSE(c->stale.has_value());
    EXPECT_EQ(c->owner, "root");
    EXPECT_EQ(c->perms, "0600");
    EXPECT_EQ(c->capacity, 0u);
    EXPECT_TRUE(has_substring(c->note, "not readable by this user"));
    EXPECT_EQ(remove_stale_channel(ch.name()), StaleRemoval::unknown);
    return 0;
  });
  const ExitStatus st = nobody.wait();
  EXPECT_TRUE(st.success()) << st.to_string();
  EXPECT_TRUE(ch.exists());
}

// The same through the command: `ipckit ls --json` run as nobody shows stale and capacity null.
TEST(ListChannels, LsAsAUserWhoMayNotOpenTheObjectShowsStaleAndCapacityNull) {
  if (!have_setpriv()) GTEST_SKIP() << "needs root and setpriv to run ipckit as another user";
  CraftedChannel ch;  // root's, 0600
  ch.write_header(0);
  const std::string out = run_cli_as_nobody("ls --json --channels");
  const auto j = json::parse(out.substr(0, out.rfind("exit=")));
  const auto row = json_row(j, ch.name());
  ASSERT_TRUE(row) << out;
  EXPECT_TRUE(row->at("stale").is_null()) << row->dump();
  EXPECT_TRUE(row->at("capacity").is_null()) << row->dump();
  EXPECT_EQ(row->at("owner"), "root");
}

// --- remove_stale_channel ---------------------------------------------------------------------

TEST(RemoveStaleChannel, RemovesAStaleOneAndNothingLiveOrMissing) {
  CraftedChannel stale;
  stale.write_header(0);
  CraftedChannel live;
  live.write_header(0);
  LockHolder listener(live.object(), {sc::kReceiverLockByte});

  EXPECT_EQ(remove_stale_channel(live.name()), StaleRemoval::not_stale);
  EXPECT_TRUE(live.exists());
  EXPECT_EQ(remove_stale_channel(stale.name()), StaleRemoval::removed);
  EXPECT_FALSE(stale.exists());
  EXPECT_EQ(remove_stale_channel(stale.name()), StaleRemoval::gone);
  EXPECT_TRUE(has_substring(test::message_of([] { (void)remove_stale_channel("a/b"); }), "'/'"));
}

// The listing is a snapshot: a channel stale when listed and live when removed stays.
TEST(RemoveStaleChannel, LooksAgainRightBeforeRemoving) {
  CraftedChannel ch;
  ch.write_header(0);
  ASSERT_EQ(listed_or_fail(ch.name()).stale, std::optional<bool>(true));
  LockHolder sender(ch.object(), {sc::sender_lock_byte(3)});  // joined since
  EXPECT_EQ(remove_stale_channel(ch.name()), StaleRemoval::not_stale);
  EXPECT_TRUE(ch.exists());
  sender.kill();
  EXPECT_EQ(remove_stale_channel(ch.name()), StaleRemoval::removed);
  EXPECT_FALSE(ch.exists());
}

// --- memfd channels (shm://@NAME) -------------------------------------------------------------

// A real memfd channel's listener in a forked child: "@NAME", listening until killed.
class MemfdListener {
 public:
  MemfdListener() : name_("@" + test::unique_name()) {
    Pipe listening = Pipe::create();
    child_ = std::make_unique<Forked>([&, url = url()]() -> int {
      listening.read_end.reset();
      const Channel ch = Channel::listen(url);
      test::notify(listening.write_end);
      for (;;) ::pause();
    });
    listening.write_end.reset();
    EXPECT_TRUE(test::await(listening.read_end)) << "the listener of " << url() << " did not start";
  }

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::string url() const { return "shm://" + name_ + "?capacity=4096"; }
  [[nodiscard]] pid_t pid() const { return child_->pid(); }
  void kill() {
    ASSERT_EQ(::kill(child_->pid(), SIGKILL), 0);
    EXPECT_EQ(child_->wait().signal, SIGKILL);
  }

 private:
  std::string name_;
  std::unique_ptr<Forked> child_;
};

// How many times list_channels() lists `name`.
std::size_t times_listed(const std::string& name) {
  const auto all = list_channels();
  return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const ChannelInfo& c) { return c.name == name; }));
}

TEST(ListChannels, MemfdChannelIsListedOnceWithItsEndsAndTheProcessesHoldingIt) {
  MemfdListener listener;
  Channel sender = Channel::connect(listener.url(), {}, Deadline::after(20s));

  EXPECT_EQ(times_listed(listener.name()), 1u) << "one memfd, held by two processes: one row";
  const ChannelInfo c = listed_or_fail(listener.name());
  EXPECT_TRUE(c.memfd);
  EXPECT_EQ(c.object, "memfd:ipckit-ch-" + listener.name().substr(1));
  ASSERT_TRUE(c.stale.has_value()) << c.note;
  EXPECT_FALSE(*c.stale);
  EXPECT_TRUE(c.reader_alive);
  EXPECT_EQ(c.reader_pid, listener.pid());
  EXPECT_EQ(c.writers, 1u);
  EXPECT_EQ(c.writer_pid, ::getpid());
  EXPECT_EQ(c.capacity, 4096u);
  std::vector<pid_t> holders{::getpid(), listener.pid()};
  std::sort(holders.begin(), holders.end());
  EXPECT_EQ(c.holders, holders);
  EXPECT_EQ(c.owner, user_name(::geteuid()));
  EXPECT_EQ(c.note, "");
}

TEST(ListChannels, MemfdChannelWhoseListenerWasKilledIsNotStaleAndGoesWithItsLastHolder) {
  MemfdListener listener;
  std::optional<Channel> sender = Channel::connect(listener.url(), {}, Deadline::after(20s));
  listener.kill();

  ChannelInfo c = listed_or_fail(listener.name());
  EXPECT_TRUE(c.memfd);
  EXPECT_FALSE(c.reader_alive);
  EXPECT_EQ(c.reader_pid, 0);
  ASSERT_TRUE(c.stale.has_value()) << c.note;
  EXPECT_FALSE(*c.stale) << "a sender holds its lock";
  EXPECT_EQ(c.holders, std::vector<pid_t>{::getpid()});
  EXPECT_TRUE(has_substring(c.note, "listener is gone")) << c.note;

  sender.reset();  // the last descriptor: the kernel frees the memfd
  EXPECT_EQ(times_listed(listener.name()), 0u);
}

// A descriptor of the memfd of channel `name` ("@NAME") that process `pid` holds, opened in
// this process through /proc (as a sender gets one before it locks its slot): it holds no
// lock. Empty (and a test failure) when the process holds none.
Fd memfd_descriptor_of(pid_t pid, const std::string& name) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (target == "/memfd:ipckit-ch-" + name.substr(1) + " (deleted)") return Fd{::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC)};
  }
  ADD_FAILURE() << "the memfd of shm://" << name << " is not among the descriptors of pid " << pid;
  return Fd{};
}

TEST(ListChannels, MemfdHeldOnlyByADescriptorWithoutALockIsUnknownNeverStale) {
  MemfdListener listener;
  const Fd held = memfd_descriptor_of(listener.pid(), listener.name());
  ASSERT_TRUE(held);
  listener.kill();

  const ChannelInfo c = listed_or_fail(listener.name());
  EXPECT_TRUE(c.memfd);
  EXPECT_FALSE(c.stale.has_value()) << "nothing to remove: the kernel frees it with its holders";
  EXPECT_EQ(c.holders, std::vector<pid_t>{::getpid()});
  EXPECT_TRUE(has_substring(c.note, std::to_string(::getpid()))) << c.note;
}

// A file on another filesystem whose descriptor reads like a memfd channel's ("/memfd:ipckit-
// ch-NAME (deleted)": a file of that name in / that was removed) is not a memfd: it is never
// listed, nor stat'ed or opened through the link (on a FUSE mount that could block).
TEST(ListChannels, ADeletedFileNamedLikeAMemfdIsNotListed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a file in /";
  const std::string name = test::unique_name();
  const std::string path = "/memfd:ipckit-ch-" + name;
  const int raw = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (raw == -1) GTEST_SKIP() << path << ": " << std::strerror(errno) << " (a read-only /?)";
  const Fd fd{raw};
  ASSERT_EQ(::unlink(path.c_str()), 0);
  // Sized and filled like a channel's header would be, so that only where it lives tells.
  ASSERT_EQ(::ftruncate(fd.get(), 4096), 0);
  const std::string link = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd.get())).string();
  ASSERT_EQ(link, path + " (deleted)") << "the descriptor must read like a memfd channel's";
  EXPECT_EQ(times_listed("@" + name), 0u);
}

// --- ipckit ls --------------------------------------------------------------------------------

TEST(LsChannelsCli, ChannelsShowByDefaultAndWithChannelsButNotWithOtherFilters) {
  CraftedChannel ch;
  LockHolder listener(ch.object(), {sc::kReceiverLockByte});
  ch.write_header(listener.pid());
  const std::string row_start = "shm://" + ch.name() + " ";

  struct Case {
    std::vector<std::string> flags;
    bool channels, sysv_shm;
    bool text;  // also look at the text (each run of ipckit costs a few hundred ms under ASan)
  };
  for (const Case& k : {Case{{}, true, true, true}, Case{{"--channels"}, true, false, true},
                        Case{{"-m"}, false, true, false}, Case{{"--posix"}, false, false, false},
                        Case{{"--channels", "--sysv"}, true, true, false},
                        Case{{"--channels", "-m"}, true, false, false}}) {
    std::string what;
    for (const auto& f : k.flags) what += f + " ";
    const json j = ls_json(k.flags);
    EXPECT_EQ(json_row(j, ch.name()).has_value(), k.channels) << what;
    EXPECT_TRUE(k.channels || j.at("channels").empty()) << what;

    if (!k.text) continue;
    std::vector<std::string> args{"ls"};
    args.insert(args.end(), k.flags.begin(), k.flags.end());
    const auto text = run_cli(args);
    ASSERT_EQ(text.status.shell_code(), 0) << what << text.err;
    EXPECT_EQ(text.out.find("ipckit Channels") != std::string::npos, k.channels) << what << text.out;
    EXPECT_EQ(text.out.find("Shared Memory Segments") != std::string::npos, k.sysv_shm) << what << text.out;
    const std::string line = line_with(text.out, row_start);
    EXPECT_EQ(!line.empty(), k.channels) << what << text.out;
    if (k.channels) {
      EXPECT_TRUE(has_substring(line, " live ")) << line;
      EXPECT_TRUE(has_substring(line, " " + std::to_string(listener.pid()) + " ")) << line;
      EXPECT_TRUE(has_substring(line, " 4096 ")) << line;
    }
  }
}

// --- ipckit rm --stale (each in a private /dev/shm) ----------------------------------------

TEST(RmStaleCli, RemovesExactlyTheStaleChannelAndLeavesEverythingElse) {
  IPCKIT_EXPECT_PRIVATE_RUN(in_private_dev_shm([] {
    CraftedChannel stale;
    LockHolder dead_listener(stale.object(), {sc::kReceiverLockByte});
    LockHolder dead_sender(stale.object(), {sc::sender_lock_byte(0)});
    stale.write_header(dead_listener.pid());
    stale.set_slot(0, sc::SlotState::active, dead_sender.pid());
    CraftedChannel live;
    LockHolder listener(live.object(), {sc::kReceiverLockByte});
    live.write_header(listener.pid());
    CraftedChannel orphan_sender;  // listener dead, a sender still there: not stale
    LockHolder sender(orphan_sender.object(), {sc::sender_lock_byte(1)});
    orphan_sender.write_header(0);
    CraftedChannel fresh;  // empty and unlocked, just made: unknown, left alone
    const std::string unrelated = "/" + test::unique_name();
    const int fd = ::shm_open(unrelated.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_NE(fd, -1);
    ::close(fd);

    dead_listener.kill();
    dead_sender.kill();
    const auto before = json_row(ls_json(), stale.name());
    ASSERT_TRUE(before);
    ASSERT_EQ(before->at("stale"), true) << before->dump();

    const auto r = run_cli({"rm", "--stale"});
    EXPECT_EQ(r.status.shell_code(), 0) << r.err;
    EXPECT_EQ(r.out, "removed stale channel shm://" + stale.name() + " (" + stale.object() +
                         "): every end is gone (its listener was pid " + std::to_string(dead_listener.pid()) + ")\n");
    EXPECT_TRUE(has_substring(r.err, "left shm://" + fresh.name() + " alone")) << r.err;
    EXPECT_FALSE(stale.exists());
    EXPECT_TRUE(live.exists());
    EXPECT_TRUE(orphan_sender.exists());
    EXPECT_TRUE(fresh.exists());
    EXPECT_TRUE(std::filesystem::exists("/dev/shm" + unrelated));
    (void)::shm_unlink(unrelated.c_str());

    const auto again = run_cli({"rm", "--stale"});
    EXPECT_EQ(again.status.shell_code(), 0) << again.err;
    EXPECT_EQ(again.out, "no stale channels\n");
  }));
}

TEST(RmStaleCli, WithOtherFlagsRemovesTheNamedObjectsAndTheStaleChannels) {
  IPCKIT_EXPECT_PRIVATE_RUN(in_private_dev_shm([] {
    CraftedChannel stale;
    stale.write_header(0);
    const std::string object = "/" + test::unique_name();
    const int fd = ::shm_open(object.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_NE(fd, -1);
    ::close(fd);
    const auto r = run_cli({"rm", "--shm", object, "--stale"});
    EXPECT_EQ(r.status.shell_code(), 0) << r.err;
    EXPECT_TRUE(has_substring(r.out, "removed stale channel shm://" + stale.name())) << r.out;
    EXPECT_FALSE(stale.exists());
    EXPECT_FALSE(std::filesystem::exists("/dev/shm" + object));
  }));
}

TEST(RmStaleCli, ChannelThisUserMayNotRemoveIsReportedWithExitOne) {
  if (!have_setpriv()) GTEST_SKIP() << "needs root and setpriv to run ipckit as another user";
  IPCKIT_EXPECT_PRIVATE_RUN(in_private_dev_shm([] {
    CraftedChannel ch;  // root's, readable by all, in the sticky /dev/shm: not nobody's to remove
    ch.write_header(0);
    ASSERT_EQ(::fchmod(ch.fd(), 0644), 0);
    const std::string out = run_cli_as_nobody("rm --stale");
    EXPECT_TRUE(has_substring(out, "exit=1")) << out;
    EXPECT_TRUE(has_substring(out, "shm://" + ch.name())) << out;
    EXPECT_TRUE(out.find("EPERM") != std::string::npos || out.find("EACCES") != std::string::npos) << out;
    EXPECT_TRUE(ch.exists());
  }));
}

// --- the real transport ---------------------------------------------------------------------

TEST(RmStaleCli, RealChannelWhoseListenerAndSenderWereKilledIsStaleAndRemoved) {
  IPCKIT_EXPECT_PRIVATE_RUN(in_private_dev_shm([] {
    const std::string name = test::unique_name();
    const std::string url = "shm://" + name + "?capacity=4096";
    struct Unlink {
      std::string object;
      ~Unlink() { (void)::shm_unlink(object.c_str()); }
    } unlink{std::string(sc::kObjectPrefix) + name};

    Pipe listening = Pipe::create();
    Forked listener([&]() -> int {
      listening.read_end.reset();
      Channel ch = Channel::listen(url);
      test::notify(listening.write_end);
      for (;;) ::pause();
    });
    listening.write_end.reset();
    ASSERT_TRUE(test::await(listening.read_end));
    Pipe joined = Pipe::create();
    Forked sender([&]() -> int {
      joined.read_end.reset();
      Channel ch = Channel::connect(url, {}, Deadline::after(20s));
      const std::string hello = "hello";
      if (!ch.send(std::as_bytes(std::span{hello.data(), hello.size()})).ok()) return 10;
      test::notify(joined.write_end);
      for (;;) ::pause();
    });
    joined.write_end.reset();
    ASSERT_TRUE(test::await(joined.read_end));

    auto row = json_row(ls_json({"--channels"}), name);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->at("stale"), false);
    EXPECT_EQ(row->at("reader_pid"), listener.pid());
    EXPECT_EQ(row->at("writer_pid"), sender.pid());
    EXPECT_EQ(row->at("capacity"), 4096);

    for (Forked* child : {&listener, &sender}) {
      ASSERT_EQ(::kill(child->pid(), SIGKILL), 0);
      const ExitStatus st = child->wait();
      EXPECT_EQ(st.signal, SIGKILL) << st.to_string();
    }
    row = json_row(ls_json(), name);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->at("stale"), true) << row->dump();
    EXPECT_EQ(row->at("reader_pid"), 0);
    EXPECT_EQ(row->at("writer_pid"), 0);

    const auto r = run_cli({"rm", "--stale"});
    EXPECT_EQ(r.status.shell_code(), 0) << r.err;
    EXPECT_TRUE(has_substring(r.out, "removed stale channel shm://" + name + " ")) << r.out;
    EXPECT_FALSE(std::filesystem::exists("/dev/shm" + unlink.object));
    EXPECT_FALSE(json_row(ls_json(), name).has_value());
    // The name is free again: a new listener may take it.
    const Channel again = Channel::listen(url);
    EXPECT_TRUE(again.is_listener());
  }));
}

// `rm --stale` runs in a private /dev/shm only so that it cannot remove other tests' stale
// channels; the memfds it sees are the host's.
TEST(RmStaleCli, MemfdChannelsAreListedAndLeftAlone) {
  IPCKIT_EXPECT_PRIVATE_RUN(in_private_dev_shm([] {
    MemfdListener live;  // its listener lives: not stale
    MemfdListener left;  // only a descriptor without a lock is left: unknown
    const Fd held = memfd_descriptor_of(left.pid(), left.name());
    ASSERT_TRUE(held);
    left.kill();

    const json j = ls_json({"--channels"});
    const auto live_row = json_row(j, live.name());
    const auto left_row = json_row(j, left.name());
    ASSERT_TRUE(live_row && left_row) << j.dump();
    EXPECT_EQ(live_row->at("memfd"), true);
    EXPECT_EQ(live_row->at("stale"), false);
    EXPECT_EQ(live_row->at("holders"), json::array({live.pid()}));
    EXPECT_EQ(left_row->at("stale"), nullptr);
    EXPECT_EQ(left_row->at("holders"), json::array({::getpid()}));
    const auto text = run_cli({"ls", "--channels"});
    EXPECT_TRUE(has_substring(line_with(text.out, "shm://" + live.name() + " "), " live ")) << text.out;

    const auto r = run_cli({"rm", "--stale"});
    EXPECT_EQ(r.status.shell_code(), 0) << r.err;
    EXPECT_TRUE(has_substring(r.out, "no stale channels")) << r.out;
    EXPECT_TRUE(has_substring(r.err, "left shm://" + left.name() + " alone")) << r.err;
    const json after = ls_json({"--channels"});
    EXPECT_TRUE(json_row(after, live.name()).has_value());
    EXPECT_TRUE(json_row(after, left.name()).has_value());
  }));
}

}  // namespace
}  // namespace ipckit
