// libFuzzer target for the byte-stream framing of unix:// (and tcp://, which shares the code):
// a listener fed by peers that write whatever the fuzzer chose, split wherever it chose, over
// up to four connections at once, closing them at any point. The listener is small on purpose
// (max_message 72 KiB, max_buffered 16 KiB beyond each sender's first 64 KiB, max_senders 3),
// so lengths above the maximum, frames cut by a close, a budget that starves an inbox and
// senders waiting in the backlog all come up in short inputs (a large frame is a length and a
// filler the input names in a few bytes).
//
// What must hold, checked against a model that parses each connection's bytes itself: every
// message delivered is a whole frame some connection sent, each connection's frames come in
// its order, none is lost or duplicated up to the point where that connection broke the rules
// (a length above the maximum ends it, a close mid-frame drops the partial frame), and once
// every peer has closed the listener reaches end of stream (no hang). ASan and UBSan watch the
// library, which the fuzz build instruments too.
//
// Build and run: make fuzz-long (or make fuzz FUZZ_TARGET=stream_fuzz).

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_input.hpp"
#include "ipckit/channel.hpp"
#include "ipckit/socket.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::size_t kMaxMessage = 72 * 1024;
constexpr std::size_t kConnections = 4;

[[noreturn]] void fail(const std::string& what) { ipckit::fuzz::fail("stream_fuzz", what); }

using ipckit::fuzz::Input;

// One listener for the whole run: each input ends at end of stream, which leaves it as new.
ipckit::Channel& listener() {
  static ipckit::Channel rx = ipckit::Channel::listen(
      "unix://@ipckit-stream-fuzz-" + std::to_string(::getpid()),
      {.max_message = kMaxMessage, .on_sender_dropped = [](const std::string&) {}, .max_senders = 3,
       .max_buffered = 16 * 1024});
  return rx;
}

// What the listener must deliver from one connection's bytes: its whole frames, up to the
// first length above the maximum (which ends the connection); a frame cut short by the close
// is dropped.
std::vector<std::string> frames_of(const std::string& wire) {
  std::vector<std::string> frames;
  std::size_t at = 0;
  while (wire.size() - at >= 4) {
    std::uint32_t length = 0;
    for (int i = 0; i < 4; ++i) length |= std::uint32_t{static_cast<std::uint8_t>(wire[at + i])} << (8 * i);
    if (length > kMaxMessage) break;
    if (wire.size() - at - 4 < length) break;
    frames.push_back(wire.substr(at + 4, length));
    at += 4 + length;
  }
  return frames;
}

