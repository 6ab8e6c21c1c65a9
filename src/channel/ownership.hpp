#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

// Private: who may own what a channel adopts. A listener creates its queue or FIFO 0600 with
// O_EXCL; when the name is taken it uses what is there (queues are durable by design), and a
// sender opens what the listener made. Either way the object must be this process's user's
// and closed to everyone else, or another local user who made it first (mode 0666) would
// read the messages meant for the listener. shm:// checks its segment the same way.

namespace ipckit::detail {

/// What an object's owner and mode are, as the kernel reports them.
struct ObjectOwnership {
  uid_t owner = 0;    ///< st_uid, or msg_perm.uid
  uid_t creator = 0;  ///< msg_perm.cuid (System V: the creator keeps owner rights); st_uid for files
  mode_t mode = 0;    ///< permission bits
};

/// Throws Error (EACCES) unless the object is this process's effective user's (owner and
/// creator) and neither group nor others may read or write it. The message names the object
/// (`noun`, `object`), its owner and mode, the channel, and `fix` (how to get rid of it).
void require_private(std::string_view step, std::string_view object, std::string_view noun,
                     const ObjectOwnership& found, const std::string& url, std::string_view fix);

/// The same for an open descriptor of a file-backed object (a FIFO, a POSIX queue): fstat.
void require_private_fd(int fd, std::string_view step, std::string_view object,
                        std::string_view noun, const std::string& url, std::string_view fix);

/// Reports refused peers (another user's connections) at most once a second, so that a flood
/// of them cannot flood the listener's log: the first is said at once, the rest are counted and
/// the count goes with the next one said.
class RefusalLog {
 public:
  /// Whether to say this refusal now. `unsaid` gets how many were refused without a word
  /// since the last one said.
  [[nodiscard]] bool say_now(std::uint64_t& unsaid);

 private:
  std::chrono::steady_clock::time_point next_{};
  std::uint64_t unsaid_ = 0;
};

/// " (and N more refused since without a word)", or nothing for 0.
[[nodiscard]] std::string unsaid_text(std::uint64_t unsaid);

}  // namespace ipckit::detail
