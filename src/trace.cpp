// TracedChild, open_pidfd and wait_for_exit: process control (seed I2, I4).
//
// How a traced child starts: fork; the child waits on a pipe until the parent has seized it
// (PTRACE_SEIZE, which unlike PTRACE_ATTACH stops nothing and lets group-stops be told apart
// from signals), then execs. The exec is reported as PTRACE_EVENT_EXEC (PTRACE_O_TRACEEXEC),
// which is how spawn() knows the program runs; a failed exec writes its errno on a
// close-on-exec pipe instead. Neither the hand-shake nor the exec is an event for the caller.
//
// What next() sees with waitpid(__WALL), and does:
//   signal-delivery-stop   a signal is about to be delivered: read its siginfo (sender, fault
//                          address), then PTRACE_CONT with that signal, so it acts as it would
//                          untraced (handler, default action, stop).
//   PTRACE_EVENT_STOP with a stopping signal   a group-stop: PTRACE_LISTEN keeps it stopped,
//                          as an untraced process would be, yet lets a SIGCONT wake it.
//   PTRACE_EVENT_STOP with SIGTRAP             after PTRACE_LISTEN, the group-stop has ended:
//                          a SIGCONT came. Report `continued` and PTRACE_CONT.
//   exited / killed        the end; the child is reaped.

#include <pthread.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <utility>

#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"
#include "ipckit/signal.hpp"
#include "sys.hpp"

