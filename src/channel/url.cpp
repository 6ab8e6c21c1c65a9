#include "url.hpp"

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <string>
#include <sys/un.h>
#include <utility>

#include "../sys.hpp"
#include "ipckit/channel.hpp"

namespace ipckit {

namespace {

constexpr ChannelUrlForm kForms[] = {
    {"unix:///ABS/PATH[?users=any]", "unix:///tmp/app.sock", "Unix stream socket at a path (recv creates the file)"},
    {"unix://@NAME[?users=any]", "unix://@app", "Unix stream socket, abstract name (no file)"},
    {"tcp://HOST:PORT", "tcp://127.0.0.1:7000", "TCP, the way past one host (port 0: the kernel picks)"},
    {"fifo:///ABS/PATH", "fifo:///tmp/app.fifo", "a named pipe (an absolute path)"},
    {"mq:///NAME", "mq:///app", "a POSIX message queue (three slashes: the queue is /app)"},
    {"sysv-msg://0xKEY", "sysv-msg://0x162e", "a System V message queue (the key in hex)"},
    {"shm://NAME[?capacity=BYTES&senders=N]", "shm://app?capacity=1048576",
     "shared memory, a ring per sender (/dev/shm/ipckit-ch-NAME)"},
    {"shm://@NAME[?capacity=BYTES&senders=N]", "shm://@app", "the same in a memfd: nothing in /dev/shm"},
};

}  // namespace

std::span<const ChannelUrlForm> channel_url_forms() noexcept { return kForms; }

}  // namespace ipckit

namespace ipckit::detail {
namespace {

// "a channel URL is one of fifo:///ABS/PATH, ...": the patterns of channel_url_forms().
std::string all_forms() {
  std::string text = "a channel URL is one of ";
  for (const ChannelUrlForm& f : channel_url_forms()) {
    if (&f != channel_url_forms().data()) text += ", ";
    text += f.pattern;
  }
  return text;
}

[[noreturn]] void bad(std::string_view url, std::string hint) {
  sys::fail("channel URL", url, EINVAL, std::move(hint));
}

// An abstract Unix socket name holds at most this many bytes (sun_path less its leading NUL).
constexpr std::size_t kMaxSocketName = sizeof(sockaddr_un::sun_path) - 1;

// Names longer than what their kernel object takes are URL mistakes, found before anything
// is made: `what` says which name, `limit` its longest length, `why` the object that limits it.
void check_length(std::string_view url, std::string_view name, std::size_t limit, std::string_view what,
                  std::string_view why) {
  if (name.size() <= limit) return;
  bad(url, std::string(what) + " has " + std::to_string(name.size()) + " bytes; at most " + std::to_string(limit) +
               " fit (" + std::string(why) + ")");
}

// Parses all of `text` as an unsigned number in `base`; false on anything else.
template <class T>
bool parse_number(std::string_view text, T& out, int base = 10) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc{} && end == text.data() + text.size();
}

ChannelUrl parse_path_scheme(std::string_view url, std::string_view rest, ChannelUrl::Scheme scheme,
                             std::string_view example) {
  ChannelUrl u;
  u.scheme = scheme;
  if (rest.empty() || rest.front() != '/') {
    bad(url, "the path must be absolute, after the two slashes of the scheme: " + std::string(example));
  }
  if (rest.find('\0') != std::string_view::npos) bad(url, "the path holds a NUL byte");
  if (scheme == ChannelUrl::Scheme::unix_socket)
    check_length(url, rest, kMaxSocketName, "the socket path", "a Unix socket address holds 107 bytes");
  else
    check_length(url, rest, PATH_MAX - 1, "the path", "PATH_MAX");
  u.name = std::string(rest);
  return u;
}

// unix:///PATH or unix://@NAME, each with ?users=any.
ChannelUrl parse_unix(std::string_view url, std::string_view rest) {
  ChannelUrl u;
  // One parameter: users=any takes peers of any user (the default is this user only).
  bool any_user = false;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    if (rest.substr(q + 1) != "users=any") {
      bad(url, "the one parameter of unix:// is users=any (take peers of any user; without it, only this "
               "user's): unix://@app?users=any");
    }
    any_user = true;
    rest = rest.substr(0, q);
  }
  if (!rest.empty() && rest.front() == '@') {
    if (rest.size() == 1) bad(url, "the abstract name is empty: unix://@app");
    check_length(url, rest.substr(1), kMaxSocketName, "the abstract name", "a Unix socket address holds 107 bytes");
    u.scheme = ChannelUrl::Scheme::unix_socket;
    u.name = std::string(rest);
  } else {
    u = parse_path_scheme(url, rest, ChannelUrl::Scheme::unix_socket,
                          "unix:///run/app.sock (a path) or unix://@app (an abstract name)");
  }
  u.any_user = any_user;
  return u;
}

