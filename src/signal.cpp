#include "ipckit/signal.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sys.hpp"

namespace ipckit {
namespace {

struct StandardSignal {
  int number;
  const char* name;
  SignalAction action;
  const char* description;
};

using enum SignalAction;

// The standard signals with their default actions and the comments of man 7 signal's table.
// Numbers are this architecture's (the <csignal> constants), so the table is right on both
// x86-64 and arm64, which share them.
constexpr std::array kStandardSignals{
    StandardSignal{SIGHUP, "SIGHUP", terminate,
                   "Hangup detected on controlling terminal or death of controlling process"},
    StandardSignal{SIGINT, "SIGINT", terminate, "Interrupt from keyboard"},
    StandardSignal{SIGQUIT, "SIGQUIT", core, "Quit from keyboard"},
    StandardSignal{SIGILL, "SIGILL", core, "Illegal Instruction"},
    StandardSignal{SIGTRAP, "SIGTRAP", core, "Trace/breakpoint trap"},
    StandardSignal{SIGABRT, "SIGABRT", core, "Abort signal from abort(3)"},
    StandardSignal{SIGBUS, "SIGBUS", core, "Bus error (bad memory access)"},
    StandardSignal{SIGFPE, "SIGFPE", core, "Floating-point exception"},
    StandardSignal{SIGKILL, "SIGKILL", terminate, "Kill signal"},
    StandardSignal{SIGUSR1, "SIGUSR1", terminate, "User-defined signal 1"},
    StandardSignal{SIGSEGV, "SIGSEGV", core, "Invalid memory reference"},
    StandardSignal{SIGUSR2, "SIGUSR2", terminate, "User-defined signal 2"},
    StandardSignal{SIGPIPE, "SIGPIPE", terminate,
                   "Broken pipe: write to pipe with no readers; see pipe(7)"},
    StandardSignal{SIGALRM, "SIGALRM", terminate, "Timer signal from alarm(2)"},
    StandardSignal{SIGTERM, "SIGTERM", terminate, "Termination signal"},
    StandardSignal{SIGSTKFLT, "SIGSTKFLT", terminate, "Stack fault on coprocessor (unused)"},
    StandardSignal{SIGCHLD, "SIGCHLD", ignore, "Child stopped or terminated"},
    StandardSignal{SIGCONT, "SIGCONT", cont, "Continue if stopped"},
    StandardSignal{SIGSTOP, "SIGSTOP", stop, "Stop process"},
    StandardSignal{SIGTSTP, "SIGTSTP", stop, "Stop typed at terminal"},
    StandardSignal{SIGTTIN, "SIGTTIN", stop, "Terminal input for background process"},
    StandardSignal{SIGTTOU, "SIGTTOU", stop, "Terminal output for background process"},
    StandardSignal{SIGURG, "SIGURG", ignore, "Urgent condition on socket (4.2BSD)"},
    StandardSignal{SIGXCPU, "SIGXCPU", core, "CPU time limit exceeded (4.2BSD); see setrlimit(2)"},
    StandardSignal{SIGXFSZ, "SIGXFSZ", core, "File size limit exceeded (4.2BSD); see setrlimit(2)"},
    StandardSignal{SIGVTALRM, "SIGVTALRM", terminate, "Virtual alarm clock (4.2BSD)"},
    StandardSignal{SIGPROF, "SIGPROF", terminate, "Profiling timer expired"},
    StandardSignal{SIGWINCH, "SIGWINCH", ignore, "Window resize signal (4.3BSD, Sun)"},
    StandardSignal{SIGIO, "SIGIO", terminate, "I/O now possible (4.2BSD)"},
    StandardSignal{SIGPWR, "SIGPWR", terminate, "Power failure (System V)"},
    StandardSignal{SIGSYS, "SIGSYS", core, "Bad system call (SVr4); see also seccomp(2)"},
};

// Other names man 7 signal gives for the same numbers; parse_signal accepts them.
struct Alias {
  const char* name;
  int number;
};
constexpr std::array kAliases{
    Alias{"SIGIOT", SIGIOT},
    Alias{"SIGPOLL", SIGPOLL},
    Alias{"SIGCLD", SIGCHLD},
    Alias{"SIGUNUSED", SIGSYS},
};

constexpr const char* kListHint = "run `ipckit signals -l` for the signals of this system";

// bash's naming of real-time signals: the lower half counts up from SIGRTMIN, the upper
// half down from SIGRTMAX ("SIGRTMIN+15", then "SIGRTMAX-14").
std::string realtime_name(int signo) {
  const int low = SIGRTMIN;
  const int high = SIGRTMAX;
  if (signo == low) return "SIGRTMIN";
  if (signo == high) return "SIGRTMAX";
  if (signo - low <= (high - low) / 2) return "SIGRTMIN+" + std::to_string(signo - low);
  return "SIGRTMAX-" + std::to_string(high - signo);
}

std::vector<SignalInfo> build_table() {
  std::vector<SignalInfo> table;
  for (const auto& s : kStandardSignals)
    table.push_back({s.number, s.name, s.action, s.description});
  for (int signo = SIGRTMIN; signo <= SIGRTMAX; ++signo) {
    table.push_back({signo, realtime_name(signo), terminate,
                     "Real-time signal for applications; queued, delivered in order"});
  }
  std::sort(table.begin(), table.end(),
            [](const auto& a, const auto& b) { return a.number < b.number; });
  return table;
}

bool is_signal(int signo) noexcept {
  return (signo >= 1 && signo < 32) || (signo >= SIGRTMIN && signo <= SIGRTMAX);
}

// Throws Error (EINVAL) unless `signo` is a signal of this system. `step` names the call.
void require_signal(int signo, std::string_view step) {
  if (is_signal(signo)) return;
  sys::fail(step, "signal " + std::to_string(signo), EINVAL,
            "not a signal here: signals are 1..31 and " + std::to_string(SIGRTMIN) + ".." +
                std::to_string(SIGRTMAX) + " (SIGRTMIN..SIGRTMAX); " + kListHint);
}

// S4: the kernel never lets SIGKILL or SIGSTOP be caught, blocked or ignored; sigaction
// fails on them, and sigprocmask and signalfd silently drop them. Say so instead, and what
// to do: `advice` follows "so it cannot be <what>; ".
[[noreturn]] void fail_unstoppable(int signo, std::string_view step, std::string_view what,
                                   std::string_view advice) {
  const std::string name = signo == SIGKILL ? "SIGKILL" : "SIGSTOP";
  sys::fail(step, name, EINVAL,
            name + " cannot be caught, blocked or ignored, so it cannot be " + std::string(what) +
                "; " + std::string(advice));
}

// For one signal given a handler or a disposition.
void refuse_unstoppable(int signo, std::string_view step, std::string_view what) {
  if (signo == SIGKILL || signo == SIGSTOP)
    fail_unstoppable(signo, step, what,
                     "use another signal (SIGTERM, SIGTSTP) for something a process may handle");
}

// For a set to be blocked or read from a signalfd, often SignalSet::full(): point to the set
// that leaves the two out.
void refuse_unstoppable(const SignalSet& set, std::string_view step, std::string_view what) {
  for (int signo : {SIGKILL, SIGSTOP}) {
    if (set.contains(signo))
      fail_unstoppable(signo, step, what,
                       "leave it out of the set (SignalSet::blockable() is every signal but "
                       "SIGKILL and SIGSTOP)");
  }
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A whole decimal number, or nothing.
std::optional<int> whole_number(std::string_view text) {
  int value = 0;
  if (text.empty()) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "RTMIN", "RTMIN+3", "RTMAX-2" (already upper case, without "SIG").
std::optional<int> realtime_from_name(std::string_view name) {
  bool from_min = name.starts_with("RTMIN");
  if (!from_min && !name.starts_with("RTMAX")) return std::nullopt;
  std::string_view rest = name.substr(5);
  const int base = from_min ? SIGRTMIN : SIGRTMAX;
  if (rest.empty()) return base;
  if (rest.size() < 2 || rest.front() != (from_min ? '+' : '-')) return std::nullopt;
  auto offset = whole_number(rest.substr(1));
  // Bounded before the arithmetic: "RTMIN+2147483647" must not overflow.
  if (!offset || *offset < 0 || *offset > SIGRTMAX - SIGRTMIN) return std::nullopt;
  const int signo = from_min ? base + *offset : base - *offset;
  if (signo < SIGRTMIN || signo > SIGRTMAX) return std::nullopt;
  return signo;
}

}  // namespace

const char* to_string(SignalAction action) noexcept {
  switch (action) {
    case SignalAction::terminate:
      return "Term";
    case SignalAction::ignore:
      return "Ign";
    case SignalAction::core:
      return "Core";
    case SignalAction::stop:
      return "Stop";
    case SignalAction::cont:
      return "Cont";
  }
  return "?";
}

const std::vector<SignalInfo>& signal_table() {
  static const std::vector<SignalInfo> table = build_table();
  return table;
}

const SignalInfo& signal_info(int signo) {
  require_signal(signo, "signal_info");
  const auto& table = signal_table();
  auto it = std::find_if(table.begin(), table.end(),
                         [&](const auto& row) { return row.number == signo; });
  if (it == table.end())
    sys::fail("signal_info", "signal " + std::to_string(signo), EINVAL, kListHint);
  return *it;
}

std::string signal_name(int signo) {
  return signal_info(signo).name;
}

int parse_signal(std::string_view text) {
  std::string_view trimmed = text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front())))
    trimmed.remove_prefix(1);
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
    trimmed.remove_suffix(1);
  auto bad = [&]() -> int {
    sys::fail("parse_signal", text, EINVAL,
              std::string(text.empty() ? "the text is empty: " : "") +
                  "not a signal name or number (give \"INT\", \"SIGINT\", \"2\" or \"RTMIN+3\"); " +
                  std::string(kListHint));
  };
  if (auto number = whole_number(trimmed)) {
    if (!is_signal(*number)) bad();
    return *number;
  }
  std::string name = upper(trimmed);
  if (name.starts_with("SIG")) name.erase(0, 3);
  if (name.empty()) return bad();
  if (auto rt = realtime_from_name(name)) return *rt;
  const std::string full = "SIG" + name;
  for (const auto& s : kStandardSignals)
    if (full == s.name) return s.number;
  for (const auto& a : kAliases)
    if (full == a.name) return a.number;
  return bad();
}

