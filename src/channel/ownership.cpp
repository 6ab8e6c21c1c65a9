// Who may own what a channel adopts (see ownership.hpp).
#include "ownership.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "../sys.hpp"

namespace ipckit::detail {

void require_private(std::string_view step, std::string_view object, std::string_view noun,
                     const ObjectOwnership& found, const std::string& url, std::string_view fix) {
  const uid_t me = ::geteuid();
  std::string why;
  if (found.owner != me || found.creator != me) {
    const uid_t other = found.owner != me ? found.owner : found.creator;
    why = std::string(noun) + " belongs to " + sys::user_text(other) + " (mode " +
          sys::mode_text(found.mode) + "), not to this process's user (" + sys::user_text(me) +
          ")";
  } else if ((found.mode & 0066U) != 0) {
    why = std::string(noun) + " has mode " + sys::mode_text(found.mode) +
          ": other users may read or write it";
  } else {
    return;
  }
  sys::fail(step, object, EACCES,
            why + "; channel " + url +
                " uses only objects of its own user that nobody else may open (0600), so that no "
                "other user can read or forge its messages: refusing it; " +
                std::string(fix));
}

void require_private_fd(int fd, std::string_view step, std::string_view object,
                        std::string_view noun, const std::string& url, std::string_view fix) {
  struct stat st {};
  sys::check(::fstat(fd, &st), "fstat", object);
  require_private(step, object, noun, {st.st_uid, st.st_uid, st.st_mode & 07777U}, url, fix);
}

}  // namespace ipckit::detail
