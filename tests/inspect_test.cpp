// The library's listings: list_sysv_shm / _msg / _sem, list_posix_shm and list_posix_mq against
// what the system's own tools say (lsipc, ipcs, ipcmk, Python's shm_open, the mqueue filesystem).
// POSIX message queues can be listed only through the mqueue filesystem; tests that need it
// mount it in a private mount namespace (as root), so the host's mounts never change.
//
// Other tests create System V objects, /dev/shm objects and queues at the same time (ctest -j),
// so every check looks only at the objects this test made, by id, key or name. Each object is
// owned by a guard that removes it even when an assertion fails (listing_test_util.hpp).

#include "listing_test_util.hpp"

namespace ipckit {
namespace {

using namespace listing_test;

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

}  // namespace
}  // namespace ipckit
