#include "ipckit/process.hpp"

#include <array>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "ipckit/pipe.hpp"
#include "ipckit/signal.hpp"
#include "sys.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX gives no header

namespace ipckit {
namespace {

// An argument as a shell would need it written: plain when it is safe, else in single quotes.
std::string shell_quoted(const std::string& arg) {
  constexpr std::string_view kSafe =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-";
  if (!arg.empty() && arg.find_first_not_of(kSafe) == std::string::npos) return arg;
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// "sh -c 'echo a; exit 3'": a command line for messages.
std::string join_command(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += shell_quoted(a);
  }
  return out;
}

// "SIGSEGV" from the signal table; "signal 32" for a number that is no signal here.
std::string signal_text(int sig) {
  for (const SignalInfo& row : signal_table())
    if (row.number == sig) return row.name;
  return "signal " + std::to_string(sig);
}

// Owns posix_spawn's two attribute objects for the length of one spawn.
struct SpawnAttributes {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  SpawnAttributes() {
    sys::check_errno(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init", "");
    if (int rc = posix_spawnattr_init(&attr); rc != 0) {
      posix_spawn_file_actions_destroy(&actions);
      sys::fail("posix_spawnattr_init", "", rc);
    }
  }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  ~SpawnAttributes() {
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
  }
};

// A descriptor for the child's side, numbered above 2 so that one dup2 onto 0..2 can never
// overwrite another that is still to be placed.
Fd above_stdio(Fd fd) {
  if (fd.get() > 2) return fd;
  return Fd{sys::check(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3), "fcntl(F_DUPFD_CLOEXEC)", "stdio")};
}

const char* stream_name(int target) {
  static constexpr std::array<const char*, 3> kNames{"stdin", "stdout", "stderr"};
  return kNames.at(static_cast<std::size_t>(target));
}

// Opens a Stdio::file for stream `target`: read for stdin; for stdout and stderr created
// (0644 before umask) and truncated, or appended to.
Fd open_stdio_file(const Stdio& s, int target) {
  int flags = target == 0 ? O_RDONLY : (O_WRONLY | O_CREAT | (s.append() ? O_APPEND : O_TRUNC));
  const std::string path = s.path().string();
  int fd = sys::retry_eintr([&] { return ::open(path.c_str(), flags | O_CLOEXEC, 0644); });
  if (fd == -1) {
    int err = errno;
    sys::fail("open", path, err, std::string("cannot open the child's ") + stream_name(target));
  }
  return Fd{fd};
}

pid_t spawn_program(const SpawnOptions& o, SpawnAttributes& sa, char* const* envp) {
  std::vector<char*> argv;
  argv.reserve(o.argv.size() + 1);
  for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));  // NOLINT
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, argv[0], &sa.actions, &sa.attr, argv.data(), envp);
  if (rc == 0) return pid;
  const std::string& program = o.argv[0];
  std::string hint;
  bool has_slash = program.find('/') != std::string::npos;
  if (rc == ENOENT) {
    const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
    hint = has_slash ? "no such program file"
                     : "no program of that name in PATH (" + std::string(path ? path : "") + ")";
  } else if (rc == EACCES) {
    hint = "the file is not executable (check its mode and the mount's noexec)";
  } else if (rc == ENOEXEC) {
    hint = "the file is not a program this system can run (no #! line, wrong architecture?)";
  }
  sys::fail("posix_spawnp", program, rc, hint);
}

// The child starts with no signal blocked and SIGPIPE at its default action, as a shell's
// children do, whatever this thread has blocked or ignored.
void start_with_default_signals(SpawnAttributes& sa) {
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&sa.attr, &empty);
  posix_spawnattr_setsigdefault(&sa.attr, &defaults);
  posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

// The child's environment: this process's, with each "NAME=value" of `extra` added or
// replacing the variable of that name.
class Environment {
 public:
  explicit Environment(const std::vector<std::string>& extra) {
    if (extra.empty()) return;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const auto name = entry.substr(0, entry.find('='));
      const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const std::string& x) {
        return std::string_view(x).substr(0, x.find('=')) == name;
      });
      if (!overridden) storage_.emplace_back(entry);
    }
    storage_.insert(storage_.end(), extra.begin(), extra.end());
    for (auto& e : storage_) pointers_.push_back(e.data());
    pointers_.push_back(nullptr);
  }
  [[nodiscard]] char* const* envp() const noexcept { return pointers_.empty() ? environ : pointers_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> pointers_;
};

}  // namespace

// --- Stdio, ExitStatus ------------------------------------------------------------------

Stdio Stdio::file(std::filesystem::path path, bool append) {
  Stdio s{Kind::file};
  s.path_ = std::move(path);
  s.append_ = append;
  return s;
}