// --- SignalSet ---------------------------------------------------------------------------

SignalSet::SignalSet() noexcept {
  ::sigemptyset(&set_);
}

SignalSet::SignalSet(std::initializer_list<int> signals) : SignalSet() {
  for (int signo : signals) add(signo);
}

SignalSet SignalSet::full() noexcept {
  SignalSet set;
  ::sigfillset(&set.set_);
  return set;
}

SignalSet SignalSet::blockable() noexcept {
  SignalSet set = full();
  ::sigdelset(&set.set_, SIGKILL);
  ::sigdelset(&set.set_, SIGSTOP);
  return set;
}

SignalSet SignalSet::from_native(const sigset_t& native) noexcept {
  SignalSet set;
  set.set_ = native;
  return set;
}

SignalSet& SignalSet::add(int signo) {
  require_signal(signo, "sigaddset");
  if (::sigaddset(&set_, signo) == -1) {
    const int err = errno;
    sys::fail("sigaddset", signal_name(signo), err);
  }
  return *this;
}

SignalSet& SignalSet::remove(int signo) {
  require_signal(signo, "sigdelset");
  if (::sigdelset(&set_, signo) == -1) {
    const int err = errno;
    sys::fail("sigdelset", signal_name(signo), err);
  }
  return *this;
}