// mq:///NAME.
ChannelUrl parse_mq(std::string_view url, std::string_view rest) {
  ChannelUrl u;
  constexpr std::string_view kExample = "mq:///app (three slashes: the queue is /app)";
  if (rest.size() < 2 || rest.front() != '/') bad(url, std::string("the queue name is missing: ") + std::string(kExample));
  if (rest.find('/', 1) != std::string_view::npos) {
    bad(url, std::string("a queue name has one slash, at its start: ") + std::string(kExample));
  }
  if (rest == "/." || rest == "/..") bad(url, std::string("\".\" and \"..\" are not queue names: ") + std::string(kExample));
  // The liveness socket "@ipckit/mq/NAME" must fit a Unix socket address.
  check_length(url, rest.substr(1), kMaxSocketName - std::string_view("ipckit/mq/").size(), "the queue name",
               "its liveness socket @ipckit/mq/NAME must fit a Unix socket address");
  u.scheme = ChannelUrl::Scheme::mq;
  u.name = std::string(rest);
  return u;
}

// sysv-msg://0xKEY.
ChannelUrl parse_sysv(std::string_view url, std::string_view rest) {
  ChannelUrl u;
  constexpr std::string_view kExample = "sysv-msg://0x162e (a key in hex, as ipcs shows it)";
  std::string_view hex = rest;
  if (hex.size() < 3 || (hex.substr(0, 2) != "0x" && hex.substr(0, 2) != "0X")) {
    bad(url, std::string("the key must be hexadecimal with 0x: ") + std::string(kExample));
  }
  unsigned int key = 0;
  if (!parse_number(hex.substr(2), key, 16)) bad(url, std::string("the key is not a 32-bit hex number: ") + std::string(kExample));
  if (key == 0) bad(url, "key 0x0 is IPC_PRIVATE, which no other process can find: pick another key, e.g. sysv-msg://0x162e");
  u.scheme = ChannelUrl::Scheme::sysv_msg;
  u.key = static_cast<key_t>(key);
  return u;
}

// tcp://HOST:PORT, tcp://[V6]:PORT.
ChannelUrl parse_tcp(std::string_view url, std::string_view rest) {
  ChannelUrl u;
  constexpr std::string_view kExample = "tcp://127.0.0.1:7000, tcp://[::1]:7000 or tcp://host.example:7000";
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) bad(url, std::string("an IPv6 address needs its closing bracket: ") + std::string(kExample));
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (after.empty() || after.front() != ':') bad(url, std::string("the port is missing: ") + std::string(kExample));
    port = after.substr(1);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) bad(url, std::string("the port is missing: ") + std::string(kExample));
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      bad(url, std::string("an IPv6 address goes in brackets: ") + std::string(kExample));
    }
  }
  if (host.empty()) bad(url, std::string("the host is missing: ") + std::string(kExample));
  if (port.empty()) bad(url, std::string("the port is missing: ") + std::string(kExample));
  unsigned int number = 0;
  if (!parse_number(port, number) || number > 65535) {
    bad(url, std::string("the port must be a number from 0 to 65535: ") + std::string(kExample));
  }
  u.scheme = ChannelUrl::Scheme::tcp;
  u.host = std::string(host);
  u.port = static_cast<std::uint16_t>(number);
  return u;
}