namespace ipckit {
namespace {

bool is_stopping_signal(int signo) {
  return signo == SIGSTOP || signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU;
}

// Signals the CPU raises for the instruction that faulted; si_code > 0 says the kernel sent it
// for a fault (a kill(2) of SIGSEGV has SI_USER, which is <= 0). si_addr holds the address
// only for the per-signal codes (SEGV_MAPERR...): SI_KERNEL (0x80, also > 0) is a fault the
// CPU reports without an address, such as a general-protection fault or an int3.
bool is_fault_signal(int signo) {
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
         signo == SIGTRAP;
}

// signal_name(), but never throwing: glibc keeps 32 and 33 for itself and leaves them out of
// the signal table, yet a traced program can receive them (pthread_cancel, setuid in threads).
std::string name_of(int signo) {
  if (signo >= 1 && signo <= SIGRTMAX && (signo < __SIGRTMIN || signo >= SIGRTMIN))
    return signal_name(signo);
  return "signal " + std::to_string(signo);
}

struct CodeName {
  int signo;  // 0: any signal
  int code;
  const char* name;
};

// si_code names as man 2 sigaction gives them. Codes <= 0 say who sent the signal and mean
// the same for every signal; codes > 0 (SI_KERNEL aside) are the kernel's, per signal.
constexpr std::array kCodeNames{
    CodeName{0, SI_USER, "SI_USER"},
    CodeName{0, SI_KERNEL, "SI_KERNEL"},
    CodeName{0, SI_QUEUE, "SI_QUEUE"},
    CodeName{0, SI_TIMER, "SI_TIMER"},
    CodeName{0, SI_MESGQ, "SI_MESGQ"},
    CodeName{0, SI_ASYNCIO, "SI_ASYNCIO"},
    CodeName{0, SI_SIGIO, "SI_SIGIO"},
    CodeName{0, SI_TKILL, "SI_TKILL"},
    CodeName{SIGSEGV, SEGV_MAPERR, "SEGV_MAPERR"},
    CodeName{SIGSEGV, SEGV_ACCERR, "SEGV_ACCERR"},
    CodeName{SIGSEGV, SEGV_BNDERR, "SEGV_BNDERR"},
    CodeName{SIGSEGV, SEGV_PKUERR, "SEGV_PKUERR"},
    CodeName{SIGBUS, BUS_ADRALN, "BUS_ADRALN"},
    CodeName{SIGBUS, BUS_ADRERR, "BUS_ADRERR"},
    CodeName{SIGBUS, BUS_OBJERR, "BUS_OBJERR"},
    CodeName{SIGBUS, BUS_MCEERR_AR, "BUS_MCEERR_AR"},
    CodeName{SIGBUS, BUS_MCEERR_AO, "BUS_MCEERR_AO"},
    CodeName{SIGILL, ILL_ILLOPC, "ILL_ILLOPC"},
    CodeName{SIGILL, ILL_ILLOPN, "ILL_ILLOPN"},
    CodeName{SIGILL, ILL_ILLADR, "ILL_ILLADR"},
    CodeName{SIGILL, ILL_ILLTRP, "ILL_ILLTRP"},
    CodeName{SIGILL, ILL_PRVOPC, "ILL_PRVOPC"},
    CodeName{SIGILL, ILL_PRVREG, "ILL_PRVREG"},
    CodeName{SIGILL, ILL_COPROC, "ILL_COPROC"},
    CodeName{SIGILL, ILL_BADSTK, "ILL_BADSTK"},
    CodeName{SIGFPE, FPE_INTDIV, "FPE_INTDIV"},
    CodeName{SIGFPE, FPE_INTOVF, "FPE_INTOVF"},
    CodeName{SIGFPE, FPE_FLTDIV, "FPE_FLTDIV"},
    CodeName{SIGFPE, FPE_FLTOVF, "FPE_FLTOVF"},
    CodeName{SIGFPE, FPE_FLTUND, "FPE_FLTUND"},
    CodeName{SIGFPE, FPE_FLTRES, "FPE_FLTRES"},
    CodeName{SIGFPE, FPE_FLTINV, "FPE_FLTINV"},
    CodeName{SIGFPE, FPE_FLTSUB, "FPE_FLTSUB"},
    CodeName{SIGTRAP, TRAP_BRKPT, "TRAP_BRKPT"},
    CodeName{SIGTRAP, TRAP_TRACE, "TRAP_TRACE"},
    CodeName{SIGTRAP, TRAP_BRANCH, "TRAP_BRANCH"},
    CodeName{SIGTRAP, TRAP_HWBKPT, "TRAP_HWBKPT"},
    // What a SIGCHLD says happened to the child that sent it.
    CodeName{SIGCHLD, CLD_EXITED, "exited"},
    CodeName{SIGCHLD, CLD_KILLED, "was killed"},
    CodeName{SIGCHLD, CLD_DUMPED, "dumped core"},
    CodeName{SIGCHLD, CLD_TRAPPED, "trapped"},
    CodeName{SIGCHLD, CLD_STOPPED, "stopped"},
    CodeName{SIGCHLD, CLD_CONTINUED, "continued"},
};

// The name of a si_code ("SI_USER", "SEGV_MAPERR"; for SIGCHLD what happened: "exited"), or
// nullptr when not known.
const char* code_name(int signo, int code) {
  const bool per_signal = code > 0 && code != SI_KERNEL;
  for (const auto& c : kCodeNames)
    if (c.code == code && c.signo == (per_signal ? signo : 0)) return c.name;
  return nullptr;
}

// For a fault with si_code SI_KERNEL: what it most likely was, and that there is no address.
std::string kernel_fault_text(int signo) {
  if (signo == SIGSEGV) return "SI_KERNEL: general protection, no address given";
  if (signo == SIGTRAP) return "SI_KERNEL: breakpoint (int3), no address given";
  return "SI_KERNEL: no address given";
}

std::string pid_object(pid_t pid) {
  return "pid " + std::to_string(pid);
}

// Restarts a ptrace-stopped tracee (PTRACE_CONT passing `signo`, or PTRACE_LISTEN). ESRCH
// means it died meanwhile (a SIGKILL): not an error, the next waitpid says how it ended.
void resume(pid_t pid, __ptrace_request request, int signo) {
  auto data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(signo));  // NOLINT: ptrace's ABI
  if (::ptrace(request, pid, nullptr, data) == -1 && errno != ESRCH) {
    sys::fail(request == PTRACE_LISTEN ? "ptrace(PTRACE_LISTEN)" : "ptrace(PTRACE_CONT)",
              pid_object(pid), errno);
  }
}

// waitpid for any kind of report from `pid` (ptrace stops included), retrying EINTR.
int wait_status(pid_t pid) {
  int status = 0;
  if (sys::retry_eintr([&] { return ::waitpid(pid, &status, __WALL); }) == -1) {
    int err = errno;
    sys::fail("waitpid", pid_object(pid), err,
              err == ECHILD ? "not our child, or already reaped (is SIGCHLD set to SIG_IGN?)" : "");
  }
  return status;
}

// SIGKILL and reap, for a child that has not been reaped yet. Never throws.
void kill_and_reap(pid_t pid) noexcept {
  ::kill(pid, SIGKILL);  // our unreaped child: the pid cannot have been reused
  for (;;) {
    int status = 0;
    pid_t rc = ::waitpid(pid, &status, __WALL);
    if (rc == -1 && errno == EINTR) continue;
    // A ptrace stop reported before the SIGKILL landed comes first; wait on to the end.
    if (rc == -1 || WIFEXITED(status) || WIFSIGNALED(status)) return;
  }
}

[[noreturn]] void fail_exec(const std::string& program, int err) {
  std::string hint;
  const auto found = find_program(program);
  const std::string file = found ? found->string() : std::string{};
  struct stat st {};
  const bool exists = found && ::stat(file.c_str(), &st) == 0;
  if (err == ENOENT && exists) {
    // The file is there: what is missing is what the kernel needs to run it (bash says
    // "cannot execute: required file not found").
    hint = sys::quoted(file) +
           " exists, but the interpreter on its #! line or its ELF loader (the dynamic linker "
           "it names) is missing; check the first line of a script, or the architecture";
  } else if (err == ENOENT) {
    const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
    hint = program.find('/') != std::string::npos
               ? "no such program file"
               : "no program of that name in PATH (" + std::string(path ? path : "") + ")";
  } else if (err == EACCES && exists && S_ISDIR(st.st_mode)) {
    hint = sys::quoted(file) + " is a directory, not a program";
  } else if (err == EACCES) {
    hint = "the file is not executable (check its mode and the mount's noexec)";
  } else if (err == ENOEXEC) {
    hint = "the file is not a program this system can run (no #! line, wrong architecture?)";
  }
  sys::fail("execvp", program, err, hint);
}

// The state letter of /proc/PID/stat ('t': in a ptrace stop), or '?' when it cannot be read.
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

// After ptrace said ESRCH for our own tracee: true when it is on its way out (a SIGKILL woke
// it from its stop, so the next waitpid tells how it ended); false when it still sits in a
// ptrace stop, which means this thread is not its tracer and waitpid would block for ever.
bool tracee_is_dying(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 &&
      info.si_pid == pid)
    return true;  // ended, not reaped yet
  return proc_state(pid) != 't';
}