bool SignalSet::contains(int signo) const noexcept {
  return is_signal(signo) && ::sigismember(&set_, signo) == 1;
}

bool SignalSet::is_empty() const noexcept {
  for (int signo = 1; signo <= SIGRTMAX; ++signo)
    if (contains(signo)) return false;
  return true;
}

std::vector<int> SignalSet::signals() const {
  std::vector<int> out;
  for (int signo = 1; signo <= SIGRTMAX; ++signo)
    if (contains(signo)) out.push_back(signo);
  return out;
}

std::string SignalSet::to_string() const {
  std::string out = "{";
  for (int signo : signals()) {
    if (out.size() > 1) out += ", ";
    out += signal_name(signo);
  }
  return out + "}";
}

bool operator==(const SignalSet& a, const SignalSet& b) noexcept {
  // Only the signals count: glibc keeps bits of its own (32, 33) that a set may or may not hold.
  for (int signo = 1; signo <= SIGRTMAX; ++signo)
    if (a.contains(signo) != b.contains(signo)) return false;
  return true;
}

// --- masks and pending signals -----------------------------------------------------------

SignalSet signal_mask() {
  sigset_t current;
  sys::check_errno(::pthread_sigmask(SIG_BLOCK, nullptr, &current), "pthread_sigmask",
                   "this thread's mask");
  return SignalSet::from_native(current);
}

