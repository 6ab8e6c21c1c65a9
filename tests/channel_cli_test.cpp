// Tests of `ipckit send` and `ipckit recv`, run as a user would run them, with peers written
// in Python that speak the wire format (4-byte little-endian length, then the bytes), and
// across two network namespaces joined by a veth pair.
//
// How the tests know that recv listens: recv prints one line, "ipckit recv: listening on
// URL", on stderr once listen() has returned (it also gives the port the kernel picked for
// tcp://HOST:0). The tests read recv's stderr up to that line before they start a sender: an
// exact signal, so neither a sleep nor a loop polling for the socket file, nor a client that
// retries connect, stands in for synchronisation.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ipckit/channel.hpp"
#include "ipckit/mqueue.hpp"
#include "ipckit/process.hpp"
#include "ipckit/sysv.hpp"
#include "test_util.hpp"

namespace ipckit {
namespace {

using namespace std::chrono_literals;
using test::RemoveAtEnd;
using namespace std::string_literals;
using test::cli_path;
using test::has_substring;
using test::run_cli;
using test::TempDir;
using test::unique_name;

constexpr std::string_view kListening = "ipckit recv: listening on ";

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span{text.data(), text.size()});
}

// Reads `fd` into `text` until `marker` shows; false when the stream ends first or 30 s pass.
bool read_until(Fd& fd, std::string& text, std::string_view marker) {
  std::array<std::byte, 512> buf{};
  const auto deadline = Deadline::after(30s);
  while (text.find(marker) == std::string::npos) {
    auto r = fd.read_some(buf, deadline);
    if (r.status != IoStatus::ok || r.bytes == 0) return false;
    text.append(reinterpret_cast<const char*>(buf.data()), r.bytes);  // NOLINT
  }
  return true;
}

// How a program run to its end went.
struct Ran {
  ExitStatus status;
  std::string out;
  std::string err;
};

// Runs argv with `input` on its stdin; returns its status and output (it is killed after 30 s).
Ran run(const std::vector<std::string>& argv, const std::string& input = {}) {
  auto child =
      Child::spawn({.argv = argv, .in = Stdio::pipe(), .out = Stdio::pipe(), .err = Stdio::pipe()});
  std::string err;
  std::thread err_reader([&] { err = read_all(child.stderr_pipe()); });
  if (!input.empty()) (void)child.stdin_pipe().write_all(bytes_of(input));
  child.stdin_pipe().reset();
  std::string out = read_all(child.stdout_pipe());
  err_reader.join();
  auto status = child.wait(Deadline::after(30s));
  if (!status) {
    ADD_FAILURE() << "still running after 30 s: " << argv.front();
    return {};  // the Child's destructor kills and reaps it
  }
  return Ran{*status, std::move(out), std::move(err)};
}

// python3 (a pyenv shim, so run through sh, which finds it in PATH) with an inline script.
std::vector<std::string> python(const std::string& script,
                                const std::vector<std::string>& args = {}) {
  std::vector<std::string> argv{"sh", "-c", "exec python3 -c \"$@\"", "sh", script};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// A Python sender over a Unix socket: argv[1] is the path, each further argument one message
// (Python's own escapes, e.g. 'a\\x00b'); sends them framed and closes.
constexpr const char* kPythonUnixSender = R"(
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
for text in sys.argv[2:]:
    m = text.encode('latin-1').decode('unicode_escape').encode('latin-1')
    s.sendall(struct.pack('<I', len(m)) + m)
s.close()
)";

// `ipckit recv ARGS...` running in the background, with its stdout and stderr piped.
class Receiver {
 public:
  explicit Receiver(const std::vector<std::string>& args, std::vector<std::string> prefix = {}) {
    std::vector<std::string> argv = std::move(prefix);
    argv.push_back(cli_path());
    argv.emplace_back("recv");
    argv.insert(argv.end(), args.begin(), args.end());
    child_.emplace(Child::spawn(
        {.argv = argv, .in = Stdio::null(), .out = Stdio::pipe(), .err = Stdio::pipe()}));
  }

