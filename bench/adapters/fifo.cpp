// `fifo`: two named pipes, one per direction, made with ipckit::create_fifo in a private
// folder /tmp/ipckit-bench-<pid>-<n>/ (mode 0700) and opened after fork with
// ipckit::open_fifo_reader / open_fifo_writer. The names are removed as soon as both sides
// have them open (opened()), and again, with the folder, in cleanup() after any failure.
//
// Opening order, the same in both processes: first this side's read end without waiting
// (O_NONBLOCK, which succeeds at once), then the write end towards the other side with a
// deadline (it succeeds once the other side's read end is open). Neither side can wait for
// the other's second step, so the two cannot deadlock, and a dead peer is a timeout.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>

#include "adapter.hpp"
#include "adapters/byte_stream.hpp"
#include "ipckit/deadline.hpp"
#include "ipckit/error.hpp"
#include "ipckit/fifo.hpp"

namespace ipckit::bench {
namespace {

namespace fs = std::filesystem;

// A new folder only this user can enter; its name is unique within this process and, with
// the pid, across processes. Retries when a folder of a dead process with our pid is there.
fs::path make_private_dir() {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path dir = fs::path("/tmp") /
                   ("ipckit-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    if (::mkdir(dir.c_str(), 0700) == 0) return dir;
    if (errno != EEXIST) throw Error{"mkdir", dir.string(), errno};
  }
  throw Error{"mkdir", "/tmp/ipckit-bench-*", EEXIST,
              "100 folders of this name are taken; remove stale /tmp/ipckit-bench-* folders"};
}

class FifoMechanism final : public Mechanism {
 public:
  [[nodiscard]] std::string_view name() const override { return "fifo"; }

  void setup(const RowContext& /*row*/) override {
    dir_ = make_private_dir();
    create_fifo({.path = dir_ / "to-child"});
    create_fifo({.path = dir_ / "to-parent"});
  }

  [[nodiscard]] Endpoints open(Side side, const RowContext& row) override {
    const fs::path incoming = dir_ / (side == Side::parent ? "to-parent" : "to-child");
    const fs::path outgoing = dir_ / (side == Side::parent ? "to-child" : "to-parent");
    Fd reader = open_fifo_reader(incoming, Deadline::now());
    reader.set_nonblocking(false);
    Fd writer = open_fifo_writer(outgoing, Deadline::after(row.stall_timeout));
    Endpoints ends;
    ends.sender = std::make_unique<FdSender>(std::move(writer), "fifo " + outgoing.string());
    ends.receiver = std::make_unique<FdReceiver>(std::move(reader), "fifo " + incoming.string());
    return ends;
  }

  void opened() override { remove_names(); }

  void cleanup() noexcept override { remove_names(); }

 private:
  void remove_names() noexcept {
    if (dir_.empty()) return;
    std::error_code ec;
    fs::remove_all(dir_, ec);  // the two FIFOs and the folder; nothing else is in it
    dir_.clear();
  }

  fs::path dir_;
};

}  // namespace

std::unique_ptr<Mechanism> make_fifo_mechanism() {
  return std::make_unique<FifoMechanism>();
}

}  // namespace ipckit::bench