SignalSet pending_signals() {
  sigset_t pending;
  sys::check(::sigpending(&pending), "sigpending", "this thread");
  return SignalSet::from_native(pending);
}

ScopedSignalMask::ScopedSignalMask(const SignalSet& signals, How how) {
  // Unblocking SIGKILL or SIGSTOP is a harmless no-op: only blocking them is refused.
  if (how != How::unblock) refuse_unstoppable(signals, "pthread_sigmask", "blocked");
  const int native_how = how == How::block     ? SIG_BLOCK
                         : how == How::unblock ? SIG_UNBLOCK
                                               : SIG_SETMASK;
  sigset_t old;
  const int rc = ::pthread_sigmask(native_how, &signals.native(), &old);
  if (rc != 0) sys::fail("pthread_sigmask", signals.to_string(), rc);
  previous_ = SignalSet::from_native(old);
}

ScopedSignalMask::~ScopedSignalMask() {
  // Cannot fail: the set came from the kernel and SIG_SETMASK is valid.
  (void)::pthread_sigmask(SIG_SETMASK, &previous_.native(), nullptr);
}

// --- dispositions ------------------------------------------------------------------------

ScopedSignalHandler::ScopedSignalHandler(int signo, SignalHandler handler,
                                         const HandlerOptions& options)
    : signo_(signo), previous_{} {
  require_signal(signo, "sigaction");
  refuse_unstoppable(signo, "sigaction", "given a handler");
  if (handler == nullptr)
    sys::fail("sigaction", signal_name(signo), EINVAL,
              "the handler is null; use ignore_signal() or default_signal_action() for SIG_IGN or "
              "SIG_DFL");
  struct sigaction action {};
  action.sa_sigaction = handler;
  action.sa_mask = options.mask.native();
  action.sa_flags =
      SA_SIGINFO | (options.restart ? SA_RESTART : 0) | (options.once ? SA_RESETHAND : 0);
  if (::sigaction(signo, &action, &previous_) == -1) {
    const int err = errno;
    sys::fail("sigaction", signal_name(signo), err);
  }
}

ScopedSignalHandler::~ScopedSignalHandler() {
  (void)::sigaction(signo_, &previous_, nullptr);
}

namespace {

void set_disposition(int signo, void (*disposition)(int), std::string_view what) {
  require_signal(signo, "sigaction");
  refuse_unstoppable(signo, "sigaction", what);
  struct sigaction action {};
  action.sa_handler = disposition;
  ::sigemptyset(&action.sa_mask);
  if (::sigaction(signo, &action, nullptr) == -1) {
    const int err = errno;
    sys::fail("sigaction", signal_name(signo), err);
  }
}

}  // namespace

void ignore_signal(int signo) {
  set_disposition(signo, SIG_IGN, "ignored");
}

void default_signal_action(int signo) {
  set_disposition(signo, SIG_DFL, "given another action (its default is the only one it has)");
}

// --- sending -----------------------------------------------------------------------------

