#include "ipckit/error.hpp"

#include <cstring>
#include <string>

#include "sys.hpp"

namespace ipckit {
namespace {

std::string compose(const std::string& syscall, const std::string& object, int errnum,
                    const std::string& hint) {
  std::string msg = syscall;
  if (!object.empty()) {
    msg.append("(").append(sys::quoted(object)).append(")");
  }
  if (errnum != 0) {
    msg.append(": ");
    msg.append(std::strerror(errnum));  // NOLINT(concurrency-mt-unsafe): glibc's text is static
    msg.append(" (").append(errno_name(errnum)).append(")");
  }
  if (!hint.empty()) msg.append(": ").append(hint);
  return msg;
}

}  // namespace

Error::Error(std::string syscall, std::string object, int errnum, std::string hint)
    : std::system_error(errnum, std::system_category()),
      syscall_(std::move(syscall)),
      object_(std::move(object)),
      hint_(std::move(hint)),
      message_(compose(syscall_, object_, errnum, hint_)) {}

std::string errno_name(int errnum) {
  if (const char* name = strerrorname_np(errnum)) return name;
  return "E?" + std::to_string(errnum);
}

namespace sys {

void fail(std::string_view syscall, std::string_view object, int errnum, std::string hint) {
  throw Error{std::string(syscall), std::string(object), errnum, std::move(hint)};
}

std::string quoted(std::string_view object) {
  std::string out = "\"";
  for (char c : object) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace sys
}  // namespace ipckit