// Whether `delivered` is an interleaving of the connections' frame lists that keeps each
// list's order and uses every frame once. First the same frames, as many times each (sorted copies compared); then the order, by a
// search over the connections that sent frames, which gives up (trusting the first check) past
// kMaxStates: many connections sending the same frames make the orders to try explode.
bool is_merge(const std::vector<std::string>& delivered, const std::vector<std::vector<std::string>>& all_lists) {
  std::vector<std::vector<std::string>> lists;  // the connections that sent a frame at all
  for (const auto& list : all_lists)
    if (!list.empty()) lists.push_back(list);
  std::vector<std::string> all;
  for (const auto& list : lists) all.insert(all.end(), list.begin(), list.end());
  std::vector<std::string> got = delivered;
  std::sort(all.begin(), all.end());
  std::sort(got.begin(), got.end());
  if (all != got) return false;
  constexpr std::size_t kMaxStates = 256;
  // Depth-first, without recursion (thousands of tiny frames are as many levels): choice[k] is
  // the list delivered[k] was taken from.
  std::set<std::vector<std::size_t>> failed;  // states already known to lead nowhere
  std::vector<std::size_t> at(lists.size(), 0);
  std::vector<std::size_t> choice;
  choice.reserve(delivered.size());
  std::size_t next_try = 0;  // the first list to try for delivered[choice.size()]
  for (;;) {
    const std::size_t k = choice.size();
    if (k == delivered.size()) return true;  // the multiset check says every frame is used
    std::size_t i = next_try;
    if (failed.count(at) == 0) {
      while (i < lists.size() && (at[i] == lists[i].size() || lists[i][at[i]] != delivered[k])) ++i;
    } else {
      i = lists.size();
    }
    if (i < lists.size()) {
      ++at[i];
      choice.push_back(i);
      next_try = 0;
      continue;
    }
    // Nothing fits here: this state fails; back up one level and try its next list.
    failed.insert(at);
    if (failed.size() > kMaxStates) return true;  // give up on the order (see above)
    if (choice.empty()) return false;
    const std::size_t last = choice.back();
    choice.pop_back();
    --at[last];
    next_try = last + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ipckit::Channel& rx = listener();
  const std::string address = rx.url().substr(std::string_view("unix://@").size());
  Input in(data, size);
  std::array<std::optional<ipckit::Socket>, kConnections> peers;
  std::array<std::string, kConnections> wire;  // what each open peer wrote
  std::vector<std::string> closed;               // what each closed peer wrote
  bool connected = false;                        // a peer joined since the last end of stream
  int large_frames = 0;
  std::vector<std::string> delivered;
  std::vector<std::byte> buffer(rx.max_message());
  auto take_one = [&] {
    const ipckit::IoResult r = rx.try_receive(buffer);
    if (r.status == ipckit::IoStatus::ok) {
      delivered.emplace_back(reinterpret_cast<const char*>(buffer.data()), r.bytes);
    } else if (r.status == ipckit::IoStatus::end_of_stream) {
      connected = false;  // every peer that joined has gone; the next ones start afresh
    } else if (r.status != ipckit::IoStatus::would_block) {
      fail("try_receive gave neither ok, would_block nor end_of_stream");
    }
  };
  auto close = [&](std::size_t c) {
    if (!peers[c]) return;
    peers[c].reset();
    closed.push_back(std::move(wire[c]));
    wire[c].clear();
  };
  // Writes what the kernel takes of `bytes` on connection c, letting the listener read between
  // tries; a peer the listener does not read (starved, or waiting in the backlog) gives up on
  // the rest. wire[c] gets exactly what went.
  auto write = [&](std::size_t c, const std::string& bytes) {
    if (!peers[c]) {
      peers[c] = ipckit::Socket::connect_unix(ipckit::UnixAddress::abstract(address));
      connected = true;
    }
    std::size_t done = 0;
    for (int tries = 0; done < bytes.size() && tries < 8; ++tries) {
      const ssize_t n = ::send(peers[c]->fd().get(), bytes.data() + done, bytes.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n == -1 && errno != EAGAIN && errno != EINTR) break;  // dropped by the listener: EPIPE
      take_one();
    }
    wire[c] += bytes.substr(0, done);
  };
  for (int steps = 0; steps < 256 && !in.done(); ++steps) {
    const auto op = in.take<std::uint8_t>();
    const std::size_t c = (op >> 2) % kConnections;
    switch (op % 4) {
      case 0:  // a chunk of raw bytes, split wherever the input says
        write(c, in.bytes(in.take<std::uint8_t>() % 64));
        break;
      case 1: {  // a whole frame: up to 255 bytes from the input, or 60 to 92 KiB of filler
        const std::uint8_t n = in.take<std::uint8_t>();
        // At most three large frames an input: enough to starve inboxes and overdraw the
        // budget, few enough that an input stays cheap (the run must reach millions of inputs).
        const bool large = (op & 0xC0) == 0xC0 && large_frames < 3;
        if (large) ++large_frames;
        const std::size_t length = large ? 60 * 1024 + std::size_t{n} * 128 + in.take<std::uint8_t>() : n;
        std::string frame(4, '\0');
        for (int i = 0; i < 4; ++i) frame[static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xFF);
        frame += large ? std::string(length, static_cast<char>(n)) : in.bytes(length);
        frame.resize(4 + length, 'x');
        write(c, frame);
        break;
      }
      case 2:
        take_one();
        break;
      case 3:
        close(c);  // what it wrote is all that comes from it
        break;
    }
  }
  for (std::size_t c = 0; c < kConnections; ++c) close(c);
  // Every peer has closed: the listener hands out what is whole and then ends the stream.
  while (connected) {
    const ipckit::IoResult r = rx.receive(buffer, ipckit::Deadline::after(10s));
    if (r.status == ipckit::IoStatus::end_of_stream) break;
    if (r.status != ipckit::IoStatus::ok) fail("the listener did not reach end of stream after every peer closed");
    delivered.emplace_back(reinterpret_cast<const char*>(buffer.data()), r.bytes);
  }
  std::vector<std::vector<std::string>> expected;
  for (const std::string& w : closed) expected.push_back(frames_of(w));
  if (!is_merge(delivered, expected)) fail("what was delivered is not the peers' frames, each in its order");
  return 0;
}
