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
  if (found.owner != me) {
    why = std::string(noun) + " belongs to " + sys::user_text(found.owner) + " (mode " +
          sys::mode_text(found.mode) + "), not to this process's user (" + sys::user_text(me) +
          ")";
  } else if (found.creator != me) {
    why = std::string(noun) + " was made by " + sys::user_text(found.creator) +
          ", who keeps owner rights over it though it was given to this process's user (" +
          sys::user_text(me) + ")";
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

bool RefusalLog::say_now(std::uint64_t& unsaid) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) {
    ++unsaid_;
    return false;
  }
  next_ = now + std::chrono::seconds(1);
  unsaid = unsaid_;
  unsaid_ = 0;
  return true;
}

std::string unsaid_text(std::uint64_t unsaid) {
  return unsaid == 0 ? std::string{} : " (and " + std::to_string(unsaid) + " more refused since without a word)";
}

}  // namespace ipckit::detail