  // Waits for the "listening on URL" line and returns URL (empty, and a failure, if recv
  // ended or said something else first).
  std::string wait_listening() {
    if (!read_until(child_->stderr_pipe(), err_, kListening) ||
        !read_until(child_->stderr_pipe(), err_, "\n")) {
      ADD_FAILURE() << "recv did not say it listens; stderr: " << err_;
      return {};
    }
    const auto start = err_.find(kListening) + kListening.size();
    return err_.substr(start, err_.find('\n', start) - start);
  }

  [[nodiscard]] pid_t pid() const { return child_->pid(); }

  // Waits (30 s at most) for recv to end; then out() and err() hold all it printed.
  ExitStatus finish() {
    // recv writes little, so its pipes cannot fill up while we wait for it to end.
    auto status = child_->wait(Deadline::after(30s));
    if (!status) {
      ADD_FAILURE() << "recv did not end within 30 s; stderr so far: " << err_;
      child_.reset();  // kills and reaps it
      return {};
    }
    out_ = read_all(child_->stdout_pipe());
    err_ += read_all(child_->stderr_pipe());
    return *status;
  }

  [[nodiscard]] const std::string& out() const { return out_; }
  [[nodiscard]] const std::string& err() const { return err_; }

 private:
  std::optional<Child> child_;
  std::string out_;
  std::string err_;
};

bool mq_exists(const std::string& name) {
  const mqd_t q = ::mq_open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (q == static_cast<mqd_t>(-1)) return errno != ENOENT;
  ::mq_close(q);
  return true;
}

// A System V key that no queue holds yet, from a file of `dir` (ftok keys may collide with
// unrelated queues; then the next file is tried).
sysv::Key free_msg_key(const TempDir& dir) {
  for (int attempt = 0;; ++attempt) {
    auto path = dir / ("key" + std::to_string(attempt));
    std::ofstream(path) << "ipckit channel cli key file\n";
    const sysv::Key key = sysv::Key::from_path(path, 'C');
    if (::msgget(key.value(), 0) == -1 && errno == ENOENT) return key;
    if (attempt == 20) throw std::runtime_error("no free ftok key found");
  }
}

// Removes the System V queue of `key`, if one is left, at the end of a test.
test::RemoveAtEnd queue_of_key_removed(sysv::Key key) {
  return test::RemoveAtEnd(
      [key] {
        if (const int id = ::msgget(key.value(), 0); id != -1) sysv::MessageQueue::from_id(id).remove();
      },
      "the System V queue of key " + key.to_string());
}

// `printf 'x\ny\n\nz\n' | ipckit send URL` while `ipckit recv URL --count 4` listens: the four
// lines (one empty) arrive as four messages, and both exit 0.
void expect_stdin_lines_carried(const std::string& url) {
  Receiver recv({url, "--count", "4", "--timeout", "20"});
  ASSERT_FALSE(recv.wait_listening().empty());
  const Ran send = run({"sh", "-c", R"(printf 'x\ny\n\nz\n' | "$0" send "$1")", cli_path(), url});
  EXPECT_TRUE(send.status.success()) << send.status.to_string() << "\n" << send.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "x\ny\n\nz\n");
}

// ---- recv with Python senders -------------------------------------------------------------

TEST(ChannelCli, RecvPrintsWhatAPythonClientSendsInTheWireFormat) {
  TempDir dir;
  const auto path = dir / "s.sock";
  Receiver recv({"unix://" + path.string(), "--count", "4"});
  ASSERT_EQ(recv.wait_listening(), "unix://" + path.string());
  const Ran client =
      run(python(kPythonUnixSender, {path.string(), "hello", "", "two words", "nul\\x00inside"}));
  EXPECT_TRUE(client.status.success()) << client.status.to_string() << "\n" << client.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "hello\n\ntwo words\nnul\0inside\n"s);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)))
      << "recv left its socket file behind";
}

