// `ipckit ls` as a user runs it: its JSON contract and its text, against lsipc and ipcs.
//
// Other tests create System V objects, /dev/shm objects and queues at the same time (ctest -j),
// so every check looks only at the objects this test made, by id, key or name. Each object is
// owned by a guard that removes it even when an assertion fails (listing_test_util.hpp).

#include "listing_test_util.hpp"

namespace ipckit {
namespace {

using namespace listing_test;

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

}  // namespace
}  // namespace ipckit
