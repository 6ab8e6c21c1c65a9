// `tcp`: one TCP connection over the loopback interface used both ways (see
// connected_socket.hpp for why one and not one per direction). setup() binds a TcpListener
// on 127.0.0.1 port 0 (the kernel picks a free port), connects to it with
// Socket::connect_tcp, accepts, and closes the listener. Both ends have TCP_NODELAY (the
// library sets it), so each message leaves at once instead of waiting for Nagle's timer.
// The parent keeps the connecting end, the child the accepted one.

#include <memory>
#include <string>

#include "adapters/connected_socket.hpp"
#include "ipckit/deadline.hpp"
#include "ipckit/socket.hpp"

namespace ipckit::bench {
namespace {

class TcpMechanism final : public ConnectedSocketMechanism {
 public:
  [[nodiscard]] std::string_view name() const override { return "tcp"; }

 protected:
  [[nodiscard]] SocketPair connect_pair(const RowContext& row) override {
    const TcpListener listener = TcpListener::bind({.host = "127.0.0.1", .port = 0});
    SocketPair pair;
    // On loopback the kernel finishes the handshake from the listener's backlog, so the
    // connect returns before accept is called, in this one thread.
    pair.parent_end =
        Socket::connect_tcp("127.0.0.1", listener.port(), Deadline::after(row.stall_timeout));
    pair.child_end = accept_one(listener, row, "127.0.0.1:" + std::to_string(listener.port()));
    return pair;  // the listener closes here; the connection stays
  }
};

}  // namespace

std::unique_ptr<Mechanism> make_tcp_mechanism() {
  return std::make_unique<TcpMechanism>();
}

}  // namespace ipckit::bench