TEST(ChannelCli, RecvDropsAClientWhoseLengthIsTooLargeAndServesTheNext) {
  TempDir dir;
  const auto path = dir / "s.sock";
  Receiver recv({"unix://" + path.string(), "--count", "2", "--timeout", "20"});
  ASSERT_FALSE(recv.wait_listening().empty());
  // The bad client announces 0xFFFFFFF0 bytes, then waits to see its connection closed.
  const Ran bad = run(python(R"(
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(struct.pack('<I', 0xFFFFFFF0))
try:
    got = s.recv(1)
    print('eof' if got == b'' else 'data %r' % got)
except ConnectionResetError:
    print('reset')
)",
                             {path.string()}));
  EXPECT_TRUE(bad.status.success()) << bad.err;
  EXPECT_TRUE(bad.out == "eof\n" || bad.out == "reset\n") << bad.out;
  const Ran good = run(python(kPythonUnixSender, {path.string(), "after", "the bad one"}));
  EXPECT_TRUE(good.status.success()) << good.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "after\nthe bad one\n");
  // The drop is one line, naming the length announced and the maximum (16 MiB by default).
  EXPECT_TRUE(has_substring(recv.err(), "4294967280"));
  EXPECT_TRUE(recv.err().find("16777216") != std::string::npos ||
              recv.err().find("16 MiB") != std::string::npos)
      << recv.err();
}

// ---- send to a Python server --------------------------------------------------------------

TEST(ChannelCli, SendIsHeardAsOneFramePerMessageByAPythonServer) {
  auto server = Child::spawn({.argv = python(R"(
import json, socket, struct, sys
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(('127.0.0.1', 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
srv.settimeout(20)
conn, _ = srv.accept()
conn.settimeout(20)
data = b''
while True:
    chunk = conn.recv(65536)
    if not chunk:
        break
    data += chunk
frames = []
while data:
    n = struct.unpack('<I', data[:4])[0]
    frames.append(data[4:4 + n].decode())
    data = data[4 + n:]
print(json.dumps(frames), flush=True)
)"),
                              .in = Stdio::null(),
                              .out = Stdio::pipe()});
  std::string out;
  ASSERT_TRUE(read_until(server.stdout_pipe(), out, "\n")) << "the Python server printed no port";
  const std::string port = out.substr(0, out.find('\n'));
  const auto send = run_cli({"send", "tcp://127.0.0.1:" + port, "a", "b c", "", "d"});
  EXPECT_TRUE(send.status.success()) << send.status.to_string() << "\n" << send.err;
  out += read_all(server.stdout_pipe());
  auto status = server.wait(Deadline::after(30s));
  ASSERT_TRUE(status.has_value()) << "the Python server did not end";
  EXPECT_TRUE(status->success()) << status->to_string();
  const std::string frames = out.substr(out.find('\n') + 1);
  ASSERT_FALSE(frames.empty()) << out;
  EXPECT_EQ(nlohmann::json::parse(frames), nlohmann::json({"a", "b c", "", "d"})) << frames;
}

// ---- stdin lines end to end ---------------------------------------------------------------

TEST(ChannelCli, StdinLinesGoEndToEndOverAPosixMessageQueue) {
  const std::string name = "/" + unique_name();
  const RemoveAtEnd remover(name, &MessageQueue::remove);
  expect_stdin_lines_carried("mq://" + name);
  EXPECT_FALSE(mq_exists(name)) << "recv left the queue " << name << " behind";
}

TEST(ChannelCli, StdinLinesGoEndToEndOverASysvMessageQueue) {
  TempDir dir;
  const sysv::Key key = free_msg_key(dir);
  const test::RemoveAtEnd remover = queue_of_key_removed(key);
  expect_stdin_lines_carried("sysv-msg://" + key.to_string());
  EXPECT_EQ(::msgget(key.value(), 0), -1) << "recv left the queue " << key.to_string() << " behind";
}

TEST(ChannelCli, StdinLinesGoEndToEndOverAFifo) {
  TempDir dir;
  const auto path = dir / "f.fifo";
  expect_stdin_lines_carried("fifo://" + path.string());
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)))
      << "recv left its FIFO behind";
}

