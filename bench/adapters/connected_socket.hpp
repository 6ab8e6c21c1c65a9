#pragma once

#include <cerrno>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "adapter.hpp"
#include "adapters/byte_stream.hpp"
#include "ipckit/error.hpp"
#include "ipckit/socket.hpp"

// The common part of the stream-socket mechanisms (`unix`, `tcp`): one connection, made in
// the parent before fork through a listener that is closed again at once, and used in both
// directions. An adapter says only how to make the connection (connect_pair()).
//
// Why one connection rather than one per direction (as pipe does with two pipes): a socket
// is two-way, and a program that asks and answers over a socket does it on one connection,
// so that is what the row should measure. The kernel keeps a separate receive queue for each
// direction of a connection, so the stream phase fills only the child's queue, exactly as
// it would with a second connection. On TCP one connection is also what makes the numbers
// honest: the echo carries the ACK of the ping, as it does for any request and reply; with
// a connection per direction each side would have to send bare ACKs as well, a cost that
// real request/reply traffic does not pay.
//
// After fork each process keeps its own end (the parent the connecting socket, the child
// the accepted one) and closes its copy of the other's, so when one process goes away the
// other reads end of stream and its writes report "peer closed". The end kept is split into
// two descriptors of the same socket (Fd::duplicate), one for the FdSender and one for the
// FdReceiver; both close with the process's Endpoints. Descriptors stay blocking, like the
// pipe's, and a message is one write_all and one read_exact of the row's size.
//
//   class UnixMechanism final : public ConnectedSocketMechanism {
//     std::string_view name() const override { return "unix"; }
//     SocketPair connect_pair(const RowContext& row) override { ...listen, connect, accept... }
//   };

namespace ipckit::bench {

/// Both ends of one connection, as setup() made them.
struct SocketPair {
  std::optional<Socket> parent_end{};  ///< the parent keeps it (the connecting side)
  std::optional<Socket> child_end{};   ///< the child keeps it (the accepted side)
};

class ConnectedSocketMechanism : public Mechanism {
 public:
  void setup(const RowContext& row) override { ends_ = connect_pair(row); }

  [[nodiscard]] Endpoints open(Side side, const RowContext& /*row*/) override {
    std::optional<Socket>& mine = side == Side::parent ? ends_.parent_end : ends_.child_end;
    if (!mine) throw Error{"open", std::string(name()), 0, "setup() made no connection"};
    const std::string what =
        std::string(name()) + " socket to the " + (side == Side::parent ? "child" : "parent");
    Endpoints ends;
    ends.sender = std::make_unique<FdSender>(mine->fd().duplicate(), what);
    ends.receiver = std::make_unique<FdReceiver>(mine->fd().duplicate(), what);
    cleanup();  // this side's original and its copy of the other side's end: closed
    return ends;
  }

  void cleanup() noexcept override { ends_ = {}; }

 protected:
  /// In the parent before fork: a connected pair of sockets. Throws Error.
  [[nodiscard]] virtual SocketPair connect_pair(const RowContext& row) = 0;

  /// The accepted end, or an Error naming `what` when nothing came in the stall timeout.
  template <typename Listener>
  [[nodiscard]] static Socket accept_one(const Listener& listener, const RowContext& row,
                                         const std::string& what) {
    std::optional<Socket> accepted = listener.accept(Deadline::after(row.stall_timeout));
    if (!accepted) {
      throw Error{"accept", what, ETIMEDOUT, "the connection made just before never arrived"};
    }
    return std::move(*accepted);
  }

 private:
  SocketPair ends_;
};

}  // namespace ipckit::bench