TraceEvent signal_event(pid_t pid, const siginfo_t& info) {
  TraceEvent e;
  e.kind = TraceEvent::Kind::signal;
  e.pid = pid;
  e.signo = info.si_signo;
  e.code = info.si_code;
  if (info.si_code == SI_USER || info.si_code == SI_QUEUE || info.si_code == SI_TKILL) {
    e.has_sender = true;
    e.sender_pid = info.si_pid;
    e.sender_uid = info.si_uid;
    if (info.si_code == SI_QUEUE) e.value = info.si_value.sival_int;
  } else if (info.si_signo == SIGCHLD && info.si_code > 0) {
    // Not sent by a process on purpose, but si_pid still names the child that changed.
    e.sender_pid = info.si_pid;
    e.sender_uid = info.si_uid;
  } else if (is_fault_signal(info.si_signo) && info.si_code > 0) {
    e.is_fault = true;
    if (info.si_code != SI_KERNEL)  // SI_KERNEL leaves si_addr 0: no address to report
      e.fault_address = reinterpret_cast<std::uintptr_t>(info.si_addr);  // NOLINT
  }
  return e;
}

}  // namespace

// --- TraceEvent -------------------------------------------------------------------------

std::string TraceEvent::to_string() const {
  switch (kind) {
    case Kind::signal: {
      const char* code_text = code_name(signo, code);
      if (is_fault && code == SI_KERNEL)
        return "fault " + name_of(signo) + " (" + kernel_fault_text(signo) + ")";
      if (is_fault) {
        std::array<char, 32> address{};
        std::snprintf(address.data(), address.size(), "0x%016llx",
                      static_cast<unsigned long long>(fault_address));
        return "fault " + name_of(signo) + " at " + address.data() + " (" +
               (code_text ? std::string(code_text) : "si_code " + std::to_string(code)) + ")";
      }
      // "signal SIGUSR1"; a number outside the table is already "signal 32".
      std::string out = name_of(signo);
      if (out.starts_with("SIG")) out = "signal " + out;
      if (has_sender) {
        out +=
            " from pid " + std::to_string(sender_pid) + " (uid " + std::to_string(sender_uid) + ")";
        if (code == SI_QUEUE) out += " with value " + std::to_string(value);
      } else if (signo == SIGCHLD && code > 0 && code_text != nullptr) {
        out += " (child pid " + std::to_string(sender_pid) + " " + code_text + ")";
      } else if (code_text != nullptr) {
        out += std::string(" (") + code_text + ")";
      }
      return out;
    }
    case Kind::stopped:
      return "stopped by " + name_of(signo);
    case Kind::continued:
      return "continued";
    case Kind::exited:
      return "exited with " + std::to_string(exit_code);
    case Kind::killed:
      return "killed by " + name_of(signo) + (core_dumped ? " (core dumped)" : "");
  }
  return "unknown event";
}