TEST(ChannelCli, StdinLinesGoEndToEndOverAUnixSocket) {
  TempDir dir;
  expect_stdin_lines_carried("unix://" + (dir / "s.sock").string());
}

// ---- end of stream, timeouts, peer closed, signals ----------------------------------------

TEST(ChannelCli, RecvWithoutCountExitsAtEndOfStreamAfterOneSender) {
  // Port 0: the kernel picks one, and recv's "listening on" line says which.
  Receiver recv({"tcp://127.0.0.1:0", "--timeout", "20"});
  const std::string url = recv.wait_listening();
  ASSERT_EQ(url.rfind("tcp://127.0.0.1:", 0), 0U) << url;
  ASSERT_NE(url, "tcp://127.0.0.1:0");
  const auto send = run_cli({"send", url, "one", "two"});
  EXPECT_TRUE(send.status.success()) << send.status.to_string() << "\n" << send.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "one\ntwo\n");
}

TEST(ChannelCli, RecvTimeoutWithNoSenderExits1SayingNoneCame) {
  TempDir dir;
  const auto path = dir / "s.sock";
  Receiver recv({"unix://" + path.string(), "--timeout", "0.3"});
  ASSERT_FALSE(recv.wait_listening().empty());
  const ExitStatus status = recv.finish();
  EXPECT_EQ(status.shell_code(), 1) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "");
  EXPECT_TRUE(has_substring(recv.err(), "no message within 0.3 s; 0 message(s) came"))
      << recv.err();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
}

TEST(ChannelCli, RecvTimeoutCountsFromTheLastMessageAndSaysHowManyCame) {
  TempDir dir;
  const auto path = dir / "s.sock";
  // The sender is this process (microseconds after the "listening" line, far inside the 5 s),
  // and it stays connected: recv ends because no next message came, not at end of stream.
  Receiver recv({"unix://" + path.string(), "--count", "3", "--timeout", "5"});
  const std::string url = recv.wait_listening();
  ASSERT_FALSE(url.empty());
  auto sender = Channel::connect(url, {}, Deadline::after(20s));
  ASSERT_TRUE(sender.send(bytes_of("only one"), Deadline::after(20s)).ok());
  const ExitStatus status = recv.finish();
  EXPECT_EQ(status.shell_code(), 1) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "only one\n");
  EXPECT_TRUE(has_substring(recv.err(), "1 message(s) came of the 3 asked with --count"))
      << recv.err();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
}

TEST(ChannelCli, SendReportsAReceiverThatClosedAndHowManyWereSent) {
  TempDir dir;
  const std::string url = "unix://" + (dir / "s.sock").string();
  Receiver recv({url, "--count", "1", "--timeout", "20"});
  ASSERT_FALSE(recv.wait_listening().empty());
  // send reads its messages from our pipe: the first goes before recv ends, the second after.
  auto send = Child::spawn({.argv = {cli_path(), "send", url},
                            .in = Stdio::pipe(),
                            .out = Stdio::null(),
                            .err = Stdio::pipe()});
  ASSERT_TRUE(send.stdin_pipe().write_all(bytes_of("first\n")).ok());
  const ExitStatus recv_status = recv.finish();
  EXPECT_TRUE(recv_status.success()) << recv_status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "first\n");
  ASSERT_TRUE(send.stdin_pipe().write_all(bytes_of("second\n")).ok());
  send.stdin_pipe().reset();
  const std::string err = read_all(send.stderr_pipe());
  auto status = send.wait(Deadline::after(30s));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->shell_code(), 1) << status->to_string() << "\n" << err;
  EXPECT_TRUE(has_substring(err, url));
  EXPECT_TRUE(has_substring(err, "closed"));
  EXPECT_TRUE(has_substring(err, "1 message(s) sent"));
}

