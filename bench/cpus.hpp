#pragma once

#include <sched.h>

#include <cerrno>
#include <string>
#include <vector>

#include "ipckit/error.hpp"

// The CPUs a bench process may run on, and pinning to one of them: shared by the engine
// (engine.cpp) and the round-trip probe (rtt_probe.cpp).

namespace ipckit::bench {

/// The CPUs this thread is allowed on (sched_getaffinity), ascending; empty when unknown.
[[nodiscard]] inline std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return {};
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

/// Pins the calling thread to `cpu`. Throws Error naming the CPU.
inline void pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof set, &set) != 0) {
    throw Error{"sched_setaffinity", "cpu " + std::to_string(cpu), errno};
  }
}

}  // namespace ipckit::bench
