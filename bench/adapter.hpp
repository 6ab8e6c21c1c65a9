#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

// The one interface through which a mechanism enters the bench. An adapter says how to make
// the kernel objects a row needs (in the parent, before fork), how each of the two processes
// opens its ends after fork (one Sender towards the other process, one Receiver from it), and
// how to remove what it made. The engine does everything else: forking, pinning, timing,
// sequence checks, CPU accounting and error reporting.
//
//   class PipeMechanism final : public Mechanism {
//    public:
//     std::string_view name() const override { return "pipe"; }
//     void setup(const RowContext&) override { to_child_ = Pipe::create(); ... }
//     Endpoints open(Side side, const RowContext&) override { ...keep this side's ends... }
//     void cleanup() noexcept override { to_child_ = {}; ... }
//   };
//
// Adding a mechanism: write bench/adapters/<name>.cpp with a class like the one above and a
// factory `std::unique_ptr<Mechanism> make_<name>_mechanism()`, then add one line to the
// table in bench/registry.cpp. CMake picks the file up by itself.
//
// Messages are whole and of a fixed size per row (RowContext::message_size). A byte-stream
// adapter writes and reads exactly that many bytes per message (see adapters/byte_stream.hpp).

namespace ipckit::bench {

/// Which of the two processes of a row is running: the parent (the process that called the
/// engine; it sends pings and the throughput stream) or the forked child (it echoes pings and
/// receives the stream).
enum class Side : unsigned char { parent, child };

/// What an adapter needs to know about the row being measured.
struct RowContext {
  /// Every message of the row has exactly this many bytes (at least kHeaderSize).
  std::size_t message_size = 0;
  /// The longest any single wait of an adapter may take (an open waiting for the other side,
  /// a spin-wait) before it gives up with an exception; so a dead peer never hangs a row.
  std::chrono::nanoseconds stall_timeout{std::chrono::seconds(5)};
};

/// How one send or receive ended, when it did not throw.
enum class Transfer : unsigned char {
  ok,      ///< the whole message went (send) or came (receive)
  closed,  ///< the other process has closed its end (end of stream, or no reader left)
};

/// One process's sending end towards the other process.
class Sender {
 public:
  virtual ~Sender() = default;
  /// Sends one whole message (all of `message`). Blocks while the channel is full. Throws on
  /// any failure other than the peer having closed. Must not raise SIGPIPE.
  [[nodiscard]] virtual Transfer send(std::span<const std::byte> message) = 0;
};

/// One process's receiving end from the other process.
class Receiver {
 public:
  virtual ~Receiver() = default;
  /// Receives one whole message of exactly message.size() bytes into `message`. Blocks until
  /// it arrives; a spinning adapter must give up (throw) after RowContext::stall_timeout.
  /// Returns closed at end of stream; throws on any other failure.
  [[nodiscard]] virtual Transfer receive(std::span<std::byte> message) = 0;
};

/// This process's two ends; either may be empty when the mechanism has no such direction.
struct Endpoints {
  std::unique_ptr<Sender> sender{};
  std::unique_ptr<Receiver> receiver{};
};

/// What the engine must know about a mechanism to run it.
struct Capabilities {
  /// Run only this message size (one row), whatever --sizes asks. c2c: a cache line, 64.
  std::optional<std::size_t> fixed_size{};
  /// Whether the one-way throughput phase applies (false: round trips only, throughput null).
  bool throughput = true;
  /// The mechanism busy-waits; on one CPU the two processes would only take turns, so the
  /// engine skips it (with a note) when fewer than two CPUs are allowed.
  bool spins = false;
};

/// A mechanism under test. One object serves every row of its mechanism: setup(), then fork,
/// then open() in each process, then cleanup(). After fork each process has its own copy of
/// the object; open() keeps this side's resources and drops the other side's.
class Mechanism {
 public:
  virtual ~Mechanism() = default;

  /// The name in --only, the table and the JSON ("pipe", "posix-mq", ...).
  [[nodiscard]] virtual std::string_view name() const = 0;
  [[nodiscard]] virtual Capabilities capabilities() const { return {}; }

  /// In the parent, before fork: creates what both processes need (pipes, FIFOs, queues,
  /// mappings). Throws on failure; cleanup() is called anyway.
  virtual void setup(const RowContext& row) = 0;

  /// In each process after fork: opens this side's sender (towards the other process) and
  /// receiver (from it). Both processes call it at about the same time, so an open that
  /// waits for the other side must order its waits so the two cannot deadlock, and bound
  /// them by row.stall_timeout. Releases this process's copies of the other side's
  /// resources (so end of stream and "peer closed" work).
  [[nodiscard]] virtual Endpoints open(Side side, const RowContext& row) = 0;

  /// In the parent, once both processes have opened: names are no longer needed, so an
  /// adapter may unlink them here (then an interrupted run leaves nothing behind).
  virtual void opened() {}

  /// In the parent after the row, also after any failure: releases and removes everything
  /// setup() made. Idempotent; never throws.
  virtual void cleanup() noexcept = 0;
};

}  // namespace ipckit::bench