namespace {

// The child of TracedChild::spawn, between fork and execvp: async-signal-safe calls only (the
// parent may have other threads), and it never returns, so no destructor runs: it closes by
// hand. It waits for the parent's "go" (it is traced then) and execs; a failed execvp's errno
// goes back through `exec_error`.
[[noreturn]] void exec_once_traced(Pipe& go, Pipe& exec_error, char* const* args) noexcept {
  sigset_t no_signals;
  sigemptyset(&no_signals);
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  ::close(go.write_end.get());
  ::close(exec_error.read_end.get());
  // This process's handlers mean nothing in the child: back to the default action (an
  // ignored signal stays ignored, as across exec), and SIGPIPE at its default as a shell's
  // children have it.
  for (int signo = 1; signo < NSIG; ++signo) {
    struct sigaction current {};
    if (::sigaction(signo, nullptr, &current) == -1) continue;  // SIGKILL, glibc's own
    if (signo == SIGPIPE || (current.sa_flags & SA_SIGINFO) != 0 ||
        current.sa_handler != SIG_IGN)
      ::sigaction(signo, &default_action, nullptr);
  }
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::read(go.read_end.get(), &byte, 1);
  } while (n == -1 && errno == EINTR);
  if (n != 1) ::_exit(127);  // the parent gave up before tracing us
  // The program starts as a shell's children do: no signal blocked. Signals that came
  // while blocked are delivered here, traced.
  ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
  ::execvp(args[0], args);
  int err = errno;
  [[maybe_unused]] ssize_t w = ::write(exec_error.write_end.get(), &err, sizeof err);
  ::_exit(127);
}

}  // namespace

// --- TracedChild ------------------------------------------------------------------------

