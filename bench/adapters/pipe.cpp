// `pipe`: two anonymous pipes (ipckit::Pipe), one per direction, made before fork. Each
// process keeps the write end towards the other and the read end from it, and closes the
// rest, so either side sees end of stream (or "peer closed") when the other goes away.

#include <memory>
#include <utility>

#include "adapter.hpp"
#include "adapters/byte_stream.hpp"
#include "ipckit/pipe.hpp"

namespace ipckit::bench {
namespace {

class PipeMechanism final : public Mechanism {
 public:
  [[nodiscard]] std::string_view name() const override { return "pipe"; }

  void setup(const RowContext& /*row*/) override {
    to_child_ = Pipe::create();
    to_parent_ = Pipe::create();
  }

  [[nodiscard]] Endpoints open(Side side, const RowContext& /*row*/) override {
    Pipe& outgoing = side == Side::parent ? to_child_ : to_parent_;
    Pipe& incoming = side == Side::parent ? to_parent_ : to_child_;
    Endpoints ends;
    ends.sender = std::make_unique<FdSender>(std::move(outgoing.write_end), "pipe");
    ends.receiver = std::make_unique<FdReceiver>(std::move(incoming.read_end), "pipe");
    cleanup();  // the other side's ends: closed here, so end of stream can happen
    return ends;
  }

  void cleanup() noexcept override {
    to_child_ = {};
    to_parent_ = {};
  }

 private:
  Pipe to_child_;
  Pipe to_parent_;
};

}  // namespace

std::unique_ptr<Mechanism> make_pipe_mechanism() {
  return std::make_unique<PipeMechanism>();
}

}  // namespace ipckit::bench