// shm://'s parameters, '&'-separated: capacity=BYTES (each sender's ring), senders=N (at once).
void parse_shm_parameters(std::string_view url, std::string_view query, std::string_view example, ChannelUrl& u) {
  const std::string kParameters = std::string("the parameters are capacity=BYTES and senders=N: ") +
                                  std::string(example) + "&senders=8";
  bool capacity_given = false;
  bool senders_given = false;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view one = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    constexpr std::string_view kCapacity = "capacity=";
    constexpr std::string_view kSenders = "senders=";
    if (one.substr(0, kCapacity.size()) == kCapacity) {
      if (std::exchange(capacity_given, true)) bad(url, "capacity is given twice; give it once: " + kParameters);
      if (!parse_number(one.substr(kCapacity.size()), u.capacity) || u.capacity == 0) bad(url, kParameters);
    } else if (one.substr(0, kSenders.size()) == kSenders) {
      if (std::exchange(senders_given, true)) bad(url, "senders is given twice; give it once: " + kParameters);
      if (!parse_number(one.substr(kSenders.size()), u.senders) || u.senders == 0) bad(url, kParameters);
    } else {
      bad(url, kParameters);
    }
  }
}

// shm://NAME or shm://@NAME, each with ?capacity=BYTES&senders=N.
ChannelUrl parse_shm(std::string_view url, std::string_view rest) {
  ChannelUrl u;
  constexpr std::string_view kExample = "shm://app?capacity=1048576";
  std::string_view name = rest;
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    name = rest.substr(0, q);
    query = rest.substr(q + 1);
  }
  if (name.empty() || name.find('/') != std::string_view::npos) {
    bad(url, std::string("the name is one word without slashes: ") + std::string(kExample));
  }
  if (name == "@") bad(url, "the name after @ is missing: shm://@app (a memfd channel)");
  if (name.front() == '@') {
    check_length(url, name.substr(1), kMaxSocketName - std::string_view("ipckit/shm/").size(), "the memfd channel's name",
                 "its socket @ipckit/shm/NAME must fit a Unix socket address");
  } else {
    check_length(url, name, NAME_MAX - std::string_view("ipckit-ch-").size(), "the name",
                 "its segment /dev/shm/ipckit-ch-NAME is one file name of at most NAME_MAX bytes");
  }
  u.scheme = ChannelUrl::Scheme::shm;
  u.name = std::string(name);
  parse_shm_parameters(url, query, kExample, u);
  return u;
}

}  // namespace

ChannelUrl parse_channel_url(std::string_view url) {
  if (url.find('\0') != std::string_view::npos) bad(url, "the URL holds a NUL byte");
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) bad(url, "no scheme; " + all_forms());
  const std::string_view scheme = url.substr(0, sep);
  const std::string_view rest = url.substr(sep + 3);
  if (scheme == "fifo") return parse_path_scheme(url, rest, ChannelUrl::Scheme::fifo, "fifo:///run/app/in");
  if (scheme == "unix") return parse_unix(url, rest);
  if (scheme == "mq") return parse_mq(url, rest);
  if (scheme == "sysv-msg") return parse_sysv(url, rest);
  if (scheme == "tcp") return parse_tcp(url, rest);
  if (scheme == "shm") return parse_shm(url, rest);
  bad(url, "unknown scheme \"" + std::string(scheme) + "\"; " + all_forms());
}

std::string ChannelUrl::to_string() const {
  switch (scheme) {
    case Scheme::fifo:
      return "fifo://" + name;
    case Scheme::unix_socket:
      return "unix://" + name + (any_user ? "?users=any" : "");
    case Scheme::tcp:
      if (host.find(':') != std::string::npos) return "tcp://[" + host + "]:" + std::to_string(port);
      return "tcp://" + host + ":" + std::to_string(port);
    case Scheme::mq:
      return "mq://" + name;
    case Scheme::sysv_msg: {
      char text[16];
      std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned int>(key));
      return std::string("sysv-msg://") + text;
    }
    case Scheme::shm:
    {
      std::string query;
      if (capacity != 0) query += "capacity=" + std::to_string(capacity);
      if (senders != 0) query += (query.empty() ? "" : "&") + std::string("senders=") + std::to_string(senders);
      return "shm://" + name + (query.empty() ? "" : "?" + query);
    }
  }
  return {};
}

}  // namespace ipckit::detail