// Starts `ipckit recv URL`, checks with `exists` that what it listens on is there, sends it
// `signo`, and checks that it exited with `code` and removed it.
void expect_signal_removes_what_recv_made(const std::string& url,
                                          const std::function<bool()>& exists, int signo,
                                          int code) {
  Receiver recv({url});
  ASSERT_FALSE(recv.wait_listening().empty());
  ASSERT_TRUE(exists());
  ASSERT_EQ(::kill(recv.pid(), signo), 0);
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.exited) << "recv was killed by the signal instead of catching it: "
                             << status.to_string();
  EXPECT_EQ(status.shell_code(), code) << status.to_string() << "\n" << recv.err();
  EXPECT_FALSE(exists()) << "recv left " << url << " behind after signal " << signo;
}

TEST(ChannelCli, RecvRemovesItsSocketOnSigintAndExits130) {
  TempDir dir;
  const auto path = dir / "s.sock";
  expect_signal_removes_what_recv_made(
      "unix://" + path.string(),
      [&] { return std::filesystem::exists(std::filesystem::symlink_status(path)); }, SIGINT, 130);
}

TEST(ChannelCli, RecvRemovesItsSocketOnSigtermAndExits143) {
  TempDir dir;
  const auto path = dir / "s.sock";
  expect_signal_removes_what_recv_made(
      "unix://" + path.string(),
      [&] { return std::filesystem::exists(std::filesystem::symlink_status(path)); }, SIGTERM, 143);
}

TEST(ChannelCli, RecvRemovesItsMessageQueueOnSigterm) {
  const std::string name = "/" + unique_name();
  const RemoveAtEnd remover(name, &MessageQueue::remove);
  expect_signal_removes_what_recv_made(
      "mq://" + name, [&] { return mq_exists(name); }, SIGTERM, 143);
}

TEST(ChannelCli, RecvWithCountWaitsForNewSendersAfterEndOfStream) {
  const std::string name = "/" + unique_name();
  const RemoveAtEnd remover(name, &MessageQueue::remove);
  const std::string url = "mq://" + name;
  Receiver recv({url, "--count", "2", "--timeout", "20"});
  ASSERT_FALSE(recv.wait_listening().empty());
  // The first sender has come and gone (end of stream for recv) before the second starts.
  const auto first = run_cli({"send", url, "from the first"});
  EXPECT_TRUE(first.status.success()) << first.err;
  const auto second = run_cli({"send", url, "from the second"});
  EXPECT_TRUE(second.status.success()) << second.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "from the first\nfrom the second\n");
}

// ---- a queue that held messages from before ------------------------------------------------

// Messages an earlier listener left in a queue are never replayed silently: recv says how many
// there were, and --drop-stale drops them.
void expect_stale_messages_reported(bool drop) {
  const std::string name = "/" + unique_name();
  const RemoveAtEnd remover(name, &MessageQueue::remove);
  const std::string url = "mq://" + name;
  {
    MessageQueue left = MessageQueue::create({.name = name});
    for (const char* m : {"left 1", "left 2"}) ASSERT_EQ(left.send(bytes_of(m), 0, Deadline::now()), IoStatus::ok);
  }
  std::vector<std::string> args{url, "--count", drop ? "1" : "3", "--timeout", "20"};
  if (drop) args.emplace_back("--drop-stale");
  Receiver recv(args);
  ASSERT_FALSE(recv.wait_listening().empty());
  const auto send = run_cli({"send", url, "new"});
  EXPECT_TRUE(send.status.success()) << send.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  if (drop) {
    EXPECT_TRUE(has_substring(recv.err(), "dropped 2 message(s) the queue held from before")) << recv.err();
    EXPECT_EQ(recv.out(), "new\n");
  } else {
    EXPECT_TRUE(has_substring(recv.err(), "already held 2 message(s) from before")) << recv.err();
    EXPECT_TRUE(has_substring(recv.err(), "--drop-stale")) << recv.err();
    EXPECT_EQ(recv.out(), "left 1\nleft 2\nnew\n");
  }
}

