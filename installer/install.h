// `k3s-airgap install`: plan → preflight → verify while staging → atomic switch → the files
// install.sh writes (links, scripts, env file, unit) → enable and start. Also --rollback and
// uninstall. Messages go through a Reporter in upstream's [INFO]/[WARN] shape; a failure is
// one Error, and nothing outside the staging directory has changed when it happens before the
// switch. Not thread-safe; the store's lock keeps concurrent installers apart.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "installer/plan.h"
#include "installer/store.h"

namespace installer {

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void info(std::string_view message) = 0;
  virtual void warn(std::string_view message) = 0;
};

struct InstallOptions {
  std::string bundle;              // a .tar.zst, or an unpacked bundle directory; "" = loose files
  std::vector<std::string> trust;  // public keys; empty = <root>/etc/rancher/k3s/airgap/trust/*.pub
  int threshold = 1;
  bool insecure_skip_verify = false;
  bool allow_downgrade = false;
  bool allow_expired = false;
  bool supervise = false;     // no init system: run k3s in the background with a pidfile and log
  int ready_timeout_s = 120;  // supervised Type=notify start: wait this long for READY=1
  std::set<std::string> skip_preflight;
  std::string arch;  // this host's architecture
  int64_t now = 0;
};

struct InstallResult {
  std::optional<InstalledVersion> installed;  // empty for a loose-file install
  std::string downloaded;                     // the k3s version an online install fetched
  bool staged = false;                        // a new payload was written and switched to
  bool changed = false;                       // binary, unit or env file differ from before
  bool started = false;                       // the service was (re)started
};

core::Result<InstallResult> install(const Plan& plan, const InstallOptions& options,
                                    Reporter& reporter);
// When the service fails to (re)start on a newly switched payload and a previous one exists,
// install switches back to it, restarts, and reports the failure with the rollback.
// Switches back to the previous payload, re-points the links and restarts as install does.
core::Result<InstallResult> rollback(const Plan& plan, const InstallOptions& options,
                                     Reporter& reporter);
// Removes what install placed. On the real host (no root) this runs <name>-uninstall.sh, which
// also stops k3s and cleans up as upstream's does; under a root it removes the files.
core::Result<void> uninstall(const Plan& plan, Reporter& reporter);

}  // namespace installer
