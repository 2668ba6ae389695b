// What the installer places outside its store, as install.sh places it: the links from BIN_DIR
// and the data dir into airgap/current (each swapped in atomically), the kubectl/crictl/ctr
// symlinks, killall and uninstall scripts, environment file and service unit, and the SELinux
// policy. Paths are the target system's, written below plan.root. Each step is idempotent: an
// unchanged file or link is left alone.
#pragma once

#include <string>
#include <string_view>

#include "bundler/format/manifest.h"
#include "core/base/error.h"
#include "installer/install.h"
#include "installer/plan.h"

namespace installer {

// The bundle's artifact of that name (k3s, k3s-airgap, k3s-selinux ...); nullptr when absent.
const bundler::FileRecord* find_artifact(const bundler::BundleManifest& m, std::string_view name);

// Replaces `host_path` with a symlink to `target` atomically (a fresh link renamed over it).
// kConflict when `host_path` is a directory; else the system's refusal.
core::Result<void> place_link(const std::string& host_path, const std::string& target);

// BIN_DIR/k3s (unless INSTALL_K3S_SKIP_DOWNLOAD or a read-only BIN_DIR) and k3s-airgap, the
// image archives and lists under agent/images and (servers) the manifests under
// server/manifests, linked into airgap/current; links into current that the payload no
// longer has are removed.
core::Result<void> place_payload(const Plan& plan, const bundler::BundleManifest& m,
                                 const std::string& arch, Reporter& reporter);

// Everything outside the payload that install.sh writes, in its order (with the cn script's
// registries.yaml from INSTALL_K3S_REGISTRIES first, when the file does not exist).
core::Result<void> place_service_files(const Plan& plan, Reporter& reporter);

// Upstream's SELinux step without the network: the policy RPMs come from the bundle (artifacts
// named container-selinux and k3s-selinux) unless skipped; then the binary is labelled and the
// policy must be present (enforcing: fatal unless INSTALL_K3S_SELINUX_WARN=true).
// `m` is null for an install without a bundle. Fails when the policy is missing and SELinux
// enforces (unless INSTALL_K3S_SELINUX_WARN=true), or rpm fails.
core::Result<void> setup_selinux(const Plan& plan, const bundler::BundleManifest* m,
                                 Reporter& reporter);

}  // namespace installer
