#include "installer/place.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "core/base/strings.h"
#include "core/fs/files.h"
#include "installer/preflight.h"
#include "installer/render.h"
#include "installer/service.h"

namespace installer {
namespace {

using bundler::BundleManifest;
using bundler::FileRecord;
using bundler::FileRole;
using core::Errc;

// `message` names the file as upstream's log line does ("env: Creating environment file").
core::Result<void> place_file(const Plan& plan, const std::string& path, const std::string& text,
                              mode_t mode, Reporter& reporter, const char* message) {
  reporter.info(fmt::format("{} {}", message, path));
  std::string host = plan.host(path);
  struct stat st {};
  if (::lstat(host.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == mode) {
    auto old = core::read_file(host, text.size() + 1);
    if (old && *old == text) return {};  // unchanged: leave the file (and its mtime) alone
  }
  K3A_CHECK(core::make_dirs(core::dir_name(host)));
  return core::write_file_atomic(host, text, mode);
}

bool command_on_path(const Plan& plan, const std::string& name) {
  const char* path = ::getenv("PATH");
  for (auto dir : core::split(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin", ':')) {
    if (!dir.empty() && ::access(plan.host(std::string(dir) + "/" + name).c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

core::Result<void> create_symlinks(const Plan& plan, Reporter& reporter) {
  if (plan.symlink == SymlinkMode::kSkip) return {};
  for (const char* cmd : {"kubectl", "crictl", "ctr"}) {
    std::string link = plan.host(plan.bin_dir + "/" + cmd);
    struct stat st {};
    bool exists = ::lstat(link.c_str(), &st) == 0;
    if (plan.symlink == SymlinkMode::kForce || (!exists && !command_on_path(plan, cmd))) {
      reporter.info(fmt::format("Creating {}/{} symlink to k3s", plan.bin_dir, cmd));
      K3A_CHECK(place_link(link, "k3s"));
    } else {
      reporter.info(fmt::format("Skipping {}/{} symlink to k3s, {}", plan.bin_dir, cmd,
                                exists ? "already exists" : "command exists in PATH"));
    }
  }
  return {};
}

// Links under the data dir that point into airgap/current: image archives and lists, and (for
// servers) the bundle's manifests. Links into `current` for files the payload no longer has
// are removed.
core::Result<void> place_payload_links(const Plan& plan, const BundleManifest& m,
                                       const std::string& arch) {
  std::string current = plan.airgap_dir() + "/current/";
  std::string images = plan.data_dir + "/agent/images/";
  std::string manifests = plan.data_dir + "/server/manifests/";
  std::set<std::string> wanted;
  for (const FileRecord& f : m.files) {
    if (!f.arch.empty() && f.arch != arch) continue;
    std::string link;
    if (f.role == FileRole::kImages || f.role == FileRole::kImageList) {
      link = images + core::base_name(f.path);
    } else if (f.role == FileRole::kManifest && plan.command == "server" &&
               f.path.starts_with("manifests/")) {
      link = manifests + f.path.substr(10);
    } else {
      continue;
    }
    K3A_CHECK(place_link(plan.host(link), current + f.path));
    wanted.insert(plan.host(link));
  }
  for (const std::string& dir : {images, manifests}) {
    DIR* d = ::opendir(plan.host(dir).c_str());
    if (!d) continue;
    std::vector<std::string> stale;
    while (dirent* e = ::readdir(d)) {
      std::string p = plan.host(dir) + e->d_name;
      char buf[4096];
      ssize_t n = ::readlink(p.c_str(), buf, sizeof buf);
      if (n > 0 && std::string_view(buf, n).starts_with(current) && !wanted.count(p)) {
        stale.push_back(p);
      }
    }
    ::closedir(d);
    for (const auto& p : stale) ::unlink(p.c_str());
  }
  return {};
}

// The cn script's registries.yaml: docker.io pulled through the INSTALL_K3S_REGISTRIES
// endpoints, written only when the file does not exist (a site's own file is kept).
core::Result<void> place_registries(const Plan& plan, Reporter& reporter) {
  const std::string path = "/etc/rancher/k3s/registries.yaml";
  if (plan.registries.empty()) return {};
  if (core::path_exists(plan.host(path))) {
    reporter.info(fmt::format("{} exists: INSTALL_K3S_REGISTRIES not applied", path));
    return {};
  }
  std::string yaml = "mirrors:\n  \"docker.io\":\n    endpoint:\n";
  for (const auto& r : plan.registries) yaml += "      - \"" + r + "\"\n";
  return place_file(plan, path, yaml, 0644, reporter, "Creating registries file");
}

}  // namespace

const FileRecord* find_artifact(const BundleManifest& m, std::string_view name) {
  for (const auto& f : m.files) {
    if (f.role == FileRole::kArtifact && f.name == name) return &f;
  }
  return nullptr;
}

core::Result<void> place_link(const std::string& host_path, const std::string& target) {
  char buf[4096];
  ssize_t n = ::readlink(host_path.c_str(), buf, sizeof buf);
  if (n >= 0 && std::string_view(buf, n) == target) return {};
  struct stat st {};
  if (::lstat(host_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return core::failf(Errc::kConflict, "{} is a directory; refusing to replace it", host_path);
  }
  K3A_CHECK(core::make_dirs(core::dir_name(host_path)));
  std::string tmp = host_path + ".k3a-link";
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return core::fail_errno(errno, "symlink " + tmp);
  if (::rename(tmp.c_str(), host_path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return core::fail_errno(err, "rename " + tmp);
  }
  return core::fsync_dir(core::dir_name(host_path));
}

core::Result<void> place_payload(const Plan& plan, const BundleManifest& m, const std::string& arch,
                                 Reporter& reporter) {
  std::string current = plan.airgap_dir() + "/current/";
  if (!plan.skip_download.binary && !plan.bin_dir_read_only) {
    const FileRecord* k3s = find_artifact(m, "k3s");
    K3A_CHECK(place_link(plan.host(plan.bin_dir + "/k3s"), current + k3s->path));
    reporter.info(fmt::format("Installing k3s to {}/k3s", plan.bin_dir));
  }
  if (const FileRecord* self = find_artifact(m, "k3s-airgap"); self && !plan.bin_dir_read_only)
    K3A_CHECK(place_link(plan.host(plan.bin_dir + "/k3s-airgap"), current + self->path));
  return place_payload_links(plan, m, arch);
}

core::Result<void> place_service_files(const Plan& plan, Reporter& reporter) {
  K3A_CHECK(place_registries(plan, reporter));
  if (!plan.bin_dir_read_only) {
    K3A_CHECK(create_symlinks(plan, reporter));
    K3A_CHECK(place_file(plan, plan.killall_script(), render_killall(plan), 0755, reporter,
                         "Creating killall script"));
    K3A_CHECK(place_file(plan, plan.uninstall_script(), render_uninstall(plan), 0755, reporter,
                         "Creating uninstall script"));
  } else {
    reporter.info("Read-only bin directory: skipping symlinks, killall and uninstall scripts");
  }
  K3A_CHECK(place_file(plan, plan.env_file(), render_env_file(plan), 0600, reporter,
                       "env: Creating environment file"));
  if (plan.init == InitSystem::kOpenrc) {
    K3A_CHECK(place_file(plan, "/etc/init.d/" + plan.service_name, render_openrc_script(plan), 0755,
                         reporter, "openrc: Creating service file"));
    K3A_CHECK(place_file(plan, "/etc/logrotate.d/" + plan.service_name, render_logrotate(plan),
                         0644, reporter, "logrotate: Creating"));
  } else if (plan.init == InitSystem::kSystemd) {
    K3A_CHECK(place_file(plan, plan.unit_file(), render_systemd_unit(plan), 0644, reporter,
                         "systemd: Creating service file"));
  }
  return {};
}

core::Result<void> setup_selinux(const Plan& plan, const BundleManifest* m, Reporter& reporter) {
  std::string mode = selinux_mode(plan);
  if (mode.empty()) return {};
  bool fatal = mode == "enforcing" && !plan.selinux_warn;
  if (!selinux_policy_installed(plan)) {
    std::vector<std::string> rpms;
    for (const char* name : {"container-selinux", "k3s-selinux"}) {
      if (const FileRecord* f = m ? find_artifact(*m, name) : nullptr) {
        rpms.push_back(plan.host(plan.airgap_dir() + "/current/" + f->path));
      }
    }
    if (plan.skip_selinux_rpm || plan.skip_download.selinux) {
      reporter.info("Skipping installation of SELinux RPM");
    } else if (!rpms.empty()) {
      reporter.info("Installing the SELinux policy from the bundle");
      std::vector<std::string> argv{"rpm"};
      if (!plan.root.empty()) argv.insert(argv.end(), {"--root", plan.root});
      argv.insert(argv.end(), {"-U", "--replacepkgs"});
      argv.insert(argv.end(), rpms.begin(), rpms.end());
      K3A_CHECK(run_tool(argv));
    }
  }
  if (plan.root.empty() && core::path_exists("/sys/fs/selinux")) {
    auto labelled = run_tool({"chcon", "-u", "system_u", "-r", "object_r", "-t",
                              "container_runtime_exec_t", plan.bin_dir + "/k3s"});
    if (!labelled && fatal) return labelled;
    if (!labelled) reporter.warn(labelled.error().message());
  }
  if (!selinux_policy_installed(plan)) {
    if (fatal) return core::fail(Errc::kNotFound, kMissingPolicy);
    reporter.warn(kMissingPolicy);
  }
  return {};
}

}  // namespace installer