Stdio Stdio::from(const Fd& fd) {
  Stdio s{Kind::descriptor};
  s.fd_ = fd.get();
  return s;
}

ExitStatus ExitStatus::from_wait_status(int status) noexcept {
  ExitStatus s;
  if (WIFEXITED(status)) {
    s.exited = true;
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
    s.core_dumped = WCOREDUMP(status);
  }
  return s;
}

std::string ExitStatus::to_string() const {
  if (exited) return "exited with " + std::to_string(code);
  return "killed by " + signal_text(signal) + (core_dumped ? " (core dumped)" : "");
}

// --- Child ------------------------------------------------------------------------------

Child Child::spawn(const SpawnOptions& o) {
  if (o.argv.empty() || o.argv[0].empty())
    sys::fail("posix_spawnp", "", EINVAL, "argv is empty: put the program in argv[0]");

  SpawnAttributes sa;
  Child child;
  std::vector<Fd> child_ends;  // this process's copies of the child's ends; closed after spawn

  auto place = [&](const Stdio& s, int target, Fd& parent_end) {
    Fd child_end;
    switch (s.kind()) {
      case Stdio::Kind::inherit:
        return;
      case Stdio::Kind::pipe: {
        Pipe p = Pipe::create();
        child_end = target == 0 ? std::move(p.read_end) : std::move(p.write_end);
        parent_end = target == 0 ? std::move(p.write_end) : std::move(p.read_end);
        break;
      }
      case Stdio::Kind::null:
        sys::check_errno(posix_spawn_file_actions_addopen(&sa.actions, target, "/dev/null",
                                                          target == 0 ? O_RDONLY : O_WRONLY, 0),
                         "posix_spawn_file_actions_addopen", "/dev/null");
        return;
      case Stdio::Kind::file:
        child_end = open_stdio_file(s, target);
        break;
      case Stdio::Kind::descriptor:
        child_end = Fd{sys::check(::fcntl(s.borrowed_fd(), F_DUPFD_CLOEXEC, 3),
                                  "fcntl(F_DUPFD_CLOEXEC)", stream_name(target),
                                  "the descriptor given for the child is not open")};
        break;
    }
    child_end = above_stdio(std::move(child_end));
    sys::check_errno(posix_spawn_file_actions_adddup2(&sa.actions, child_end.get(), target),
                     "posix_spawn_file_actions_adddup2", stream_name(target));
    child_ends.push_back(std::move(child_end));
  };
  place(o.in, 0, child.stdin_);
  place(o.out, 1, child.stdout_);
  place(o.err, 2, child.stderr_);

  if (!o.cwd.empty()) {
    struct stat st {};
    if (::stat(o.cwd.c_str(), &st) == -1) sys::fail("chdir", o.cwd.string(), errno, "the child's working directory");
    if (!S_ISDIR(st.st_mode)) sys::fail("chdir", o.cwd.string(), ENOTDIR, "the child's working directory");
    sys::check_errno(posix_spawn_file_actions_addchdir_np(&sa.actions, o.cwd.c_str()),
                     "posix_spawn_file_actions_addchdir_np", o.cwd.string());
  }

  start_with_default_signals(sa);
  Environment env(o.env);
  child.pid_ = spawn_program(o, sa, env.envp());
  // pidfd_open on our own unreaped child cannot race with pid reuse: the pid stays ours
  // until we wait for it.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid_, 0));
  if (pidfd >= 0) child.pidfd_ = Fd{pidfd};  // pidfd_open sets close-on-exec itself
  return child;
}

