// `ipckit rm` as a user runs it: every flag, several objects at once, and refusals.
//
// Other tests create System V objects, /dev/shm objects and queues at the same time (ctest -j),
// so every check looks only at the objects this test made, by id, key or name. Each object is
// owned by a guard that removes it even when an assertion fails (listing_test_util.hpp).

#include "listing_test_util.hpp"

namespace ipckit {
namespace {

using namespace listing_test;

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
