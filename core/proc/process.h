// Child processes: run to completion capturing output, or start in the background and stop
// later. The composition root and tests use it to drive real peers (registries, containerd).
// A Process object owns its child: destroying it kills (SIGTERM, then SIGKILL) and reaps it.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace core {

struct ProcessOptions {
  std::vector<std::string> argv;
  // Extra variables added to (or replacing in) the parent's environment.
  std::map<std::string, std::string> env;
  std::string cwd;
  // File that receives stdout and stderr; empty keeps the parent's.
  std::string log_file;
  // Runs the child in its own process group so that stop() reaches its children too.
  bool new_group = true;
  // SIGKILL to the child when the thread that started it ends (PR_SET_PDEATHSIG): a daemon
  // whose parent is killed does not outlive it. Start such children from a long-lived thread.
  bool die_with_parent = false;
};

struct ProcessOutput {
  int exit_code = 0;  // 128 + signal when killed by a signal
  std::string out;    // stdout and stderr interleaved
};

class Process {
 public:
  static Result<Process> start(const ProcessOptions& options);
  Process(Process&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  Process& operator=(Process&& other) noexcept;
  ~Process();

  pid_t pid() const { return pid_; }
  // Non-blocking: the exit code if the child has exited.
  std::optional<int> poll();
  // Blocks until the child exits.
  Result<int> wait();
  // SIGTERM, then SIGKILL after the grace period; reaps the child.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

 private:
  explicit Process(pid_t pid) : pid_(pid) {}
  pid_t pid_ = -1;
};

// Runs a command to completion with stdin from /dev/null, capturing stdout and stderr.
Result<ProcessOutput> run_command(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env = {});

// Bounds a graceful shutdown: `grace` after the call, the process exits with status 0 whatever
// is still running (a worker waiting out a pod's grace period, a hung connection), as a Go
// program does when main returns. Call when the shutdown begins; a later call changes nothing.
void exit_after(std::chrono::milliseconds grace);

}  // namespace core