Child::Child(Child&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      status_(std::exchange(other.status_, std::nullopt)) {}

Child& Child::operator=(Child&& other) noexcept {
  if (this != &other) {
    terminate_and_reap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

Child::~Child() { terminate_and_reap(); }

void Child::terminate_and_reap() noexcept {
  if (pid_ <= 0 || status_) return;
  if (pidfd_) {
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  } else {
    ::kill(pid_, SIGKILL);
  }
  int st = 0;
  while (::waitpid(pid_, &st, 0) == -1 && errno == EINTR) {
  }
  status_ = ExitStatus::from_wait_status(st);
}

std::optional<ExitStatus> Child::reap(bool block) {
  if (status_) return status_;
  int st = 0;
  pid_t rc = sys::retry_eintr([&] { return ::waitpid(pid_, &st, block ? 0 : WNOHANG); });
  if (rc == -1) {
    int err = errno;
    sys::fail("waitpid", "pid " + std::to_string(pid_), err,
              err == ECHILD ? "not our child, or already reaped (is SIGCHLD set to SIG_IGN?)" : "");
  }
  if (rc == 0) return std::nullopt;
  status_ = ExitStatus::from_wait_status(st);
  return status_;
}

ExitStatus Child::wait() {
  stdin_.reset();
  return *reap(true);
}

std::optional<ExitStatus> Child::wait(Deadline deadline) {
  if (status_) return status_;
  if (pidfd_) {
    if (!pidfd_.wait_readable(deadline)) return std::nullopt;
    return reap(true);
  }
  // No pidfd (kernel before 5.3): poll waitpid.
  for (;;) {
    if (auto s = reap(false)) return s;
    if (deadline.expired()) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Child::kill(int signal) const {
  const std::string object = "pid " + std::to_string(pid_);
  if (status_) sys::fail("kill", object, ESRCH, "the child has ended and was reaped");
  if (pidfd_) {
    sys::check(::syscall(SYS_pidfd_send_signal, pidfd_.get(), signal, nullptr, 0),
               "pidfd_send_signal", object);
  } else {
    sys::check(::kill(pid_, signal), "kill", object);
  }
}

std::string read_all(const Fd& fd) {
  std::string out;
  std::array<std::byte, 16384> buf;
  for (;;) {
    IoResult r = fd.read_some(buf);
    if (r.status == IoStatus::end_of_stream) return out;
    out.append(reinterpret_cast<const char*>(buf.data()), r.bytes);  // NOLINT
  }
}

// --- Pipeline ---------------------------------------------------------------------------

bool PipelineResult::success() const noexcept {
  for (const auto& s : statuses)
    if (!s.success()) return false;
  return true;
}

const PipelineResult& PipelineResult::check() const {
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].success()) continue;
    std::string whole;
    for (const auto& c : commands) whole += (whole.empty() ? "" : " | ") + c;
    sys::fail("pipeline", whole, 0,
              "stage " + std::to_string(i + 1) + " of " + std::to_string(statuses.size()) +
                  " (`" + commands[i] + "`) " + statuses[i].to_string());
  }
  return *this;
}

Pipeline::Pipeline(std::initializer_list<std::vector<std::string>> stages) : stages_(stages) {}

Pipeline& Pipeline::add(std::vector<std::string> argv) {
  stages_.push_back(std::move(argv));
  return *this;
}

Pipeline& Pipeline::input(Stdio in) {
  if (in.kind() == Stdio::Kind::pipe)
    sys::fail("pipeline", to_string(), EINVAL,
              "input(Stdio::pipe()) would have no writer; pass your own pipe's read end with "
              "Stdio::from(fd), a file or Stdio::null()");
  in_ = std::move(in);
  return *this;
}

Pipeline& Pipeline::errors(Stdio err) {
  if (err.kind() == Stdio::Kind::pipe)
    sys::fail("pipeline", to_string(), EINVAL,
              "errors(Stdio::pipe()) would have no reader and could stall the stages; pass your "
              "own pipe's write end with Stdio::from(fd), a file or Stdio::null()");
  err_ = std::move(err);
  return *this;
}

std::string Pipeline::to_string() const {
  std::string out;
  for (const auto& s : stages_) out += (out.empty() ? "" : " | ") + join_command(s);
  return out;
}

PipelineResult Pipeline::run() const {
  if (stages_.empty()) sys::fail("pipeline", "", EINVAL, "the pipeline has no stages");
  PipelineResult result;
  // A stderr file is opened once for all stages: opened by each, every stage would truncate
  // what the ones before it wrote.
  Fd shared_err;
  Stdio err = err_;
  if (err_.kind() == Stdio::Kind::file) {
    shared_err = open_stdio_file(err_, 2);
    err = Stdio::from(shared_err);
  }
  std::vector<Child> children;
  children.reserve(stages_.size());
  Fd previous_read;  // read end of the pipe from the stage before
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    result.commands.push_back(join_command(stages_[i]));
    SpawnOptions o{.argv = stages_[i], .err = err};
    o.in = i == 0 ? in_ : Stdio::from(previous_read);
    Pipe link;
    if (i + 1 == stages_.size()) {
      o.out = Stdio::pipe();
    } else {
      link = Pipe::create();
      o.out = Stdio::from(link.write_end);
    }
    try {
      children.push_back(Child::spawn(o));
    } catch (const Error& e) {
      // The stages already started are killed and reaped by ~Child.
      throw Error{e.syscall(), e.object(), e.errnum(),
                  (e.hint().empty() ? "" : e.hint() + "; ") + "stage " + std::to_string(i + 1) +
                      " of `" + to_string() + "`"};
    }
    // This process keeps no copy of a link: each stage must see end of stream exactly when
    // the stage before it ends.
    previous_read = std::move(link.read_end);
  }
  result.output = read_all(children.back().stdout_pipe());
  for (auto& c : children) result.statuses.push_back(c.wait());
  return result;
}

}  // namespace ipckit
