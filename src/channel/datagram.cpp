// mq:// and sysv-msg:// transports (one message per datagram). Not implemented yet: every
// call throws ENOSYS until they land (issue 5).
#include <cerrno>

#include "../sys.hpp"
#include "transport.hpp"

namespace ipckit::detail {

TransportPtr listen_mq(const ChannelUrl& url, const ChannelOptions&) { sys::fail("listen", url.to_string(), ENOSYS); }
TransportPtr connect_mq(const ChannelUrl& url, const ChannelOptions&, Deadline) { sys::fail("connect", url.to_string(), ENOSYS); }
TransportPtr listen_sysv_msg(const ChannelUrl& url, const ChannelOptions&) { sys::fail("listen", url.to_string(), ENOSYS); }
TransportPtr connect_sysv_msg(const ChannelUrl& url, const ChannelOptions&, Deadline) { sys::fail("connect", url.to_string(), ENOSYS); }

}  // namespace ipckit::detail
