// The seed's first picture: `ls | wc -l`. Two processes; ls's stdout (fd 1) is joined to
// wc's stdin (fd 0) by an anonymous pipe, a one-way byte stream in the kernel.
//
//   pipe [DIR]          runs ls | wc -l with ipckit::Pipeline and prints what the shell prints
//   pipe --fork [DIR]   the same by hand: ipckit::Pipe, fork, dup2, exec, waitpid
//
// Both print exactly what `ls DIR | wc -l` prints.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/pipe.hpp"
#include "ipckit/process.hpp"

namespace {

// The library way: describe the chain, run it, read what the last stage printed.
int count_with_pipeline(const std::vector<std::string>& ls) {
  ipckit::PipelineResult result = ipckit::Pipeline{ls, {"wc", "-l"}}.run();
  std::cout << result.output << std::flush;
  if (!result.success()) {
    // `ls missing-dir | wc -l` prints 0 and ls complains on stderr; say which stage failed.
    try {
      result.check();
    } catch (const ipckit::Error& e) {
      std::cerr << "pipe: " << e.what() << '\n';
    }
    return 1;
  }
  return 0;
}

// Runs argv in a child whose descriptor `target` (0 or 1) is `end`. Between fork and exec
// the child calls only async-signal-safe functions (dup2, execvp, _exit).
pid_t start(const std::vector<std::string>& args, const ipckit::Fd& end, int target) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // dup2 gives the copy on fd 0/1 no close-on-exec flag, so the program keeps it; every
    // other descriptor ipckit opened is close-on-exec and disappears at exec.
    if (::dup2(end.get(), target) == -1) ::_exit(126);
    ::execvp(argv[0], argv.data());
    ::_exit(127);  // exec failed: the shell's "command not found" code
  }
  return pid;
}

// The classic way, as a shell does it. The pipe is made before fork so both children inherit
// it (an anonymous pipe joins only related processes).
int count_with_fork(const std::vector<std::string>& ls) {
  ipckit::Pipe p = ipckit::Pipe::create();
  std::cout.flush();  // nothing buffered may be written twice by the children
  pid_t writer = start(ls, p.write_end, 1);
  pid_t reader = start({"wc", "-l"}, p.read_end, 0);
  // The parent must close both ends: wc sees end of stream only when every write end is
  // closed, including ours.
  p.read_end.reset();
  p.write_end.reset();
  int ok = 0;
  for (pid_t pid : {writer, reader}) {
    int status = 0;
    if (pid == -1 || ::waitpid(pid, &status, 0) == -1) {
      std::perror("pipe: fork or waitpid");
      ok = 1;
      continue;
    }
    ipckit::ExitStatus how = ipckit::ExitStatus::from_wait_status(status);
    if (!how.success()) {
      std::cerr << "pipe: " << (pid == writer ? "ls" : "wc") << ' ' << how.to_string() << '\n';
      ok = 1;
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  bool by_hand = !args.empty() && args.front() == "--fork";
  if (by_hand) args.erase(args.begin());
  if (args.size() > 1 || (!args.empty() && args.front().starts_with("-"))) {
    std::cerr << "usage: pipe [--fork] [DIR]\n";
    return 2;
  }
  std::vector<std::string> ls{"ls"};
  if (!args.empty()) ls.emplace_back(args.front());

  try {
    return by_hand ? count_with_fork(ls) : count_with_pipeline(ls);
  } catch (const ipckit::Error& e) {
    // A set-up failure: no pipe (out of descriptors), a program that cannot start...
    std::cerr << "pipe: " << e.what() << '\n';
    return 1;
  }
}
