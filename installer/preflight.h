// Offline checks run before the installer changes anything: architecture, free disk, a default
// route, a usable resolv.conf, cgroups, kernel modules, SELinux policy. Each finding is an
// error (the install stops) or a warning; checks named in `skip` are not run. Reads /proc,
// /sys and files under the plan's root only; never touches the network.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "installer/plan.h"

namespace installer {

struct Finding {
  bool fatal = false;
  std::string check;  // arch, disk, route, resolv, cgroups, modules, selinux
  std::string message;
};

struct PreflightInput {
  std::vector<std::string> bundle_arch;   // empty when installing loose files
  uint64_t needed_bytes = 0;              // payload to be written under the data dir
  bool host_checks = true;                // false when preparing a tree for another host
  bool selinux_policy_in_bundle = false;  // a k3s-selinux RPM will be installed from the bundle
  std::set<std::string> skip;
};

inline constexpr char kMissingPolicy[] =
    "Failed to find the k3s-selinux policy, please install: container-selinux and k3s-selinux "
    "(carry the RPMs in the bundle as artifacts named container-selinux and k3s-selinux; this "
    "installer never downloads them)";

// "enforcing" or "permissive" when SELinux is configured on the target (its
// /etc/selinux/config, and /usr/share/selinux present), else "".
std::string selinux_mode(const Plan& plan);
bool selinux_policy_installed(const Plan& plan);

// The k3s architecture name of this host (ARCH env or uname -m, mapped as upstream does).
core::Result<std::string> host_arch(const std::map<std::string, std::string>& env);
std::vector<Finding> preflight(const Plan& plan, const std::string& arch,
                               const PreflightInput& input);

}  // namespace installer
