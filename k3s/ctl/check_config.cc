#include "k3s/ctl/check_config.h"

#include <sys/utsname.h>

#include <filesystem>
#include <map>
#include <memory>

#include "core/base/strings.h"
#include "core/fs/files.h"
#include "core/fs/stream.h"
#include "images/gzip.h"

namespace k3s::ctl {
namespace {

namespace fs = std::filesystem;

std::string read(const std::string& path) { return core::read_file(path, 16 << 20).value_or(""); }

// The kernel's build configuration, "" when neither place has it.
std::string kernel_config(const std::string& root, const std::string& release) {
  if (auto packed = core::read_file(root + "proc/config.gz", 16 << 20)) {
    core::StringSource in(*packed);
    auto gz = images::GzipSource::create(in);
    std::string text;
    char buf[65536];
    for (;;) {
      auto n = gz ? (*gz)->read(buf, sizeof buf) : core::Result<size_t>(0);
      if (!n || *n == 0) break;
      text.append(buf, *n);
    }
    if (!text.empty()) return text;
  }
  return read(root + "boot/config-" + release);
}

// A binary the agent runs: beside k3s in the data dir's bin, else on the usual paths.
std::string find(const std::string& root, const std::vector<std::string>& dirs,
                 const std::string& name) {
  for (const auto& d : dirs)
    if (core::path_exists(root + d + "/" + name)) return "/" + d + "/" + name;
  return "";
}

}  // namespace

std::vector<CheckItem> check_config(const CheckConfigOptions& options) {
  std::string root = options.root.ends_with("/") ? options.root : options.root + "/";
  std::vector<CheckItem> items;
  auto add = [&](const std::string& section, const std::string& name, bool ok, bool required,
                 const std::string& detail) {
    items.push_back({section, name, ok, required, detail});
  };
  std::string data = options.data_dir.substr(options.data_dir.starts_with("/") ? 1 : 0);
  std::vector<std::string> bin = {
      data + "/data/current/bin", "usr/local/bin", "usr/bin", "usr/sbin", "bin", "sbin"};
  for (const char* b : {"containerd", "containerd-shim-runc-v2", "runc", "iptables"}) {
    std::string at = find(root, bin, b);
    add("Binaries", b, !at.empty(), true, at.empty() ? "not found" : at);
  }
  std::vector<std::string> cni = {data + "/data/current/bin", "usr/lib/cni", "opt/cni/bin"};
  for (const char* p : {"bridge", "host-local", "portmap", "loopback"}) {
    std::string at = find(root, cni, p);
    add("Binaries", std::string("CNI plugin ") + p, !at.empty(), true,
        at.empty() ? "not found" : at);
  }
  for (const char* ns : {"net", "pid", "ipc", "uts", "mnt"})
    add("Generally Necessary", std::string(ns) + " namespace",
        core::path_exists(root + "proc/self/ns/" + ns), true, "");
  bool v2 = core::path_exists(root + "sys/fs/cgroup/cgroup.controllers");
  std::string controllers = read(root + "sys/fs/cgroup/cgroup.controllers");
  for (const char* c : {"cpu", "cpuset", "memory", "pids"}) {
    bool ok =
        v2 ? (" " + std::string(core::trim(controllers)) + " ").find(std::string(" ") + c + " ") !=
                 std::string::npos
           : core::path_exists(root + "sys/fs/cgroup/" + c);
    add("Generally Necessary", std::string("cgroup ") + c + " controller", ok, true,
        v2 ? "cgroup v2" : "cgroup v1");
  }
  std::string filesystems = read(root + "proc/filesystems");
  utsname u{};
  ::uname(&u);
  std::string release = u.release;
  std::string modules =
      read(root + "proc/modules") + read(root + "lib/modules/" + release + "/modules.builtin");
  std::string config = kernel_config(root, release);
  auto module = [&](const std::string& name, const std::string& option) {
    return modules.find(name) != std::string::npos ||
           config.find(option + "=y") != std::string::npos ||
           config.find(option + "=m") != std::string::npos ||
           core::path_exists(root + "sys/module/" + name);
  };
  add("Generally Necessary", "overlay filesystem",
      filesystems.find("overlay") != std::string::npos || module("overlay", "CONFIG_OVERLAY_FS"),
      true, "");
  add("Generally Necessary", "bridge", module("bridge", "CONFIG_BRIDGE"), true, "");
  add("Generally Necessary", "veth", module("veth", "CONFIG_VETH"), true, "");
  add("Generally Necessary", "netfilter NAT (iptables MASQUERADE)",
      module("nf_nat", "CONFIG_NF_NAT") || module("nft_chain_nat", "CONFIG_NFT_NAT"), true, "");
  std::string forward(core::trim(read(root + "proc/sys/net/ipv4/ip_forward")));
  add("Optional", "net.ipv4.ip_forward", forward == "1", false,
      forward == "1" ? "1" : "0 (pods cannot reach other hosts until it is 1)");
  bool br = core::path_exists(root + "proc/sys/net/bridge");
  add("Optional", "br_netfilter", br, false, br ? "" : "Services' cluster IPs need it");
  bool no_swap = core::split(core::trim(read(root + "proc/swaps")), '\n').size() <= 1;
  add("Optional", "swap disabled", no_swap, false, no_swap ? "" : "the kubelet expects swap off");
  add("Optional", "kernel configuration", !config.empty(), false,
      config.empty() ? "neither /proc/config.gz nor /boot/config-" + release : "found");
  return items;
}

core::Result<void> print_check_config(const std::vector<CheckItem>& items, FILE* out) {
  std::string section;
  int missing = 0, warnings = 0;
  for (const auto& i : items) {
    if (i.section != section) {
      section = i.section;
      std::fprintf(out, "\n%s:\n", section.c_str());
    }
    const char* state = i.ok ? "ok" : i.required ? "missing" : "warning";
    std::fprintf(out, "- %s: %s%s%s\n", i.name.c_str(), state, i.detail.empty() ? "" : " (",
                 i.detail.empty() ? "" : (i.detail + ")").c_str());
    if (!i.ok) (i.required ? missing : warnings)++;
  }
  std::fprintf(out, "\nSTATUS: %s (%d missing, %d warnings)\n", missing ? "fail" : "pass", missing,
               warnings);
  if (missing) return core::failf(core::Errc::kUnsupported, "{} required items missing", missing);
  return {};
}

}  // namespace k3s::ctl
