// A user's program built against the installed ipckit package.
#include <ipckit/pipe.hpp>

#include <array>
#include <cstdio>
#include <span>

int main() {
  auto p = ipckit::Pipe::create();
  const char msg[] = "installed";
  if (!p.write_end.write_all(std::as_bytes(std::span{msg})).ok()) return 1;
  std::array<std::byte, sizeof msg> buf{};
  if (!p.read_end.read_exact(buf).ok()) return 1;
  std::printf("%s\n", reinterpret_cast<const char*>(buf.data()));
  return 0;
}
