#pragma once

#include <string>
#include <string_view>
#include <system_error>

// ipckit::Error: the one exception type of ipckit. It is a std::system_error that also keeps
// the syscall that failed, the object it failed on and a hint that says what to do, so the
// message alone tells a user what went wrong:
//
//   try {
//     auto w = ipckit::open_fifo_writer("/run/app/in", ipckit::Deadline::after(1s));
//   } catch (const ipckit::Error& e) {
//     // open("/run/app/in"): No such device or address (ENXIO): no reader opened the FIFO ...
//     std::cerr << e.what() << '\n';
//   }

namespace ipckit {

/// A failed set-up step: `syscall("object"): text (ENAME): hint`.
/// `errnum` is the errno the kernel gave; 0 means the failure was found by ipckit itself
/// (a bad argument, a child that failed) and the message then is `syscall("object"): hint`.
class Error : public std::system_error {
 public:
  Error(std::string syscall, std::string object, int errnum, std::string hint = {});

  /// The syscall or library step that failed, e.g. "open" or "fcntl(F_SETPIPE_SZ)".
  [[nodiscard]] const std::string& syscall() const noexcept { return syscall_; }
  /// The object it failed on: a path, a name, "pipe", a program.
  [[nodiscard]] const std::string& object() const noexcept { return object_; }
  /// What to do about it; may be empty.
  [[nodiscard]] const std::string& hint() const noexcept { return hint_; }
  /// The errno value, or 0 when ipckit itself found the problem.
  [[nodiscard]] int errnum() const noexcept { return code().value(); }
  [[nodiscard]] const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string syscall_;
  std::string object_;
  std::string hint_;
  std::string message_;
};

/// The symbolic name of an errno value ("EACCES"), or "E?<n>" when it has none.
/// Async-signal-safe for known values.
[[nodiscard]] std::string errno_name(int errnum);

}  // namespace ipckit
