#pragma once

// Busy-waiting: the pause hint a spin-wait loop gives the CPU.
//
//   while (flag.load(std::memory_order_acquire) == 0) ipckit::cpu_relax();

namespace ipckit {

/// Tells the CPU this is a spin-wait loop (x86 PAUSE, arm64 YIELD): saves power and lets an
/// SMT sibling run.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ipckit
