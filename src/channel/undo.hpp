#pragma once

#include <exception>
#include <utility>

namespace ipckit::detail {

/// Runs `undo` when destroyed unless done() was called: what a listen() made (a queue, a
/// segment) is removed again when a later step of it fails. An exception from `undo` is
/// swallowed: the first error is the one to report.
template <class F>
class UndoUnlessDone {
 public:
  explicit UndoUnlessDone(F undo) : undo_(std::move(undo)) {}
  UndoUnlessDone(const UndoUnlessDone&) = delete;
  UndoUnlessDone& operator=(const UndoUnlessDone&) = delete;
  ~UndoUnlessDone() {
    if (done_) return;
    try {
      undo_();
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): see above
    }
  }
  void done() noexcept { done_ = true; }

 private:
  F undo_;
  bool done_ = false;
};

}  // namespace ipckit::detail