namespace {

std::string target_name(pid_t pid) {
  if (pid > 0) return "pid " + std::to_string(pid);
  if (pid == 0) return "this process group";
  if (pid == -1) return "every process";
  return "process group " + std::to_string(-pid);
}

// The real uid of a process, from the "Uid:" line of /proc/<pid>/status (the owner of
// /proc/<pid> itself is root for a process that changed its uids). Keeps errno.
std::optional<uid_t> real_uid_of(pid_t pid) {
  const int saved = errno;
  std::optional<uid_t> uid;
  try {
    const std::string status = sys::read_text_file("/proc/" + std::to_string(pid) + "/status");
    const auto at = status.find("\nUid:");
    if (at != std::string::npos)
      uid = static_cast<uid_t>(std::strtoul(status.c_str() + at + 5, nullptr, 10));
  } catch (const Error&) {
  }
  errno = saved;
  return uid;
}

// Why kill or sigqueue failed, in words for the user. Keeps errno.
std::string send_hint(pid_t pid, int errnum) {
  if (errnum == ESRCH)
    return pid > 0 ? "no process has pid " + std::to_string(pid) +
                         " (it has ended and been reaped, or never existed)"
                   : std::string("no process is in the group");
  if (errnum == EPERM) {
    if (pid > 0) {
      if (auto uid = real_uid_of(pid))
        return "the process runs as " + sys::user_text(*uid) +
               "; only its owner or root (CAP_KILL) may signal it";
    }
    return "only a process's owner or root (CAP_KILL) may signal it";
  }
  if (errnum == EAGAIN)
    return "the receiver's queue of pending signals is full (RLIMIT_SIGPENDING, `ulimit -i`); it "
           "must take some first";
  return {};
}

}  // namespace

void send_signal(pid_t pid, int signo) {
  if (signo != 0) require_signal(signo, "kill");
  if (::kill(pid, signo) == -1) {
    const int errnum = errno;
    sys::fail("kill(" + (signo == 0 ? std::string("0") : signal_name(signo)) + ")",
              target_name(pid), errnum, send_hint(pid, errnum));
  }
}

void raise_signal(int signo) {
  require_signal(signo, "raise");
  if (::raise(signo) != 0) {
    const int err = errno;
    sys::fail("raise", signal_name(signo), err);
  }
}

void queue_signal(pid_t pid, int signo, int value) {
  require_signal(signo, "sigqueue");
  // sigqueue has no process groups and no "every process": the kernel would answer ESRCH.
  if (pid <= 0)
    sys::fail("sigqueue(" + signal_name(signo) + ")", "pid " + std::to_string(pid), EINVAL,
              "sigqueue sends to one process; give a pid > 0 (send_signal, kill(2), reaches a "
              "process group)");
  sigval payload{};
  payload.sival_int = value;
  if (::sigqueue(pid, signo, payload) == -1) {
    const int errnum = errno;
    sys::fail("sigqueue(" + signal_name(signo) + ")", target_name(pid), errnum,
              send_hint(pid, errnum));
  }
}

void abort_process() noexcept {
  std::abort();
}

unsigned set_alarm(unsigned seconds) noexcept {
  return ::alarm(seconds);
}

// --- interval timer ----------------------------------------------------------------------

namespace {

timeval to_timeval(std::chrono::microseconds us) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(us.count() / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(us.count() % 1'000'000);
  return tv;
}

std::chrono::microseconds from_timeval(const timeval& tv) {
  return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

}  // namespace

TimerSetting set_interval_timer(TimerSetting setting) {
  if (setting.initial.count() < 0 || setting.interval.count() < 0)
    sys::fail("setitimer", "ITIMER_REAL", EINVAL,
              "the initial time and the interval must not be negative");
  itimerval wanted{};
  wanted.it_value = to_timeval(setting.initial);
  wanted.it_interval = to_timeval(setting.interval);
  itimerval old{};
  sys::check(::setitimer(ITIMER_REAL, &wanted, &old), "setitimer", "ITIMER_REAL");
  return {from_timeval(old.it_value), from_timeval(old.it_interval)};
}

TimerSetting interval_timer() {
  itimerval now{};
  sys::check(::getitimer(ITIMER_REAL, &now), "getitimer", "ITIMER_REAL");
  return {from_timeval(now.it_value), from_timeval(now.it_interval)};
}

// --- TimerFd -----------------------------------------------------------------------------

TimerFd TimerFd::create() {
  Fd fd{::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)};
  if (!fd) {
    const int err = errno;
    sys::fail("timerfd_create", "CLOCK_MONOTONIC", err, sys::descriptor_limit_hint(err));
  }
  return TimerFd{std::move(fd)};
}

