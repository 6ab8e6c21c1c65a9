#include "test_util.hpp"

#include <gtest/gtest.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <iterator>
#include <span>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace ipckit::test {

std::string unique_name(std::string_view prefix) {
  static std::atomic<unsigned> counter{0};
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

TempDir::TempDir() : path_(std::filesystem::path("/tmp") / unique_name()) {
  std::filesystem::create_directory(path_);
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// Failed assertions recorded so far in the current test (so a child counts only its own).
int failed_parts() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return 0;
  const auto* result = info->result();
  int failed = 0;
  for (int i = 0; i < result->total_part_count(); ++i)
    if (result->GetTestPartResult(i).failed()) ++failed;
  return failed;
}

}  // namespace

Forked::Forked(std::function<int()> body) {
  std::fflush(nullptr);
  const int failed_before = failed_parts();
  pid_ = ::fork();
  if (pid_ == -1) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int code = 0;
    try {
      code = body();
      if (failed_parts() > failed_before) code = 101;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
      code = 102;
    } catch (...) {
      code = 103;
    }
    std::fflush(nullptr);
    ::_exit(code);
  }
}

Forked::~Forked() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) == -1 && errno == EINTR) {
    }
  }
}

ExitStatus Forked::wait(std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  for (;;) {
    pid_t rc = ::waitpid(pid_, &st, WNOHANG);
    if (rc == pid_) break;
    if (rc == -1 && errno != EINTR) throw std::runtime_error("waitpid failed");
    if (std::chrono::steady_clock::now() > until) {
      ADD_FAILURE() << "child " << pid_ << " did not end within " << timeout.count() << " s; killed";
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  reaped_ = true;
  return ExitStatus::from_wait_status(st);
}

pid_t this_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

bool wait_until_blocked_in(pid_t tid, long nr, std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  const std::string stat_path = "/proc/" + std::to_string(tid) + "/stat";
  const std::string syscall_path = "/proc/" + std::to_string(tid) + "/syscall";
  while (std::chrono::steady_clock::now() < until) {
    std::ifstream stat(stat_path);
    std::string line;
    std::getline(stat, line);
    auto close_paren = line.rfind(')');
    char state = close_paren != std::string::npos && close_paren + 2 < line.size() ? line[close_paren + 2] : '?';
    std::ifstream sc(syscall_path);
    long current = -2;
    sc >> current;
    if (state == 'S' && current == nr) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

std::string shell_output(const std::string& command) {
  auto child = Child::spawn({.argv = {"sh", "-c", command}, .out = Stdio::pipe()});
  std::string out = read_all(child.stdout_pipe());
  (void)child.wait();
  return out;
}

std::string cli_path() { return IPCKIT_CLI_PATH; }

bool can_become_nobody() { return ::geteuid() == 0; }

bool become_nobody() {
  return ::setgroups(0, nullptr) == 0 && ::setresgid(kNobody, kNobody, kNobody) == 0 &&
         ::setresuid(kNobody, kNobody, kNobody) == 0;
}

CliRun run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = Child::spawn({.argv = argv, .in = Stdio::null(), .out = Stdio::pipe(), .err = Stdio::pipe()});
  // Read stderr on a thread so neither pipe can fill up and stall the child.
  std::string err;
  std::thread err_reader([&] { err = read_all(child.stderr_pipe()); });
  std::string out = read_all(child.stdout_pipe());
  err_reader.join();
  return CliRun{child.wait(), std::move(out), std::move(err)};
}

std::string message_of(const std::function<void()>& f) { return error_from(f).what(); }

void put(Region& region, std::size_t offset, std::string_view text) {
  auto dst = region.subspan(offset, text.size());
  std::memcpy(dst.data(), text.data(), text.size());
}

std::string get(const Region& region, std::size_t offset, std::size_t n) {
  auto src = region.subspan(offset, n);
  return {reinterpret_cast<const char*>(src.data()), src.size()};
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void make_file(const std::filesystem::path& path, std::string_view content, std::size_t size) {
  Fd fd{::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  ASSERT_TRUE(fd.valid()) << path << ": " << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  ASSERT_EQ(::pwrite(fd.get(), content.data(), content.size(), 0), static_cast<ssize_t>(content.size()));
}

Fd open_file(const std::filesystem::path& path, int flags) {
  Fd fd{::open(path.c_str(), flags | O_CLOEXEC)};
  EXPECT_TRUE(fd.valid()) << path << ": " << std::strerror(errno);
  return fd;
}

short poll_in(const Fd& fd, int timeout_ms) {
  pollfd p{fd.get(), POLLIN, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, timeout_ms);
  } while (rc == -1 && errno == EINTR);
  return rc > 0 ? p.revents : static_cast<short>(0);
}

void notify(const Fd& fd) { ASSERT_TRUE(fd.write_all(std::as_bytes(std::span{"!", 1})).ok()); }

bool await(const Fd& fd) {
  std::byte b{};
  return fd.read_exact(std::span{&b, 1}, Deadline::after(std::chrono::seconds(30))).ok();
}

RemoveAtEnd::~RemoveAtEnd() {
  if (::getpid() != owner_) return;
  try {
    remove_();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "could not remove " << what_ << " at the end of the test: " << e.what();
  }
}

bool has_sys_resource() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return (data[0].effective & (1U << CAP_SYS_RESOURCE)) != 0;
}

bool drop_sys_resource() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[0].effective &= ~(1U << CAP_SYS_RESOURCE);
  data[0].permitted &= ~(1U << CAP_SYS_RESOURCE);
  return ::syscall(SYS_capset, &header, data) == 0;
}

}  // namespace ipckit::test
