// The table of mechanisms. One line per adapter file in bench/adapters/.

#include "registry.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace ipckit::bench {

// Factories, one per adapter file.
std::unique_ptr<Mechanism> make_c2c_mechanism();
std::unique_ptr<Mechanism> make_pipe_mechanism();
std::unique_ptr<Mechanism> make_fifo_mechanism();
std::unique_ptr<Mechanism> make_unix_mechanism();
std::unique_ptr<Mechanism> make_tcp_mechanism();
std::unique_ptr<Mechanism> make_posix_mq_mechanism();
std::unique_ptr<Mechanism> make_sysv_msg_mechanism();
std::unique_ptr<Mechanism> make_shm_mechanism();
std::unique_ptr<Mechanism> make_shm_blocking_mechanism();
std::unique_ptr<Mechanism> make_shm_loan_mechanism();

namespace {

constexpr std::array kRegistry{
    Registration{"c2c",
                 "hardware floor: one cache line bounced between two cores (round trip only)",
                 &make_c2c_mechanism},
    Registration{"pipe", "two anonymous pipes, one per direction", &make_pipe_mechanism},
    Registration{"fifo", "two named pipes in a private folder in /tmp", &make_fifo_mechanism},
    Registration{"unix", "one Unix-domain stream connection (abstract name), used both ways",
                 &make_unix_mechanism},
    Registration{"tcp", "one TCP connection on 127.0.0.1, used both ways", &make_tcp_mechanism},
    Registration{"posix-mq", "two POSIX message queues, one per direction", &make_posix_mq_mechanism},
    Registration{"sysv-msg", "two System V message queues, one per direction", &make_sysv_msg_mechanism},
    Registration{"shm", "ipckit's shm:// channel, one per direction, busy-polling", &make_shm_mechanism},
    Registration{"shm-blocking", "ipckit's shm:// channel, one per direction, sleeping on a futex at once",
                 &make_shm_blocking_mechanism},
    Registration{"shm-loan",
                 "ipckit's shm:// channel, busy-polling, each message loaned and read in place (64 bytes touched)",
                 &make_shm_loan_mechanism},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

const Registration* find(std::string_view name) {
  for (const auto& r : kRegistry) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

[[noreturn]] void unknown(std::string_view name) {
  throw std::invalid_argument("unknown mechanism \"" + std::string(name) +
                              "\"; known mechanisms: " + known_mechanism_names());
}

}  // namespace

std::span<const Registration> registry() {
  return kRegistry;
}

std::string known_mechanism_names() {
  std::string out;
  for (const auto& r : kRegistry) {
    if (!out.empty()) out += ", ";
    out += r.name;
  }
  return out;
}

std::unique_ptr<Mechanism> make_mechanism(std::string_view name) {
  const Registration* r = find(name);
  if (r == nullptr) unknown(name);
  return r->make();
}

std::vector<std::string> parse_mechanism_list(std::string_view list) {
  std::vector<std::string> names;
  while (true) {
    const auto comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    if (item.empty()) {
      throw std::invalid_argument(
          "empty name in the mechanism list; give names separated by "
          "commas, e.g. pipe,fifo (known mechanisms: " +
          known_mechanism_names() + ")");
    }
    if (find(item) == nullptr) unknown(item);
    if (std::find(names.begin(), names.end(), item) == names.end()) names.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return names;
}

std::vector<std::unique_ptr<Mechanism>> select_mechanisms(std::string_view list) {
  std::vector<std::unique_ptr<Mechanism>> out;
  for (const auto& name : parse_mechanism_list(list)) out.push_back(make_mechanism(name));
  return out;
}

std::vector<std::unique_ptr<Mechanism>> all_mechanisms() {
  std::vector<std::unique_ptr<Mechanism>> out;
  out.reserve(kRegistry.size());
  for (const auto& r : kRegistry) out.push_back(r.make());
  return out;
}

}  // namespace ipckit::bench
