#include "ipckit/posix_name.hpp"

#include <cerrno>
#include <climits>
#include <string>

#include "sys.hpp"

namespace ipckit {

void validate_posix_name(std::string_view name, std::string_view what) {
  auto bad = [&](const std::string& rule) {
    sys::fail(what, name, EINVAL, rule + "; a valid name looks like \"/orders\"");
  };
  if (name.empty() || name.front() != '/') bad("the name must start with '/'");
  std::string_view rest = name.substr(1);
  if (rest.empty()) bad("the name needs at least one character after '/'");
  if (rest.find('/') != std::string_view::npos) bad("the name may hold no '/' after the first");
  if (rest.size() > NAME_MAX) bad("the name is longer than NAME_MAX (" + std::to_string(NAME_MAX) + ") after '/'");
  if (rest == "." || rest == "..") bad("\".\" and \"..\" are not names");
  if (rest.find('\0') != std::string_view::npos) bad("the name holds a NUL byte");
}

}  // namespace ipckit
