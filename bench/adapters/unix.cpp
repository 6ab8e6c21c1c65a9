// `unix`: one Unix-domain stream connection used both ways (see connected_socket.hpp for why
// one and not one per direction). setup() binds a UnixListener on an abstract name unique to
// this process and row (@ipckit-bench-<pid>-<n>: no file, so nothing can be left behind),
// connects to it with Socket::connect_unix, accepts, and closes the listener, which frees
// the name at once. The parent keeps the connecting end, the child the accepted one.

#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

#include "adapters/connected_socket.hpp"
#include "ipckit/deadline.hpp"
#include "ipckit/socket.hpp"

namespace ipckit::bench {
namespace {

class UnixMechanism final : public ConnectedSocketMechanism {
 public:
  [[nodiscard]] std::string_view name() const override { return "unix"; }

 protected:
  [[nodiscard]] SocketPair connect_pair(const RowContext& row) override {
    static std::atomic<unsigned> counter{0};
    const UnixAddress address = UnixAddress::abstract("ipckit-bench-" + std::to_string(::getpid()) +
                                                      "-" + std::to_string(counter++));
    const UnixListener listener = UnixListener::bind({.address = address});
    SocketPair pair;
    // A Unix connect completes as soon as the listener's backlog takes it, before accept.
    pair.parent_end =
        Socket::connect_unix(address, SocketType::stream, Deadline::after(row.stall_timeout));
    pair.child_end = accept_one(listener, row, address.to_string());
    return pair;  // the listener closes here: the abstract name is free again
  }
};

}  // namespace

std::unique_ptr<Mechanism> make_unix_mechanism() {
  return std::make_unique<UnixMechanism>();
}

}  // namespace ipckit::bench