TEST(ChannelCli, RecvSaysHowManyMessagesAQueueHeldFromBefore) {
  expect_stale_messages_reported(false);
}

TEST(ChannelCli, RecvDropStaleDropsThemFirst) {
  expect_stale_messages_reported(true);
}

// ---- closed stdin, stdout or stderr ---------------------------------------------------------

// recv and send started with a standard descriptor closed: nothing they print or read may go
// to the channel's own objects (the first descriptor they open would otherwise be 0, 1 or
// 2). With stderr closed, recv's "listening on" line cannot be waited for: the sender's
// connect, which waits for a listener, orders the two instead.
std::vector<std::string> recv_with(const std::string& redirect, const std::string& url,
                                   const std::string& count) {
  return {"sh", "-c", "exec \"$0\" recv \"$1\" --count \"$2\" --timeout 20 " + redirect,
          cli_path(), url, count};
}

TEST(ChannelCli, RecvWithStderrClosedKeepsItsSegmentClean) {
  const std::string url = "shm://" + unique_name();
  auto recv = Child::spawn({.argv = recv_with("2>&-", url, "3"), .in = Stdio::null(),
                            .out = Stdio::pipe(), .err = Stdio::null()});
  const auto send = run_cli({"send", url, "a", "b", "c"});
  EXPECT_TRUE(send.status.success()) << send.status.to_string() << "\n" << send.err;
  const std::string out = read_all(recv.stdout_pipe());
  const auto status = recv.wait(Deadline::after(30s));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->success()) << status->to_string();
  EXPECT_EQ(out, "a\nb\nc\n");
}

TEST(ChannelCli, RecvWithStdoutClosedTakesEveryMessage) {
  const std::string url = "shm://" + unique_name();
  auto recv = Child::spawn({.argv = recv_with(">&-", url, "200"), .in = Stdio::null(),
                            .out = Stdio::null(), .err = Stdio::pipe()});
  std::string lines;
  for (int i = 0; i < 200; ++i) lines += "message number " + std::to_string(i) + "\n";
  const Ran send = run({cli_path(), "send", url}, lines);
  EXPECT_TRUE(send.status.success()) << send.status.to_string() << "\n" << send.err;
  const std::string err = read_all(recv.stderr_pipe());
  const auto status = recv.wait(Deadline::after(30s));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->success()) << status->to_string() << "\n" << err;
  EXPECT_FALSE(has_substring(err, "wrong magic")) << err;
}

TEST(ChannelCli, SendWithStdinClosedReadsNothing) {
  const std::string url = "shm://" + unique_name();
  Receiver recv({url, "--timeout", "20"});
  ASSERT_FALSE(recv.wait_listening().empty());
  const Ran send = run({"sh", "-c", "exec \"$0\" send \"$1\" <&-", cli_path(), url});
  EXPECT_TRUE(send.status.success()) << send.status.to_string() << "\n" << send.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "");
}

// ---- errors -------------------------------------------------------------------------------