TracedChild TracedChild::spawn(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0].empty())
    sys::fail("execvp", "", EINVAL, "argv is empty: put the program in argv[0]");

  // Everything the child needs is made before fork: between fork and exec it may only make
  // async-signal-safe calls (this process may have other threads), so no allocation.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));  // NOLINT: execvp's type
  args.push_back(nullptr);
  Pipe go = Pipe::create();          // parent -> child: "you are traced, exec now"
  Pipe exec_error = Pipe::create();  // child -> parent: errno of a failed execvp
  sigset_t all_signals;
  sigfillset(&all_signals);

  // Every signal stays blocked from fork until just before execvp, as posix_spawn does: the
  // child must not run this process's handlers, and a signal sent to it early waits until it
  // is traced, so the tracer sees it (it is reported by next(), first).
  sigset_t parent_mask;
  sys::check_errno(::pthread_sigmask(SIG_SETMASK, &all_signals, &parent_mask), "pthread_sigmask",
                   "all signals");
  pid_t pid = ::fork();
  if (pid == -1) {
    int err = errno;
    ::pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);
    sys::fail(
        "fork", argv[0], err,
        err == EAGAIN ? "too many processes: see `ulimit -u` and /proc/sys/kernel/pid_max" : "");
  }
  if (pid == 0) exec_once_traced(go, exec_error, args.data());
  ::pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);

  go.read_end.reset();
  exec_error.write_end.reset();
  TracedChild child;
  child.pid_ = pid;  // from here on, its destructor kills and reaps the child on any error
  child.tracer_tid_ = ::gettid();

  constexpr long kOptions = PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(kOptions)) == -1) {  // NOLINT
    int err = errno;
    sys::fail("ptrace(PTRACE_SEIZE)", pid_object(pid) + " (" + argv[0] + ")", err,
              err == EPERM
                  ? "tracing is not allowed here: /proc/sys/kernel/yama/ptrace_scope 2 needs "
                    "CAP_SYS_PTRACE and 3 forbids it; in a container, the seccomp profile or a "
                    "missing CAP_SYS_PTRACE (docker: --cap-add SYS_PTRACE) may refuse ptrace"
                  : "");
  }
  std::array<std::byte, 1> go_byte{};
  (void)go.write_end.write_all(go_byte);  // a child gone already shows up in waitpid below

  // Wait for the exec. What happens before it (a signal sent to the child this early, a stop)
  // is handled as next() would, and kept for next() to report first.
  for (;;) {
    int status = wait_status(pid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      child.status_ = ExitStatus::from_wait_status(status);
      int err = 0;
      auto bytes = std::as_writable_bytes(std::span{&err, 1});
      if (exec_error.read_end.read_exact(bytes, Deadline::now()).ok()) fail_exec(argv[0], err);
      const ExitStatus& ended = *child.status_;
      sys::fail("execvp", argv[0], 0,
                std::string("the child ") + (ended.exited ? "" : "was ") + ended.to_string() +
                    " before the program could start" +
                    (ended.exited ? "" : " (a signal sent to it or its process group)"));
    }
    if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_EXEC) {
      resume(pid, PTRACE_CONT, 0);
      return child;
    }
    if (auto e = child.on_stop(status)) child.pending_.push_back(*e);
  }
}

