// `ipckit send URL [MESSAGE...]` and `ipckit recv URL [--count N] [--timeout SECONDS]`: the
// two ends of an ipckit channel (include/ipckit/channel.hpp) from a shell, for any transport
// the URL names (unix, tcp, fifo, mq, sysv-msg, shm).
//
//   ipckit recv unix:///tmp/app.sock --count 2 &
//   ipckit send unix:///tmp/app.sock hello world        # recv prints "hello\nworld\n"
//   printf 'x\ny\n' | ipckit send mq:///app              # one message per line of stdin
//
// recv removes what its listen() created (a socket file, a FIFO, a queue) when it ends, also
// when SIGINT, SIGTERM or SIGHUP ends it: it catches them, lets the Channel go, and exits
// with 128+N as a shell expects.

#include <fmt/core.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "commands.hpp"
#include "ipckit/channel.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"
#include "ipckit/signal.hpp"

namespace ipckit::cli {
namespace {

// The footer of send and recv --help: every URL form (channel_url_forms), and the wire format.
std::string url_forms_text() {
  std::string text = "URLs, one per transport:\n";
  for (const ChannelUrlForm& f : channel_url_forms()) text += fmt::format("  {:<28} {}\n", f.example, f.what);
  return text +
         "Unix sockets take only this user's peers; ?users=any takes any user's.\n"
         "On unix, tcp and fifo each message is a 4-byte little-endian length, then the bytes, so any\n"
         "language can be the other end (docs/send-recv.md has a Python peer).";
}

// The longest --timeout: 1e9 s (about 31 years) still fits a Deadline in nanoseconds.
constexpr double kMaxTimeoutSeconds = 1e9;

// CLI11 checks with messages that say what is allowed (its own ranges print 300 digits).
CLI::Validator seconds_check() {
  return {[](const std::string& text) -> std::string {
            double value = -1;
            try {
              std::size_t used = 0;
              value = std::stod(text, &used);
              if (used != text.size()) value = -1;
            } catch (const std::exception&) {
              value = -1;
            }
            if (value >= 0 && value <= kMaxTimeoutSeconds) return {};
            return "SECONDS is a number of seconds from 0 to 1e9, e.g. 10 or 0.5; got \"" + text +
                   "\"";
          },
          "", "SECONDS"};
}

CLI::Validator count_check() {
  return {[](const std::string& text) -> std::string {
            std::size_t value = 0;
            auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (ec == std::errc{} && end == text.data() + text.size() && value > 0) return {};
            return "N is a whole number of messages, at least 1; got \"" + text + "\"";
          },
          "", "N"};
}

std::chrono::nanoseconds to_duration(double seconds) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(seconds));
}

// A malformed URL (unknown scheme, no port, a relative path...) is a usage mistake: exit 2,
// as CLI11's own checks do for the other commands. The library's text shows a correct URL.
bool is_usage_error(const Error& e) {
  return e.syscall() == "channel URL" ||
         (e.errnum() == EINVAL && e.syscall().rfind("Channel::", 0) == 0);
}

int report_setup_error(const char* command, const Error& e) {
  fmt::print(stderr, "ipckit {}: {}\n", command, e.what());
  if (is_usage_error(e)) {
    fmt::print(stderr, "Run `ipckit {} --help` for the URL of each transport.\n", command);
    return 2;
  }
  return 1;
}

// ---- send ---------------------------------------------------------------------------------

struct SendArgs {
  std::string url;
  std::vector<std::string> messages;
  double timeout = 10.0;
};

// Sends one message; nothing when it went, else the exit code after saying why on stderr.
std::optional<int> send_one(Channel& channel, const SendArgs& args, std::string_view message,
                            std::size_t sent) {
  IoResult result{};
  try {
    result = channel.send(std::as_bytes(std::span{message.data(), message.size()}),
                          Deadline::after(to_duration(args.timeout)));
  } catch (const Error& e) {  // a message above max_message(), a large fifo message shared...
    fmt::print(stderr, "ipckit send: {} ({} message(s) sent before it)\n", e.what(), sent);
    return 1;
  }
  switch (result.status) {
    case IoStatus::ok:
      return std::nullopt;
    case IoStatus::peer_closed:
      fmt::print(stderr,
                 "ipckit send: {}: the receiver closed the channel; {} message(s) sent before "
                 "it did\n",
                 channel.url(), sent);
      return 1;
    case IoStatus::timed_out:
    case IoStatus::would_block:
      fmt::print(stderr,
                 "ipckit send: {}: message {} could not be sent within {:g} s: the channel is "
                 "full and the receiver is not reading; {} message(s) sent (--timeout waits "
                 "longer)\n",
                 channel.url(), sent + 1, args.timeout, sent);
      return 1;
    case IoStatus::end_of_stream:
      break;
  }
  fmt::print(stderr, "ipckit send: {}: unexpected result of send\n", channel.url());
  return 1;
}

