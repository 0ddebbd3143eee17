// Runs a shell command for tests of the real binaries: exit status and
// stdout+stderr interleaved.
#ifndef TETHER_TESTS_SUPPORT_RUN_COMMAND_H_
#define TETHER_TESTS_SUPPORT_RUN_COMMAND_H_

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace tether::testing {

struct CommandResult {
  int status = -1;  // exit status, or -1 if it did not exit normally
  std::string output;
};

inline CommandResult RunCommand(const std::string& cmd) {
  CommandResult r;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) {
    r.output.append(buf.data(), n);
  }
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace tether::testing

#endif  // TETHER_TESTS_SUPPORT_RUN_COMMAND_H_
