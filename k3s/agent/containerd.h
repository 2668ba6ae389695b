// containerd as k3s runs it: a config.toml generated with k3s's paths (root under
// agent/containerd, state and socket under /run/k3s/containerd, the CRI plugin with the pinned
// pause image, overlayfs, CNI directories, and registries.yaml rendered into hosts.toml files
// under agent/etc/containerd/certs.d), started as a child with CONTAINERD_* variables passed on
// (prefix removed), restarted with backoff when it dies, stopped in order. The supervisor's
// methods are called from one thread; its watcher thread restarts the daemon.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/base/error.h"
#include "core/proc/process.h"
#include "images/registries.h"

namespace k3s::agent {

struct ContainerdSettings {
  std::string binary;      // the containerd executable
  std::string root;        // <data-dir>/agent/containerd
  std::string state;       // /run/k3s/containerd
  std::string socket;      // /run/k3s/containerd/containerd.sock
  std::string config_dir;  // <data-dir>/agent/etc/containerd
  // <data-dir>/data/current/bin on containerd's PATH (for runc and the shims): after the host's
  // directories, or before them with prefer_bundled.
  std::string bin_dir;
  bool prefer_bundled = false;
  std::string pause_image;  // docker.io/rancher/mirrored-pause:3.6
  std::string cni_bin_dir, cni_conf_dir;
  bool cri = true;  // false leaves the CRI plugin out (tests of the daemon alone)
  // Pods' oom_score_adj kept at or above containerd's own, where it may not be lowered.
  bool restrict_oom_score_adj = false;
};

// config.toml for the settings.
std::string containerd_config(const ContainerdSettings& s);
// hosts.toml per registry ("docker.io" → text) for containerd's config_path, from
// registries.yaml: mirrors in order with their override paths, the default endpoint as server
// unless disabled, rewrites, and each host's TLS files and skip-verify.
std::map<std::string, std::string> hosts_files(const images::RegistryConfig& registries);
// Whether this process may lower oom_score_adj (has CAP_SYS_RESOURCE), as the CRI does for
// sandboxes.
bool can_lower_oom_score_adj();
// The executable to run: next to the k3s binary, else on PATH or in /usr/sbin or /sbin, else in
// the bundled directory (<data-dir>/data/current/bin), which comes first with prefer_bundled
// (--prefer-bundled-bin); nullopt when none has it.
std::optional<std::string> find_binary(const std::string& name, const std::string& bundled = "",
                                       bool prefer_bundled = false);

class ContainerdSupervisor {
 public:
  explicit ContainerdSupervisor(ContainerdSettings settings) : s_(std::move(settings)) {}
  ~ContainerdSupervisor() { stop(); }
  // Writes the configuration (and hosts files), starts containerd and waits until it answers on
  // its socket; its version is then version(). Fails when it does not start within 30 s.
  core::Result<void> start(const images::RegistryConfig& registries);
  // Stops the daemon (SIGTERM, then SIGKILL) and the watcher.
  void stop();
  const std::string& version() const { return version_; }
  // How many times the daemon was restarted after it died; its current process id.
  int restarts() const { return restarts_; }
  pid_t pid();

 private:
  core::Result<void> launch();
  core::Result<void> wait_ready();
  void watch();

  ContainerdSettings s_;
  std::string version_;
  std::mutex mu_;
  std::condition_variable stopping_cv_;
  bool stopping_ = false;
  std::unique_ptr<core::Process> process_;
  std::atomic<int> restarts_{0};
  std::thread watcher_;
};

}  // namespace k3s::agent