TracedChild::TracedChild(TracedChild&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      tracer_tid_(std::exchange(other.tracer_tid_, -1)),
      stopped_(std::exchange(other.stopped_, false)),
      pending_(std::move(other.pending_)),
      status_(std::exchange(other.status_, std::nullopt)) {}

TracedChild& TracedChild::operator=(TracedChild&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0 && !status_) kill_and_reap(pid_);
    pid_ = std::exchange(other.pid_, -1);
    tracer_tid_ = std::exchange(other.tracer_tid_, -1);
    stopped_ = std::exchange(other.stopped_, false);
    pending_ = std::move(other.pending_);
    other.pending_.clear();
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

TracedChild::~TracedChild() {
  if (pid_ > 0 && !status_) kill_and_reap(pid_);
}

TraceEvent TracedChild::next() {
  if (pid_ <= 0) sys::fail("waitpid", "", EINVAL, "this TracedChild was moved from");
  const std::string object = pid_object(pid_);
  if (!pending_.empty()) {
    TraceEvent e = pending_.front();
    pending_.erase(pending_.begin());
    return e;
  }
  if (status_) {
    sys::fail("waitpid", object, ECHILD,
              "the traced process has " + status_->to_string() +
                  " and was reaped; there are no more events");
  }
  if (::gettid() != tracer_tid_) {
    // ptrace binds a tracee to the thread that seized it: from any other thread every ptrace
    // request fails (ESRCH) while the child waits, stopped, for its tracer.
    sys::fail("ptrace", object, EPERM,
              "call next() on the thread that called spawn() (thread " +
                  std::to_string(tracer_tid_) + "; this is thread " + std::to_string(::gettid()) +
                  "): ptrace binds the traced child to that thread");
  }
  for (;;) {
    if (auto e = on_stop(wait_status(pid_))) return *e;
  }
}

std::optional<TraceEvent> TracedChild::on_stop(int status) {
  const std::string object = pid_object(pid_);
  TraceEvent e;
  e.pid = pid_;
  if (WIFEXITED(status) || WIFSIGNALED(status)) {
    status_ = ExitStatus::from_wait_status(status);
    e.kind = status_->exited ? TraceEvent::Kind::exited : TraceEvent::Kind::killed;
    e.exit_code = status_->code;
    e.signo = status_->signal;
    e.core_dumped = status_->core_dumped;
    return e;
  }
  if (!WIFSTOPPED(status)) return std::nullopt;
  const int signo = WSTOPSIG(status);
  const int event = status >> 16;

  if (event == PTRACE_EVENT_STOP) {
    if (is_stopping_signal(signo)) {
      // A group-stop. PTRACE_CONT would let it run on; PTRACE_LISTEN keeps it stopped, as
      // it would be untraced, until a SIGCONT (or SIGKILL) comes.
      resume(pid_, PTRACE_LISTEN, 0);
      if (stopped_) return std::nullopt;  // told again while still stopped
      stopped_ = true;
      e.kind = TraceEvent::Kind::stopped;
      e.signo = signo;
      return e;
    }
    // SIGTRAP: no group-stop is in force any more. After PTRACE_LISTEN that means a SIGCONT
    // woke it: it runs again (the SIGCONT itself is delivered next, as a signal).
    resume(pid_, PTRACE_CONT, 0);
    if (!stopped_) return std::nullopt;
    stopped_ = false;
    e.kind = TraceEvent::Kind::continued;
    e.signo = SIGCONT;
    return e;
  }
  if (event != 0) {  // PTRACE_EVENT_EXEC (the program ran execve again): bookkeeping
    resume(pid_, PTRACE_CONT, 0);
    return std::nullopt;
  }

  // A signal-delivery-stop: the signal is about to be delivered.
  siginfo_t info{};
  if (::ptrace(PTRACE_GETSIGINFO, pid_, nullptr, &info) == -1) {
    int err = errno;
    if (err == ESRCH && tracee_is_dying(pid_)) return std::nullopt;  // waitpid says how
    sys::fail("ptrace(PTRACE_GETSIGINFO)", object, err,
              err == ESRCH ? "the child waits in a ptrace stop but this thread is not its "
                             "tracer: call next() on the thread that called spawn()"
                           : "");
  }
  e = signal_event(pid_, info);
  // Pass it on as the kernel would have delivered it: handler, default action or stop.
  resume(pid_, PTRACE_CONT, signo);
  return e;
}

// --- pidfd ------------------------------------------------------------------------------

Fd open_pidfd(pid_t pid) {
  const std::string object = pid_object(pid);
  if (pid <= 0)
    sys::fail("pidfd_open", object, EINVAL, "a pidfd names one process: give a pid above 0");
  // pidfd_open sets close-on-exec on the descriptor itself.
  long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd == -1) {
    int err = errno;
    std::string hint;
    if (err == ESRCH) hint = "no process has that pid (it has ended and been reaped, or never was)";
    if (err == ENOSYS) hint = "this kernel has no pidfd_open: Linux 5.3 or later is needed";
    if (err == EINVAL || err == ENOENT)
      hint =
          "the pid may name a thread rather than a process: give its thread-group leader "
          "(Tgid in /proc/PID/status)";
    if (err == EMFILE || err == ENFILE) hint = sys::descriptor_limit_hint(err);
    sys::fail("pidfd_open", object, err, hint);
  }
  return Fd{static_cast<int>(fd)};
}

bool wait_for_exit(const Fd& pidfd, Deadline deadline) {
  if (!pidfd)
    sys::fail("poll", "pidfd", EBADF,
              "the pidfd is empty: get one from open_pidfd(pid) or Child::pidfd()");
  return pidfd.wait_readable(deadline);
}

std::optional<std::filesystem::path> find_program(const std::string& program) {
  if (program.empty()) return std::nullopt;
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), F_OK) == 0) return std::filesystem::path(program);
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");  // NOLINT(concurrency-mt-unsafe)
  const std::string_view dirs = path != nullptr ? path : "";
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = dirs.find(':', start);
    const std::string_view dir = dirs.substr(start, end == std::string_view::npos ? end : end - start);
    // An empty PATH entry means the current folder.
    std::string candidate = (dir.empty() ? std::string(".") : std::string(dir)) + "/" + program;
    if (::access(candidate.c_str(), F_OK) == 0) return std::filesystem::path(std::move(candidate));
    if (end == std::string_view::npos) return std::nullopt;
    start = end + 1;
  }
}

}  // namespace ipckit
