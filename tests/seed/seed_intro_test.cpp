// Conformance: the seed's reasons why processes communicate (intro), I1 and I2, on the real
// kernel. I3 (sharing with mutual exclusion) and I4 (process control) come with the shared
// memory, semaphore and signal modules.

#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "ipckit/deadline.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;

std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span{s.data(), s.size()});
}

// I1: a process sends its data to another and gets the other's work back: the parent writes
// text into `tr a-z A-Z` through one pipe and reads the result through a second one.
TEST(SeedIntro, I1_DataTransferBetweenProcesses) {
  auto child =
      Child::spawn({.argv = {"tr", "a-z", "A-Z"}, .in = Stdio::pipe(), .out = Stdio::pipe()});
  ASSERT_TRUE(child.stdin_pipe().write_all(bytes("hello, other process\n")).ok());
  child.stdin_pipe().reset();  // end of stream: tr finishes and exits
  EXPECT_EQ(read_all(child.stdout_pipe()), "HELLO, OTHER PROCESS\n");
  EXPECT_TRUE(child.wait().success());
}

// The same with more data than both pipes hold: the parent writes on one thread while it
// reads on another, as it must, or both processes would block on full pipes.
TEST(SeedIntro, I1_DataTransferLargerThanThePipesFlowsBothWays) {
  std::string sent;
  for (int i = 0; sent.size() < (1u << 20); ++i)
    sent += "line " + std::to_string(i) + " of lowercase text\n";
  std::string expected = sent;
  for (char& c : expected)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');

  auto child =
      Child::spawn({.argv = {"tr", "a-z", "A-Z"}, .in = Stdio::pipe(), .out = Stdio::pipe()});
  std::thread writer([&] {
    EXPECT_TRUE(child.stdin_pipe().write_all(bytes(sent)).ok());
    child.stdin_pipe().reset();
  });
  std::string got = read_all(child.stdout_pipe());
  writer.join();
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected);
  EXPECT_TRUE(child.wait().success());
}

// I2: the parent learns that its child ended. The pidfd becomes readable when the child
// exits; no SIGCHLD handler is installed, and SIGCHLD is even blocked.
TEST(SeedIntro, I2_ParentLearnsChildEndedThroughPidfd) {
  struct sigaction current {};
  ASSERT_EQ(::sigaction(SIGCHLD, nullptr, &current), 0);
  ASSERT_EQ(current.sa_handler, SIG_DFL) << "this test wants no SIGCHLD handler";
  sigset_t sigchld;
  sigemptyset(&sigchld);
  sigaddset(&sigchld, SIGCHLD);
  sigset_t old_mask;
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &sigchld, &old_mask), 0);

  {
    // The child runs until this process closes its stdin.
    auto child = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::null()});
    ASSERT_TRUE(child.pidfd().valid()) << "pidfd_open is missing (kernel before 5.3)";
    EXPECT_EQ(test::poll_in(child.pidfd(), 0), 0) << "the pidfd is readable while the child runs";

    child.stdin_pipe().reset();
    short revents = test::poll_in(child.pidfd(), 30'000);
    EXPECT_NE(revents & POLLIN, 0) << "poll on the pidfd did not wake when the child ended";
    ExitStatus status = child.wait();
    EXPECT_TRUE(status.success()) << status.to_string();
  }

  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
}

// I2, second form: the status tells how the child ended: its exit code, or the signal that
// killed it.
TEST(SeedIntro, I2_ExitStatusSaysHowTheChildEnded) {
  auto exits = Child::spawn({.argv = {"sh", "-c", "exit 3"}});
  ExitStatus exited = exits.wait();
  EXPECT_TRUE(exited.exited);
  EXPECT_EQ(exited.code, 3);
  EXPECT_EQ(exited.to_string(), "exited with 3");

  auto runs = Child::spawn({.argv = {"cat"}, .in = Stdio::pipe(), .out = Stdio::null()});
  runs.kill(SIGTERM);
  auto killed = runs.wait(Deadline::after(30s));
  ASSERT_TRUE(killed.has_value()) << "the child outlived SIGTERM";
  EXPECT_FALSE(killed->exited);
  EXPECT_EQ(killed->signal, SIGTERM);
  EXPECT_EQ(killed->shell_code(), 128 + SIGTERM);
  EXPECT_EQ(killed->to_string(), "killed by SIGTERM");
}

}  // namespace
}  // namespace ipckit