int run_send(const SendArgs& args) {
  std::optional<Channel> channel;
  try {
    channel.emplace(Channel::connect(args.url, {}, Deadline::after(to_duration(args.timeout))));
  } catch (const Error& e) {
    const int code = report_setup_error("send", e);
    if (e.errnum() == ETIMEDOUT) {
      fmt::print(stderr,
                 "ipckit send: nothing listened within {:g} s; --timeout SECONDS waits longer\n",
                 args.timeout);
    }
    return code;
  }
  std::size_t sent = 0;
  if (!args.messages.empty()) {
    for (const auto& message : args.messages) {
      if (auto code = send_one(*channel, args, message, sent)) return *code;
      ++sent;
    }
    return 0;
  }
  // One message per line of stdin, sent as soon as the line is complete (so a slow producer
  // such as `tail -f` streams); getline keeps NUL bytes, and a last line without its newline
  // is still a message.
  struct LineBuffer {
    char* data = nullptr;
    std::size_t capacity = 0;
    LineBuffer() = default;
    LineBuffer(const LineBuffer&) = delete;
    LineBuffer& operator=(const LineBuffer&) = delete;
    ~LineBuffer() { std::free(data); }  // NOLINT: getline's buffer comes from malloc
  } line;
  for (;;) {
    errno = 0;
    const ssize_t n = ::getline(&line.data, &line.capacity, stdin);
    if (n < 0) {
      if (std::ferror(stdin) != 0) throw Error{"read", "stdin", errno};
      return 0;
    }
    std::string_view message{line.data, static_cast<std::size_t>(n)};
    if (!message.empty() && message.back() == '\n') message.remove_suffix(1);
    if (auto code = send_one(*channel, args, message, sent)) return *code;
    ++sent;
  }
}

// ---- recv ---------------------------------------------------------------------------------

struct RecvArgs {
  std::string url;
  std::size_t count = 0;          // 0: until end of stream
  std::optional<double> timeout;  // seconds to wait for the next message; none: for good
  bool drop_stale = false;        // drop what an adopted queue held (ChannelOptions::drop_stale)
};

// The signal that asked recv to stop (0: none). The handler only sets it; the receive loop
// wakes at least every kSignalCheck to look, since the transport may retry EINTR itself.
volatile std::sig_atomic_t stop_signal = 0;
constexpr auto kSignalCheck = std::chrono::milliseconds(100);

extern "C" void on_stop_signal(int signo, siginfo_t* /*info*/, void* /*context*/) {
  stop_signal = signo;
}

// Catches SIGINT, SIGTERM and SIGHUP for the scope, so the Channel's destructor removes what
// listen() created before recv exits. A signal ignored when recv started (a background job of
// a non-interactive shell has SIGINT ignored; nohup ignores SIGHUP) stays ignored, as shells
// and well-behaved programs do.
class StopSignals {
 public:
  StopSignals() {
    for (int signo : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction current {};
      if (::sigaction(signo, nullptr, &current) == 0 && current.sa_handler == SIG_IGN) continue;
      // restart = false: a blocking call the signal interrupts returns EINTR at once where it
      // can, rather than only at the next kSignalCheck.
      handlers_.push_back(std::make_unique<ScopedSignalHandler>(signo, on_stop_signal,
                                                                HandlerOptions{.restart = false}));
    }
  }

 private:
  std::vector<std::unique_ptr<ScopedSignalHandler>> handlers_;
};

enum class WriteResult : unsigned char { ok, reader_gone };