void TimerFd::arm(std::chrono::nanoseconds initial, std::chrono::nanoseconds interval) const {
  if (initial.count() <= 0)
    sys::fail("timerfd_settime", "timerfd", EINVAL,
              "the first expiry must be after a positive time (zero would disarm it; call disarm() "
              "for that)");
  if (interval.count() < 0)
    sys::fail("timerfd_settime", "timerfd", EINVAL, "the interval must not be negative");
  itimerspec spec{};
  spec.it_value = to_timespec(initial);
  spec.it_interval = to_timespec(interval);
  sys::check(::timerfd_settime(fd_.get(), 0, &spec, nullptr), "timerfd_settime", "timerfd");
}

void TimerFd::disarm() const {
  itimerspec spec{};
  sys::check(::timerfd_settime(fd_.get(), 0, &spec, nullptr), "timerfd_settime", "timerfd");
}

std::uint64_t TimerFd::wait(Deadline deadline) const {
  for (;;) {
    std::uint64_t expiries = 0;
    ssize_t n = sys::retry_eintr([&] { return ::read(fd_.get(), &expiries, sizeof expiries); });
    if (n == static_cast<ssize_t>(sizeof expiries)) return expiries;
    if (n == -1 && errno != EAGAIN) sys::fail("read", "timerfd", errno);
    if (n != -1)
      sys::fail("read", "timerfd", 0, "a short read of " + std::to_string(n) + " bytes, not 8");
    if (!fd_.wait_readable(deadline)) return 0;
  }
}

// --- SignalFd ----------------------------------------------------------------------------

bool ReceivedSignal::queued() const noexcept {
  return code == SI_QUEUE;
}

SignalFd SignalFd::create(const SignalSet& signals) {
  if (signals.is_empty())
    sys::fail("signalfd", "{}", EINVAL,
              "the set is empty; give the signals to read from the descriptor");
  refuse_unstoppable(signals, "signalfd", "read from a signalfd");
  const SignalSet mask = signal_mask();
  for (int signo : signals.signals()) {
    if (mask.contains(signo)) continue;
    const std::string name = signal_name(signo);
    sys::fail(
        "signalfd", name, EINVAL,
        name +
            " is not blocked in this thread, so the kernel would deliver it the usual way (handler "
            "or default action) instead of through the descriptor; block it first "
            "(ipckit::ScopedSignalMask), in every thread, before starting threads");
  }
  Fd fd{::signalfd(-1, &signals.native(), SFD_CLOEXEC | SFD_NONBLOCK)};
  if (!fd) {
    const int err = errno;
    sys::fail("signalfd", signals.to_string(), err, sys::descriptor_limit_hint(err));
  }
  return SignalFd{std::move(fd), signals};
}

std::optional<ReceivedSignal> SignalFd::read(Deadline deadline) const {
  for (;;) {
    signalfd_siginfo info{};
    ssize_t n = sys::retry_eintr([&] { return ::read(fd_.get(), &info, sizeof info); });
    if (n == static_cast<ssize_t>(sizeof info)) {
      ReceivedSignal got;
      got.signo = static_cast<int>(info.ssi_signo);
      got.code = info.ssi_code;
      got.sender_pid = static_cast<pid_t>(info.ssi_pid);
      got.sender_uid = static_cast<uid_t>(info.ssi_uid);
      got.value = info.ssi_int;
      got.address = info.ssi_addr;
      return got;
    }
    if (n == -1 && errno != EAGAIN) {
      const int err = errno;
      sys::fail("read", "signalfd " + signals_.to_string(), err);
    }
    if (n != -1)
      sys::fail(
          "read", "signalfd " + signals_.to_string(), 0,
          "a short read of " + std::to_string(n) + " bytes, not " + std::to_string(sizeof info));
    if (!fd_.wait_readable(deadline)) return std::nullopt;
  }
}

}  // namespace ipckit
