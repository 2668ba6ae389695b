// Enabling and starting the k3s service the way install.sh does (systemd or OpenRC; restart
// only when the binary, unit or env file changed), or, on hosts without an init system,
// supervising k3s in the background with a pidfile and a log file (--supervise).
#pragma once

#include <string>
#include <vector>

#include "core/base/error.h"
#include "installer/install.h"
#include "installer/plan.h"

namespace installer {

// Upstream's verify_system: with no init system a service cannot be started (unless
// --supervise, a root prefix, or INSTALL_K3S_SKIP_ENABLE).
core::Result<void> check_supervisor(const Plan& plan, bool supervise);
// Hash of what a restart depends on: the k3s binary (through its links), the unit or init
// script, and the env file; "" parts for missing files.
std::string service_hash(const Plan& plan);
struct StartOptions {
  bool supervise = false;
  int ready_timeout_s = 120;  // supervised Type=notify: how long k3s has to send READY=1
};

// Returns whether the service was (re)started. A (re)start that fails — systemctl or the init
// script exits non-zero (for Type=notify, systemd waits for READY=1), or a supervised k3s exits
// or stays silent past the timeout — is an error.
core::Result<bool> enable_and_start(const Plan& plan, const StartOptions& start, bool changed,
                                    Reporter& reporter);
// Host paths of the supervised k3s's pidfile and log.
std::string supervise_pidfile(const Plan& plan);
std::string supervise_log(const Plan& plan);
// Runs a command to completion; kIo naming it, with its output, when it exits non-zero.
core::Result<void> run_tool(const std::vector<std::string>& argv);
// Runs a shell script with the terminal attached; kIo when it exits non-zero.
core::Result<void> run_script(const std::string& path);

}  // namespace installer