// Writes the message and a newline to stdout in one writev, as they are (no stdio buffer,
// so a reader of a pipe sees each message at once).
WriteResult print_message(std::span<const std::byte> message) {
  char newline = '\n';
  iovec parts[2] = {{const_cast<std::byte*>(message.data()), message.size()},
                    {&newline, 1}};  // NOLINT
  iovec* next = parts;
  int left = 2;
  while (left > 0) {
    const ssize_t n = ::writev(STDOUT_FILENO, next, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) return WriteResult::reader_gone;
      throw Error{"write", "stdout", errno};
    }
    auto written = static_cast<std::size_t>(n);
    while (left > 0 && written >= next->iov_len) {
      written -= next->iov_len;
      ++next;
      --left;
    }
    if (left > 0) {
      next->iov_base = static_cast<char*>(next->iov_base) + written;
      next->iov_len -= written;
    }
  }
  return WriteResult::ok;
}

Deadline next_message_deadline(const RecvArgs& args) {
  return args.timeout ? Deadline::after(to_duration(*args.timeout)) : Deadline::never();
}

// The receive loop; the Channel lives in run_recv, so every return here (and every exception)
// destroys it, removing what listen() created.
int receive_messages(Channel& channel, const RecvArgs& args) {
  std::vector<std::byte> buffer(channel.max_message());
  std::size_t received = 0;
  Deadline wait_until = next_message_deadline(args);
  for (;;) {
    if (stop_signal != 0) {
      fmt::print(stderr, "ipckit recv: {}: stopped by {} after {} message(s)\n", channel.url(),
                 signal_name(stop_signal), received);
      return 128 + stop_signal;
    }
    // Wait in slices so that a signal is seen within kSignalCheck whatever the transport
    // does with EINTR.
    const Deadline slice =
        Deadline::at(std::min(wait_until.when(), Deadline::after(kSignalCheck).when()));
    IoResult result{};
    try {
      result = channel.receive(buffer, slice);
    } catch (const Error& e) {
      if (e.errnum() == EINTR && stop_signal != 0) continue;
      throw;
    }
    switch (result.status) {
      case IoStatus::ok:
        if (print_message(std::span{buffer}.first(result.bytes)) == WriteResult::reader_gone) {
          return 128 + SIGPIPE;  // as if SIGPIPE had ended us, but with the channel cleaned up
        }
        ++received;
        if (args.count != 0 && received == args.count) return 0;
        wait_until = next_message_deadline(args);
        break;
      case IoStatus::end_of_stream:
        // Without --count, the end of the (last) sender ends recv; with it, recv waits for
        // new senders until it has N messages or --timeout passes.
        if (args.count == 0) return 0;
        break;
      case IoStatus::timed_out:
      case IoStatus::would_block:
        if (wait_until.expired()) {
          fmt::print(stderr, "ipckit recv: {}: no message within {:g} s; {} message(s) came{}\n",
                     channel.url(), *args.timeout, received,
                     args.count != 0 ? fmt::format(" of the {} asked with --count", args.count)
                                     : std::string{});
          return 1;
        }
        break;
      case IoStatus::peer_closed:
        break;
    }
  }
}

int run_recv(const RecvArgs& args) {
  // A write to a stdout whose reader has gone must fail with EPIPE, not kill recv before the
  // Channel is cleaned up.
  ignore_sigpipe();
  stop_signal = 0;
  const StopSignals stop_signals;  // before listen(): no moment where a signal leaves a file
  ChannelOptions options;
  options.drop_stale = args.drop_stale;
  options.on_sender_dropped = [](const std::string& reason) {
    fmt::print(stderr, "ipckit recv: {}\n", reason);
  };
  std::optional<Channel> channel;
  try {
    channel.emplace(Channel::listen(args.url, options));
  } catch (const Error& e) {
    return report_setup_error("recv", e);
  }
  // The one line that says recv is ready: a script (or a test) can wait for it before it
  // starts a sender, and it shows the port the kernel picked for tcp://HOST:0.
  fmt::print(stderr, "ipckit recv: listening on {}\n", channel->url());
  // A queue outlives its listener: never replay what an earlier one left without saying so.
  if (const std::size_t stale = channel->stale_messages(); stale != 0) {
    if (args.drop_stale) {
      fmt::print(stderr, "ipckit recv: {}: dropped {} message(s) the queue held from before (--drop-stale)\n",
                 channel->url(), stale);
    } else {
      fmt::print(stderr,
                 "ipckit recv: {}: the queue already held {} message(s) from before (an earlier listener "
                 "left them?); they come first; --drop-stale drops them\n",
                 channel->url(), stale);
    }
  }
  const int code = receive_messages(*channel, args);
  // Messages were lost to a peer that broke the shared memory: never a quiet success.
  if (const std::uint64_t corrupt = channel->corrupt_senders(); corrupt != 0) {
    fmt::print(stderr,
               "ipckit recv: {}: {} sender(s) were dropped for writing what broke the channel's shared memory "
               "(said above); their undelivered messages are lost\n",
               channel->url(), corrupt);
    return code == 0 ? 1 : code;
  }
  return code;
}

}  // namespace

