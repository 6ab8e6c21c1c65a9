#pragma once

#include <span>
#include <string>
#include <utility>

#include "adapter.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fd.hpp"

// Sender and Receiver over a byte-stream descriptor (pipe, FIFO, stream socket): a message
// is exactly message.size() bytes, written with Fd::write_all and read with Fd::read_exact,
// so boundaries come from the fixed size of the row. Blocking descriptors, no deadline: the
// calls go straight to write(2) and read(2), which is what the bench means to measure.
//
//   Endpoints ends;
//   ends.sender = std::make_unique<FdSender>(std::move(pipe.write_end), "pipe to child");
//   ends.receiver = std::make_unique<FdReceiver>(std::move(other.read_end), "pipe from child");

namespace ipckit::bench {

class FdSender final : public Sender {
 public:
  /// `what` names the stream in error messages ("fifo /tmp/.../to-child").
  FdSender(Fd fd, std::string what) noexcept : fd_(std::move(fd)), what_(std::move(what)) {}

  /// write_all of the whole message; peer_closed (EPIPE, no SIGPIPE) becomes closed.
  Transfer send(std::span<const std::byte> message) override {
    const IoResult r = fd_.write_all(message);
    if (r.ok()) return Transfer::ok;
    if (r.status == IoStatus::peer_closed) return Transfer::closed;
    throw Error{
        "write", what_, 0,
        std::string("stopped after ") + std::to_string(r.bytes) + " bytes: " + to_string(r.status)};
  }

 private:
  Fd fd_;
  std::string what_;
};

class FdReceiver final : public Receiver {
 public:
  FdReceiver(Fd fd, std::string what) noexcept : fd_(std::move(fd)), what_(std::move(what)) {}

  /// read_exact of the whole message; end of stream before its first byte becomes closed, a
  /// stream that ends part-way is an Error from Fd.
  Transfer receive(std::span<std::byte> message) override {
    const IoResult r = fd_.read_exact(message);
    if (r.ok()) return Transfer::ok;
    if (r.status == IoStatus::end_of_stream) return Transfer::closed;
    throw Error{
        "read", what_, 0,
        std::string("stopped after ") + std::to_string(r.bytes) + " bytes: " + to_string(r.status)};
  }

 private:
  Fd fd_;
  std::string what_;
};

}  // namespace ipckit::bench