TEST(ChannelCli, AMalformedUrlIsAUsageErrorShowingACorrectUrl) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
    std::string example;
  };
  const Case cases[] = {
      {{"recv", "bogus://x"}, "unknown scheme", "unix:///"},
      {{"send", "tcp://127.0.0.1", "m"}, "port", "tcp://127.0.0.1:7000"},
      {{"recv", "fifo://relative/path"}, "absolute", "fifo:///"},
      {{"send", "no-scheme", "m"}, "no scheme", "mq:///NAME"},
      // Names the kernel would refuse are URL mistakes too, found before anything waits
      // (send's default timeout is long: a send that waited would fail the 30 s run).
      {{"recv", "shm://@"}, "name after @ is missing", "shm://@app"},
      {{"send", "mq:///.", "m"}, "not queue names", "mq:///app"},
      {{"recv", "shm://" + std::string(300, 'n')}, "at most 245 fit", "NAME_MAX"},
      {{"send", "shm://@" + std::string(100, 'n'), "m"}, "at most 96 fit", "@ipckit/shm/NAME"},
      {{"recv", "mq:///" + std::string(100, 'n')}, "at most 97 fit", "@ipckit/mq/NAME"},
      {{"send", "unix://@" + std::string(120, 'n'), "m"}, "at most 107 fit", "107 bytes"},
      {{"recv", "shm://x?capacity=4096&capacity=8192"}, "capacity is given twice", "shm://app?capacity="},
      {{"recv", "shm://x?senders=2&capacity=4096&senders=4"}, "senders is given twice", "senders=8"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli(c.args);
    EXPECT_EQ(r.status.shell_code(), 2) << c.args[1] << ": " << r.err;
    EXPECT_TRUE(has_substring(r.err, c.says)) << c.args[1];
    EXPECT_TRUE(has_substring(r.err, c.example)) << c.args[1];
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

TEST(ChannelCli, SendWithNothingListeningFailsClearlyAfterItsTimeout) {
  TempDir dir;
  const std::string url = "unix://" + (dir / "nobody.sock").string();
  const auto r = run_cli({"send", "--timeout", "0.2", url, "x"});
  EXPECT_EQ(r.status.shell_code(), 1) << r.err;
  EXPECT_TRUE(has_substring(r.err, url));
  EXPECT_TRUE(has_substring(r.err, "ipckit recv"));
}

TEST(ChannelCli, SendToAFileThatIsNoSocketSaysSoAtOnce) {
  // A regular file: connect(2) says ECONNREFUSED there, as if a listener were to come.
  TempDir dir;
  const auto path = dir / "plain";
  std::ofstream(path) << "not a socket\n";
  const auto r = run_cli({"send", "--timeout", "600", "unix://" + path.string(), "secret"});
  EXPECT_EQ(r.status.shell_code(), 1) << r.err;
  EXPECT_TRUE(has_substring(r.err, "is a regular file, not a socket")) << r.err;
  EXPECT_FALSE(has_substring(r.err, "stale")) << r.err;
}

TEST(ChannelCli, AForeignObjectUnderAChannelsNameIsNotCalledStale) {
  // /dev/shm/ipckit-ch-NAME made by something else: `rm --stale` leaves such an object
  // alone, so recv must not suggest it.
  const std::string name = unique_name();
  const std::string object = "/ipckit-ch-" + name;
  const int fd = ::shm_open(object.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  ASSERT_NE(fd, -1) << std::strerror(errno);
  ::close(fd);
  const auto r = run_cli({"recv", "--timeout", "1", "shm://" + name});
  (void)::shm_unlink(object.c_str());
  EXPECT_EQ(r.status.shell_code(), 1) << r.err;
  EXPECT_TRUE(has_substring(r.err, "not an ipckit channel")) << r.err;
  EXPECT_TRUE(has_substring(r.err, "ipckit rm --shm " + object)) << r.err;
  EXPECT_FALSE(has_substring(r.err, "rm --stale")) << r.err;
}

TEST(ChannelCli, HelpShowsAUrlPerSchemeAndTheOptions) {
  for (const char* cmd : {"send", "recv"}) {
    const auto r = run_cli({cmd, "--help"});
    EXPECT_EQ(r.status.shell_code(), 0) << cmd;
    for (const char* part :
         {"unix:///", "unix://@", "tcp://", "fifo:///", "mq:///", "sysv-msg://0x", "--timeout"})
      EXPECT_TRUE(has_substring(r.out, part)) << cmd;
  }
  const auto recv = run_cli({"recv", "--help"});
  EXPECT_TRUE(has_substring(recv.out, "--count"));
  EXPECT_TRUE(has_substring(recv.out, "end of stream"));
}

// ---- across hosts: two network namespaces joined by a veth pair ---------------------------

// Runs a command through sh; returns its exit code and what it printed on stderr.
Ran sh(const std::string& command) {
  return run({"sh", "-c", command});
}

// Two network namespaces "<name>-a" and "<name>-b" joined by a veth pair, deleted (the veth
// with them) on destruction, whatever happened.
class NamespacePair {
 public:
  explicit NamespacePair(const std::string& name) : a_(name + "-a"), b_(name + "-b") {}
  NamespacePair(const NamespacePair&) = delete;
  NamespacePair& operator=(const NamespacePair&) = delete;
  ~NamespacePair() {
    for (const auto& ns : {a_, b_}) (void)sh("ip netns delete " + ns + " 2>/dev/null");
  }
  [[nodiscard]] const std::string& a() const { return a_; }
  [[nodiscard]] const std::string& b() const { return b_; }

 private:
  std::string a_;
  std::string b_;
};

TEST(ChannelCli, SendAndRecvTalkAcrossTwoNetworkNamespaces) {
  if (sh("command -v ip >/dev/null").status.shell_code() != 0) {
    GTEST_SKIP() << "`ip` is not installed (Debian package iproute2)";
  }
  const std::string tag = std::to_string(::getpid());
  const NamespacePair ns(unique_name());
  const Ran add = sh("ip netns add " + ns.a() + " && ip netns add " + ns.b());
  if (!add.status.success()) {
    GTEST_SKIP() << "cannot create network namespaces here (root and CAP_SYS_ADMIN needed): "
                 << add.err;
  }
  // Interface names hold at most 15 bytes; the veth is created inside the namespaces at once,
  // so it never exists outside them and goes when they are deleted.
  const std::string veth_a = "ikt" + tag + "a";
  const std::string veth_b = "ikt" + tag + "b";
  const auto pid = static_cast<unsigned>(::getpid());
  const std::string subnet =
      "10." + std::to_string((pid >> 8) & 0xFF) + "." + std::to_string(pid & 0xFF);
  const std::string addr_a = subnet + ".1";
  const std::string addr_b = subnet + ".2";
  const Ran link =
      sh("ip link add " + veth_a + " netns " + ns.a() + " type veth peer name " + veth_b +
         " netns " + ns.b() + " && ip -n " + ns.a() + " addr add " + addr_a + "/24 dev " + veth_a +
         " && ip -n " + ns.b() + " addr add " + addr_b + "/24 dev " + veth_b + " && ip -n " +
         ns.a() + " link set " + veth_a + " up && ip -n " + ns.b() + " link set " + veth_b + " up");
  if (!link.status.success()) GTEST_SKIP() << "cannot create a veth pair here: " << link.err;

  Receiver recv({"tcp://" + addr_a + ":0", "--count", "3", "--timeout", "20"},
                {"ip", "netns", "exec", ns.a()});
  const std::string url = recv.wait_listening();
  ASSERT_EQ(url.rfind("tcp://" + addr_a + ":", 0), 0U) << url;
  const Ran send = run({"ip", "netns", "exec", ns.b(), cli_path(), "send", url, "a", "b", "c"});
  EXPECT_TRUE(send.status.success()) << send.status.to_string() << "\n" << send.err;
  const ExitStatus status = recv.finish();
  EXPECT_TRUE(status.success()) << status.to_string() << "\n" << recv.err();
  EXPECT_EQ(recv.out(), "a\nb\nc\n");
}

}  // namespace
}  // namespace ipckit