void add_send_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "send", "Send each MESSAGE, or each line of stdin, as one message on a channel");
  cmd->description(
      "Join the channel at URL (connect) and send each MESSAGE as one message, in order; with "
      "no MESSAGE, send each line of stdin (without its newline; an empty line is an empty "
      "message) as soon as it is read. Exits 0 when every message was sent; 1 when nothing "
      "listens at URL within --timeout, when the receiver closes the channel (saying how many "
      "were sent) or a send cannot finish within --timeout; 2 for a malformed URL.");
  auto args = std::make_shared<SendArgs>();
  cmd->add_option("URL", args->url, "Where to send: see the URLs below")->required();
  cmd->add_option("MESSAGE", args->messages,
                  "Messages, one per argument (put `--` before messages that start with -); "
                  "none: read lines from stdin");
  cmd->add_option("--timeout", args->timeout,
                  "Seconds to wait for the listener to be there, and for each message to go "
                  "(default: 10)")
      ->type_name("SECONDS")
      ->check(seconds_check());
  cmd->footer(url_forms_text() +
              "\nExamples:\n"
              "  ipckit send unix:///tmp/app.sock hello world\n"
              "  printf 'a\\nb\\n' | ipckit send tcp://127.0.0.1:7000\n"
              "  ipckit send --timeout 0.5 mq:///app -- -1 -2");
  cmd->callback([args, &exit_code] { exit_code = run_send(*args); });
}

void add_recv_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "recv", "Listen on a channel and print each message followed by a newline");
  cmd->description(
      "Create or bind the channel at URL (listen) and print each message it receives on "
      "stdout, as it is, followed by a newline. Senders come and go; each one the channel "
      "drops for a protocol error (a length above the maximum, a frame cut short) is named in "
      "one line on stderr, and recv goes on serving the others. One line on stderr says when "
      "it listens (with the port picked for tcp://HOST:0). What listen created (a socket "
      "file, a FIFO, a queue) is removed when recv ends, also on SIGINT, SIGTERM or SIGHUP. "
      "Exits 0 after --count messages, or without --count at end of stream (every sender "
      "gone); 1 when --timeout passes first, on an error, or when a sender of a shm:// channel "
      "was dropped for breaking its shared memory; 2 for a malformed URL; 128+N when "
      "signal N stopped it (130 for Ctrl-C).");
  auto args = std::make_shared<RecvArgs>();
  cmd->add_option("URL", args->url, "Where to listen: see the URLs below")->required();
  cmd->add_option("--count", args->count,
                  "Exit 0 after N messages. End of stream then does not stop recv: it waits "
                  "for new senders until N messages came (or --timeout passes). Without "
                  "--count, recv exits 0 when the last sender has gone")
      ->type_name("N")
      ->check(count_check());
  cmd->add_option("--timeout", args->timeout,
                  "The most to wait for the next message (the first one included); when it "
                  "passes, exit 1 saying how many messages came (default: wait for good)")
      ->type_name("SECONDS")
      ->check(seconds_check());
  cmd->add_flag("--drop-stale", args->drop_stale,
                "mq:// and sysv-msg://: drop the messages a queue that was already there holds "
                "(left by an earlier listener) instead of printing them first; either way recv "
                "says on stderr how many there were");
  cmd->footer(url_forms_text() +
              "\nExamples:\n"
              "  ipckit recv unix:///tmp/app.sock --count 2\n"
              "  ipckit recv tcp://0.0.0.0:7000 --timeout 30\n"
              "  ipckit recv sysv-msg://0x162e | grep error");
  cmd->callback([args, &exit_code] { exit_code = run_recv(*args); });
}

}  // namespace ipckit::cli
