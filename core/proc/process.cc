#include "core/proc/process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/fs/fd.h"

namespace core {
namespace {

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::vector<std::string> build_env(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : extra) all[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : all) out.push_back(k + "=" + v);
  return out;
}

// Forks and execs; out_fd (if >= 0) becomes stdout and stderr. Returns the pid.
Result<pid_t> spawn(const ProcessOptions& o, int out_fd) {
  if (o.argv.empty()) return fail(Errc::kInvalid, "empty command");
  std::vector<std::string> env = build_env(o.env);
  std::vector<char*> argv, envp;
  for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return fail_errno(errno, "fork");
  if (pid == 0) {
    if (o.new_group) ::setpgid(0, 0);
    // The parent may have died between fork and prctl: then nobody would kill the child.
    if (o.die_with_parent && (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent))
      _exit(127);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, STDIN_FILENO);
    if (out_fd >= 0) {
      ::dup2(out_fd, STDOUT_FILENO);
      ::dup2(out_fd, STDERR_FILENO);
    }
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) _exit(127);
    // Nothing of the parent's leaks into the child: no descriptors (listening sockets would
    // outlive the parent in a daemon and its children), no blocked signals.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvpe(argv[0], argv.data(), envp.data());
    int e = errno;
    ssize_t ignored = ::write(err_pipe[1], &e, sizeof e);
    (void)ignored;
    _exit(127);
  }
  ::close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n = ::read(err_pipe[0], &child_errno, sizeof child_errno);
  ::close(err_pipe[0]);
  if (n == sizeof child_errno) {
    ::waitpid(pid, nullptr, 0);
    return fail_errno(child_errno, "exec " + o.argv[0]);
  }
  return pid;
}

}  // namespace

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    stop();
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() { stop(); }

Result<Process> Process::start(const ProcessOptions& options) {
  Fd log;
  if (!options.log_file.empty()) {
    log = K3A_TRY(Fd::open(options.log_file, O_WRONLY | O_CREAT | O_APPEND, 0644));
  }
  pid_t pid = K3A_TRY(spawn(options, log.valid() ? log.get() : -1));
  return Process(pid);
}

std::optional<int> Process::poll() {
  if (pid_ < 0) return std::nullopt;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return decode_status(status);
  }
  return std::nullopt;
}

Result<int> Process::wait() {
  if (pid_ < 0) return fail(Errc::kInvalid, "no child to wait for");
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) return fail_errno(errno, "waitpid");
  }
  pid_ = -1;
  return decode_status(status);
}

void Process::stop(std::chrono::milliseconds grace) {
  if (pid_ < 0) return;
  ::kill(-pid_, SIGTERM);
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (pid_ >= 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    (void)wait();
  }
}

Result<ProcessOutput> run_command(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail_errno(errno, "pipe");
  Fd read_end(fds[0]), write_end(fds[1]);
  ProcessOptions o{argv, env, "", "", false};
  auto pid = spawn(o, write_end.get());
  (void)write_end.close();
  if (!pid) return std::unexpected(pid.error());
  ProcessOutput result;
  char buf[65536];
  while (true) {
    auto n = read_end.read_some(buf, sizeof buf);
    if (!n || *n == 0) break;
    result.out.append(buf, *n);
  }
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_status(status);
  return result;
}

void exit_after(std::chrono::milliseconds grace) {
  static std::once_flag once;
  std::call_once(once, [grace] {
    std::thread([grace] {
      std::this_thread::sleep_for(grace);
      std::fprintf(stderr, "shutdown still running after %lld ms: exiting\n",
                   static_cast<long long>(grace.count()));
      std::_Exit(0);
    }).detach();
  });
}

}  // namespace core
