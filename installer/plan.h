// The install plan: upstream install.sh's environment interface (INSTALL_K3S_*, K3S_URL,
// K3S_TOKEN[_FILE], K3S_*/CONTAINERD_*/proxy variables) and arguments, resolved into plain
// values with upstream's defaults and checks. Built once per run; values only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace installer {

enum class InitSystem { kSystemd, kOpenrc, kNone };
enum class SymlinkMode { kDefault, kSkip, kForce };

// What INSTALL_K3S_SKIP_DOWNLOAD asks to skip: `true` both, `binary`, `selinux`.
struct SkipDownload {
  bool binary = false;
  bool selinux = false;
};

struct Plan {
  std::string root;  // prefix for every path touched ("" for the real host)
  std::string data_dir = "/var/lib/rancher/k3s";

  std::string command;            // "server", "agent", ...
  std::vector<std::string> args;  // the rest of the k3s command line, in order
  std::string service_name;       // k3s, k3s-agent, k3s-<NAME>
  InitSystem init = InitSystem::kSystemd;

  std::string bin_dir;  // /usr/local/bin, or /opt/bin as upstream falls back
  bool bin_dir_read_only = false;
  std::string systemd_dir = "/etc/systemd/system";
  std::string systemd_type = "notify";
  SymlinkMode symlink = SymlinkMode::kDefault;
  SkipDownload skip_download;
  bool skip_enable = false;
  bool skip_start = false;
  bool force_restart = false;
  bool selinux_warn = false;
  bool skip_selinux_rpm = false;
  std::string version;  // INSTALL_K3S_VERSION: must match the bundle when set
  std::string channel = "stable";
  std::string channel_url = "https://update.k3s.io/v1-release/channels";
  // Online mode (no bundle): where the release comes from. A mirror (INSTALL_K3S_MIRROR=cn,
  // INSTALL_K3S_MIRROR_URL) has the China mirror's layout: the channel's version is the body of
  // <mirror>/k3s/channels/<channel>, assets sit under <mirror>/k3s/<version with + as ->/.
  // INSTALL_K3S_ARTIFACT_URL replaces GitHub's .../releases/download for the assets.
  std::string mirror_url;
  std::string artifact_url;
  std::string github_url = "https://github.com/k3s-io/k3s/releases";
  bool download_requested = false;  // a source, channel or version was named
  // INSTALL_K3S_REGISTRIES (the cn script's): docker.io mirror endpoints written to
  // /etc/rancher/k3s/registries.yaml when that file does not exist.
  std::vector<std::string> registries;

  // Lines of the env file, in upstream's order: K3S_*/CONTAINERD_* sorted, then proxies.
  std::vector<std::pair<std::string, std::string>> service_env;

  // Host path of a path on the target system (root-prefixed).
  std::string host(const std::string& path) const { return root + path; }
  std::string unit_file() const { return systemd_dir + "/" + service_name + ".service"; }
  std::string env_file() const;
  std::string killall_script() const { return bin_dir + "/k3s-killall.sh"; }
  std::string uninstall_script() const { return bin_dir + "/" + service_name + "-uninstall.sh"; }
  std::string airgap_dir() const { return data_dir + "/airgap"; }
};

// Builds the plan from the environment and the command-line words (upstream merges
// INSTALL_K3S_EXEC, split on whitespace, before the arguments). `root` is "" or an absolute
// directory. Errors are upstream's fatal messages.
core::Result<Plan> make_plan(const std::map<std::string, std::string>& env,
                             const std::vector<std::string>& words, const std::string& root);

// The process environment as a map.
std::map<std::string, std::string> current_environment();

// The env-file text: one KEY='value' line per variable, quoted as the shell's `export` prints.
std::string render_env_file(const Plan& plan);
// A word single-quoted for sh (' becomes '\'').
std::string shell_quote(const std::string& word);

}  // namespace installer
