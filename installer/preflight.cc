#include "installer/preflight.h"

#include <fmt/ranges.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include <algorithm>

#include "core/base/strings.h"
#include "core/fs/files.h"

namespace installer {
namespace {

constexpr char kRouteFix[] =
    "k3s needs one to choose the node IP. On a host with no network, add one through a dummy "
    "interface:\n    ip link add dummy0 type dummy && ip link set dummy0 up && "
    "ip addr add 203.0.113.254/31 dev dummy0 && "
    "ip route add default via 203.0.113.255 dev dummy0 metric 1000";

std::string read_or_empty(const std::string& path) {
  auto r = core::read_file(path, 1u << 20);
  return r ? *r : std::string();
}

bool has_default_route() {
  std::string text = read_or_empty("/proc/net/route");
  for (auto line : core::split(text, '\n')) {
    auto f = core::split(line, '\t');
    if (f.size() > 7 && f[1] == "00000000" && core::trim(f[7]) == "00000000") return true;
  }
  std::string text6 = read_or_empty("/proc/net/ipv6_route");
  for (auto line : core::split(text6, '\n')) {
    if (line.starts_with("00000000000000000000000000000000 00 ") &&
        line.find(" lo") == std::string_view::npos) {
      return true;
    }
  }
  return false;
}

bool usable_resolv_conf(const std::string& path) {
  std::string text = read_or_empty(path);
  for (auto line : core::split(text, '\n')) {
    line = core::trim(line);
    if (!line.starts_with("nameserver")) continue;
    auto addr = core::trim(line.substr(10));
    if (!addr.starts_with("127.") && addr != "::1") return true;
  }
  return false;
}

bool memory_cgroup() {
  std::string v2 = read_or_empty("/sys/fs/cgroup/cgroup.controllers");
  if (!v2.empty()) {
    for (auto c : core::split(core::trim(v2), ' ')) {
      if (c == "memory") return true;
    }
    return false;
  }
  std::string text = read_or_empty("/proc/cgroups");
  for (auto line : core::split(text, '\n')) {
    auto f = core::split(line, '\t');
    if (f.size() >= 4 && f[0] == "memory") return core::trim(f[3]) == "1";
  }
  return false;
}

bool module_available(const std::string& name) {
  if (core::path_exists("/sys/module/" + name)) return true;
  utsname u{};
  if (::uname(&u) != 0) return false;
  std::string dir = std::string("/lib/modules/") + u.release;
  std::string builtin = read_or_empty(dir + "/modules.builtin");
  std::string dep = read_or_empty(dir + "/modules.dep");
  return builtin.find("/" + name + ".ko") != std::string::npos ||
         dep.find("/" + name + ".ko") != std::string::npos;
}

// Free bytes on the filesystem that will hold `path` (its nearest existing ancestor).
uint64_t free_bytes(std::string path) {
  while (!path.empty() && !core::path_exists(path)) path = core::dir_name(path);
  struct statvfs st {};
  if (::statvfs(path.empty() ? "/" : path.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

std::string config_selinux_mode(const Plan& plan) {
  std::string text = read_or_empty(plan.host("/etc/selinux/config"));
  for (auto line : core::split(text, '\n')) {
    line = core::trim(line);
    if (line.starts_with("SELINUX=")) return std::string(core::trim(line.substr(8)));
  }
  return "";
}

}  // namespace

std::string selinux_mode(const Plan& plan) {
  std::string mode = config_selinux_mode(plan);
  bool active = (mode == "enforcing" || mode == "permissive") &&
                core::path_exists(plan.host("/usr/share/selinux"));
  return active ? mode : "";
}

bool selinux_policy_installed(const Plan& plan) {
  return core::path_exists(plan.host("/usr/share/selinux/packages/k3s.pp"));
}

core::Result<std::string> host_arch(const std::map<std::string, std::string>& env) {
  std::string m;
  if (auto it = env.find("ARCH"); it != env.end() && !it->second.empty()) {
    m = it->second;
  } else {
    utsname u{};
    if (::uname(&u) != 0) return core::fail_errno(errno, "uname");
    m = u.machine;
  }
  if (m == "amd64" || m == "x86_64") return std::string("amd64");
  if (m == "arm64" || m == "aarch64") return std::string("arm64");
  if (m == "s390x") return std::string("s390x");
  if (m.starts_with("arm")) return std::string("arm");
  return core::failf(core::Errc::kUnsupported, "Unsupported architecture {}", m);
}

std::vector<Finding> preflight(const Plan& plan, const std::string& arch,
                               const PreflightInput& in) {
  std::vector<Finding> out;
  auto run = [&](const char* check) { return !in.skip.count(check); };
  auto add = [&](bool fatal, const char* check, std::string msg) {
    out.push_back({fatal, check, std::move(msg)});
  };

  if (run("arch") && !in.bundle_arch.empty() &&
      std::find(in.bundle_arch.begin(), in.bundle_arch.end(), arch) == in.bundle_arch.end()) {
    add(true, "arch",
        fmt::format("this host is {} but the bundle carries {}", arch,
                    fmt::join(in.bundle_arch, ", ")));
  }
  if (run("disk") && in.needed_bytes > 0) {
    uint64_t need = in.needed_bytes + in.needed_bytes / 100 + (1u << 20);
    uint64_t have = free_bytes(plan.host(plan.data_dir));
    if (have < need) {
      add(true, "disk",
          "not enough free disk for " + plan.data_dir + ": need " + core::human_bytes(need) +
              ", have " + core::human_bytes(have));
    }
  }
  std::string mode = selinux_mode(plan);
  if (run("selinux") && !mode.empty() && !selinux_policy_installed(plan) &&
      !in.selinux_policy_in_bundle) {
    add(mode == "enforcing" && !plan.selinux_warn, "selinux", kMissingPolicy);
  }
  if (!in.host_checks) return out;

  bool starting = !plan.skip_enable && !plan.skip_start;
  if (run("route") && !has_default_route()) {
    add(starting, "route", std::string("no default route. ") + kRouteFix);
  }
  if (run("resolv") && !usable_resolv_conf("/etc/resolv.conf")) {
    add(false, "resolv",
        "/etc/resolv.conf has no nameserver CoreDNS can forward to (missing, empty or loopback "
        "only); give k3s one with --resolv-conf FILE");
  }
  if (run("cgroups") && !memory_cgroup()) {
    add(false, "cgroups",
        "Failed to find memory cgroup, you may need to add \"cgroup_memory=1 "
        "cgroup_enable=memory\" to your linux cmdline (/boot/cmdline.txt on a Raspberry Pi)");
  }
  if (run("modules")) {
    for (const char* m : {"overlay", "br_netfilter"}) {
      if (!module_available(m)) {
        add(false, "modules", std::string("kernel module ") + m + " is neither loaded nor found");
      }
    }
  }
  return out;
}

}  // namespace installer
