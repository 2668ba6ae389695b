// `k3s check-config`: whether this host can run k3s, in the shape of upstream's check-config
// script: the binaries the agent runs (containerd, its runc shim, runc, iptables and the CNI
// plugins), then the kernel facilities, each "ok"/"enabled" or "missing", with a final
// STATUS line. Facilities are read from what the running kernel exposes (namespaces under
// /proc/self/ns, cgroup mounts and controllers, /proc/filesystems, loaded or built-in modules,
// sysctls) and, when found, from its build configuration (/proc/config.gz or
// /boot/config-<release>). All paths are read under `root`, so tests can describe a host.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace k3s::ctl {

struct CheckItem {
  std::string section;  // "Binaries", "Generally Necessary", "Optional"
  std::string name;
  bool ok = false;
  bool required = true;  // a missing optional item is a warning, not a failure
  std::string detail;    // the path found, or why it is missing
};

struct CheckConfigOptions {
  std::string root = "/";
  std::string data_dir = "/var/lib/rancher/k3s";
};

std::vector<CheckItem> check_config(const CheckConfigOptions& options);

// Prints the items and the STATUS line; fails (kUnsupported) when a required item is missing.
core::Result<void> print_check_config(const std::vector<CheckItem>& items, FILE* out);

}  // namespace k3s::ctl
