#include "installer/service.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>

#include "core/base/strings.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "core/proc/process.h"

namespace installer {
namespace {

using core::Errc;

// The host path of a target path, following absolute symlinks inside the root (a link made for
// the target system points at target paths, not at the tree's copy).
std::string resolve(const Plan& plan, std::string path) {
  for (int i = 0; i < 8 && !plan.root.empty(); ++i) {
    char buf[4096];
    ssize_t n = ::readlink(plan.host(path).c_str(), buf, sizeof buf);
    if (n <= 0) break;
    std::string target(buf, n);
    path = target.starts_with('/') ? target : core::dir_name(path) + "/" + target;
  }
  return plan.host(path);
}

std::string file_hash(const std::string& host_path) {
  auto h = core::sha256_file(host_path);
  return h ? *h : "";
}

pid_t running_pid(const Plan& plan) {
  auto text = core::read_file(supervise_pidfile(plan), 64);
  if (!text) return 0;
  auto pid = core::parse_u64(core::trim(*text));
  if (!pid || *pid == 0 || ::kill(static_cast<pid_t>(*pid), 0) != 0) return 0;
  return static_cast<pid_t>(*pid);
}

void stop_supervised(pid_t pid) {
  ::kill(-pid, SIGTERM);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (::kill(pid, 0) == 0) ::kill(-pid, SIGKILL);
}

// An abstract unix datagram socket for the sd_notify protocol (NOTIFY_SOCKET=@name), as
// systemd offers Type=notify services; k3s sends READY=1 once it serves.
core::Result<core::Fd> notify_socket(const std::string& name) {
  core::Fd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return core::fail_errno(errno, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  socklen_t len = offsetof(sockaddr_un, sun_path) + 1 + name.size();
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return core::fail_errno(errno, "bind notify socket @" + name);
  }
  return fd;
}

// Waits for READY=1 on the socket, the process's exit, or the timeout.
core::Result<void> wait_ready(const Plan& plan, pid_t pid, const core::Fd& sock, int timeout_s) {
  core::Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) return core::fail_errno(errno, "pidfd_open");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd fds[2] = {{sock.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
    if (::poll(fds, 2, 200) < 0 && errno != EINTR) return core::fail_errno(errno, "poll");
    if (fds[0].revents & POLLIN) {
      char buf[4096];
      ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
      if (n > 0) {
        for (auto line : core::split(std::string_view(buf, n), '\n')) {
          if (line == "READY=1") return {};
        }
      }
    }
    if (fds[1].revents & POLLIN) {
      return core::failf(Errc::kUnavailable, "k3s exited before it was ready (log {})",
                         supervise_log(plan));
    }
  }
  return core::failf(Errc::kTimeout, "k3s did not report ready within {} s (log {})", timeout_s,
                     supervise_log(plan));
}

// Starts k3s detached (its own session), stdout and stderr appended to the log. With
// Type=notify it must report READY=1 before this returns.
core::Result<pid_t> start_supervised(const Plan& plan, int ready_timeout_s) {
  bool notify = plan.systemd_type == "notify";
  std::string notify_name = fmt::format("k3s-airgap-notify-{}", ::getpid());
  core::Fd sock;
  if (notify) sock = K3A_TRY(notify_socket(notify_name));
  std::string bin = resolve(plan, plan.bin_dir + "/k3s");
  std::string log = supervise_log(plan);
  K3A_CHECK(core::make_dirs(core::dir_name(log)));
  K3A_CHECK(core::make_dirs(core::dir_name(supervise_pidfile(plan))));
  std::vector<std::string> args{bin, plan.command};
  args.insert(args.end(), plan.args.begin(), plan.args.end());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return core::fail_errno(errno, "pipe");
  pid_t child = ::fork();
  if (child < 0) return core::fail_errno(errno, "fork");
  if (child == 0) {
    pid_t daemon = ::fork();
    if (daemon == 0) {
      ::setsid();  // its own session and process group, which stop_supervised() signals
      int null = ::open("/dev/null", O_RDONLY);
      int out = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
      if (null < 0 || out < 0) ::_exit(127);
      ::dup2(null, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      for (const auto& [k, v] : plan.service_env) ::setenv(k.c_str(), v.c_str(), 1);
      if (notify) ::setenv("NOTIFY_SOCKET", ("@" + notify_name).c_str(), 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    (void)!::write(fds[1], &daemon, sizeof daemon);
    ::_exit(0);
  }
  ::close(fds[1]);
  pid_t daemon = -1;
  ssize_t n = ::read(fds[0], &daemon, sizeof daemon);
  ::close(fds[0]);
  ::waitpid(child, nullptr, 0);
  if (n != sizeof daemon || daemon <= 0) return core::fail(Errc::kIo, "could not start " + bin);
  K3A_CHECK(core::write_file_atomic(supervise_pidfile(plan), std::to_string(daemon) + "\n"));
  if (notify) K3A_CHECK(wait_ready(plan, daemon, sock, ready_timeout_s));
  return daemon;
}

}  // namespace

std::string supervise_pidfile(const Plan& plan) {
  return plan.host("/var/run/" + plan.service_name + ".pid");
}
std::string supervise_log(const Plan& plan) {
  return plan.host("/var/log/" + plan.service_name + ".log");
}

core::Result<void> check_supervisor(const Plan& plan, bool supervise) {
  if (plan.init == InitSystem::kNone && !supervise && plan.root.empty() && !plan.skip_enable) {
    return core::fail(Errc::kUnsupported,
                      "Can not find systemd or openrc to use as a process supervisor for k3s "
                      "(--supervise runs k3s in the background instead)");
  }
  return {};
}

std::string service_hash(const Plan& plan) {
  std::string unit =
      plan.init == InitSystem::kOpenrc ? "/etc/init.d/" + plan.service_name : plan.unit_file();
  return file_hash(resolve(plan, plan.bin_dir + "/k3s")) + " " + file_hash(plan.host(unit)) + " " +
         file_hash(plan.host(plan.env_file()));
}

core::Result<bool> enable_and_start(const Plan& plan, const StartOptions& start, bool changed,
                                    Reporter& reporter) {
  bool supervise = start.supervise;
  if (plan.skip_enable) return false;
  bool restart = changed || plan.force_restart;
  if (supervise) {
    if (plan.skip_start) return false;
    pid_t pid = running_pid(plan);
    if (pid && !restart) {
      reporter.info("No change detected so skipping service start");
      return false;
    }
    if (pid) {
      reporter.info(fmt::format("Stopping {} (pid {})", plan.service_name, pid));
      stop_supervised(pid);
    }
    pid = K3A_TRY(start_supervised(plan, start.ready_timeout_s));
    reporter.info(fmt::format("Started {} in the background: pid {} (pidfile {}), log {}",
                              plan.service_name, pid, supervise_pidfile(plan),
                              supervise_log(plan)));
    return true;
  }
  if (!plan.root.empty()) {
    reporter.info(fmt::format("Installed into {}: no service enabled or started there", plan.root));
    return false;
  }
  if (plan.init == InitSystem::kSystemd) {
    if (!core::path_exists("/run/systemd/system")) {
      reporter.warn(
          "systemd is not running on this host: the unit is written but not enabled "
          "or started (--supervise runs k3s in the background instead)");
      return false;
    }
    reporter.info(fmt::format("systemd: Enabling {} unit", plan.service_name));
    K3A_CHECK(run_tool({"systemctl", "enable", plan.unit_file()}));
    K3A_CHECK(run_tool({"systemctl", "daemon-reload"}));
    if (plan.skip_start) return false;
    if (!restart) {
      reporter.info("No change detected so skipping service start");
      return false;
    }
    reporter.info(fmt::format("systemd: Starting {}", plan.service_name));
    K3A_CHECK(run_tool({"systemctl", "restart", plan.service_name}));
    return true;
  }
  reporter.info(fmt::format("openrc: Enabling {} service for default runlevel", plan.service_name));
  K3A_CHECK(run_tool({"rc-update", "add", plan.service_name, "default"}));
  if (plan.skip_start) return false;
  if (!restart) {
    reporter.info("No change detected so skipping service start");
    return false;
  }
  reporter.info(fmt::format("openrc: Starting {}", plan.service_name));
  K3A_CHECK(run_tool({"/etc/init.d/" + plan.service_name, "restart"}));
  return true;
}

core::Result<void> run_tool(const std::vector<std::string>& argv) {
  auto out = K3A_TRY(core::run_command(argv));
  if (out.exit_code != 0) {
    return core::failf(Errc::kIo, "{} failed (exit {}): {}", argv.front(), out.exit_code,
                       core::trim(out.out));
  }
  return {};
}

core::Result<void> run_script(const std::string& path) {
  core::Process p = K3A_TRY(core::Process::start({.argv = {"/bin/sh", path}, .new_group = false}));
  int code = K3A_TRY(p.wait());
  if (code != 0) return core::failf(Errc::kIo, "{} exited with {}", path, code);
  return {};
}

}  // namespace installer
