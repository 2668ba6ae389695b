#include "installer/install.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "bundler/format/signatures.h"
#include "bundler/format/verifier.h"
#include "core/base/progress.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "core/fs/stream.h"
#include "installer/download.h"
#include "installer/preflight.h"
#include "installer/render.h"
#include "installer/service.h"

namespace installer {
namespace {

using bundler::BundleManifest;
using bundler::FileRecord;
using bundler::FileRole;
using core::Errc;

constexpr char kTrustDir[] = "/etc/rancher/k3s/airgap/trust";

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

core::Result<std::vector<core::PublicKey>> trusted_keys(const Plan& plan,
                                                        const InstallOptions& options) {
  std::vector<std::string> paths = options.trust;
  if (paths.empty() && is_dir(plan.host(kTrustDir))) {
    DIR* d = ::opendir(plan.host(kTrustDir).c_str());
    while (dirent* e = d ? ::readdir(d) : nullptr) {
      std::string name = e->d_name;
      if (name.ends_with(".pub")) paths.push_back(plan.host(kTrustDir) + "/" + name);
    }
    if (d) ::closedir(d);
    std::sort(paths.begin(), paths.end());
  }
  if (paths.empty()) {
    return core::failf(Errc::kUnauthorized,
                       "no trusted keys: pass --trust KEY.pub or put keys in {} "
                       "(--insecure-skip-verify installs an unsigned bundle)",
                       kTrustDir);
  }
  return bundler::load_trusted_keys(paths);
}

// The bundle as a byte source read from one open file: the header pass and the verifying pass
// read the same inode, and the pass that stages is the pass that verifies.
class BundleInput {
 public:
  static core::Result<BundleInput> open(const std::string& path) {
    BundleInput in;
    in.path = path;
    in.dir = is_dir(path);
    if (!in.dir) {
      in.fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
      in.size = K3A_TRY(in.fd.size());
    }
    return in;
  }

  // bundle.json and bundle.json.sig, unverified.
  core::Result<bundler::BundleHeader> header() {
    if (dir) {
      return bundler::BundleHeader{
          K3A_TRY(core::read_file(path + "/" + bundler::kManifestPath, bundler::kMaxManifestSize)),
          K3A_TRY(
              core::read_file(path + "/" + bundler::kSignaturesPath, bundler::kMaxSignaturesSize))};
    }
    K3A_CHECK(rewind());
    core::FdSource src(fd);
    return bundler::read_bundle_header(src);
  }

  core::Result<bundler::VerifyReport> verify(const bundler::VerifyOptions& options,
                                             bundler::EntryConsumer* consumer) {
    if (dir) return bundler::verify_bundle_dir(path, options, consumer);
    K3A_CHECK(rewind());
    core::FdSource src(fd);
    core::Progress progress("installing " + core::base_name(path), size);
    core::ProgressSource counted(src, progress);
    auto report = bundler::verify_bundle(counted, options, consumer);
    progress.finish();
    return report;
  }

  std::string path;
  bool dir = false;
  core::Fd fd;
  uint64_t size = 0;

 private:
  core::Result<void> rewind() {
    if (::lseek(fd.get(), 0, SEEK_SET) != 0) return core::fail_errno(errno, "seek " + path);
    return {};
  }
};

const FileRecord* find_artifact(const BundleManifest& m, std::string_view name) {
  for (const auto& f : m.files) {
    if (f.role == FileRole::kArtifact && f.name == name) return &f;
  }
  return nullptr;
}

uint64_t payload_bytes(const BundleManifest& m, const std::string& arch) {
  uint64_t n = 0;
  for (const auto& f : m.files) {
    if (f.arch.empty() || f.arch == arch) n += f.size;
  }
  return n;
}

// Replaces `host_path` with a symlink to `target` atomically (a fresh link renamed over it).
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

// Everything outside the payload that install.sh writes, in its order.
core::Result<void> place_service_files(const Plan& plan, Reporter& reporter) {
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

core::Result<void> check_loose_binary(const Plan& plan, const std::string& arch,
                                      Reporter& reporter) {
  std::string bin = plan.host(plan.bin_dir + "/k3s");
  if (::access(bin.c_str(), X_OK) != 0) {
    return core::failf(Errc::kNotFound, "Executable k3s binary not found at {}/k3s", plan.bin_dir);
  }
  std::string sums = plan.host(plan.bin_dir + "/sha256sum-" + arch + ".txt");
  if (!core::path_exists(sums)) return {};
  std::string expected = sums_hash(K3A_TRY(core::read_file(sums)), k3s_asset(arch));
  if (expected.empty()) {
    return core::failf(Errc::kIntegrity, "{} has no line for {}", sums, k3s_asset(arch));
  }
  std::string actual = K3A_TRY(core::sha256_file(bin));
  if (actual != expected) {
    return core::failf(Errc::kIntegrity, "{}/k3s: sha256 {} does not match {} ({})", plan.bin_dir,
                       actual, core::base_name(sums), expected);
  }
  reporter.info(fmt::format("Verified {}/k3s against {}", plan.bin_dir, core::base_name(sums)));
  return {};
}

core::Result<void> run_preflight(const Plan& plan, const InstallOptions& options,
                                 const PreflightInput& input, Reporter& reporter) {
  std::vector<Finding> findings = preflight(plan, options.arch, input);
  const Finding* fatal = nullptr;
  for (const Finding& f : findings) {
    if (f.fatal && !fatal) fatal = &f;
    if (!f.fatal) reporter.warn(f.message);
  }
  if (fatal) return core::failf(Errc::kInvalid, "preflight {}: {}", fatal->check, fatal->message);
  return {};
}

// Refuses rollbacks, equivocation and expiry by the store's record (overrides warn loudly).
// `trusted` holds the key ids trusted now (empty when signatures are not checked: then every
// record counts).
core::Result<void> check_policy(const StoreState& state, const BundleManifest& m,
                                const std::string& digest, const std::set<std::string>& trusted,
                                const InstallOptions& options, Reporter& reporter,
                                bool* expired_override) {
  if (auto it = state.seen.find(m.sequence);
      it != state.seen.end() && it->second.digest != digest && state.counts(it->second, trusted)) {
    return core::failf(Errc::kConflict,
                       "equivocation: sequence {} was installed from a bundle.json with sha256 "
                       "{}; this bundle claims the same sequence with {}",
                       m.sequence, it->second.digest, digest);
  }
  uint64_t highest = state.highest(trusted);
  bool reinstall = state.current && state.current->digest == digest;
  if (m.sequence < highest && !reinstall) {
    if (!options.allow_downgrade) {
      return core::failf(Errc::kConflict,
                         "rollback: bundle sequence {} is lower than the installed {} "
                         "(--allow-downgrade overrides)",
                         m.sequence, highest);
    }
    reporter.warn(fmt::format("DOWNGRADE allowed by --allow-downgrade: sequence {} < {}",
                              m.sequence, highest));
  }
  if (m.expires && options.now > K3A_TRY(core::parse_rfc3339(*m.expires))) {
    if (!options.allow_expired) {
      return core::failf(Errc::kExpired, "bundle {} (sequence {}) expired at {}", m.name,
                         m.sequence, *m.expires);
    }
    reporter.warn(
        fmt::format("EXPIRED bundle installed by --allow-expired: expired at {}", *m.expires));
    *expired_override = true;
  }
  return {};
}

// Upstream's SELinux step without the network: the policy RPMs come from the bundle (artifacts
// named container-selinux and k3s-selinux) unless skipped; then the binary is labelled and the
// policy must be present (enforcing: fatal unless INSTALL_K3S_SELINUX_WARN=true).
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

// The k3s-facing placement and start shared by install and rollback.
core::Result<InstallResult> finish(const Plan& plan, const InstallOptions& options,
                                   const BundleManifest* m, const std::string& pre_hash,
                                   Reporter& reporter, InstallResult result) {
  if (m) {
    if (!plan.skip_download.binary && !plan.bin_dir_read_only) {
      const FileRecord* k3s = find_artifact(*m, "k3s");
      K3A_CHECK(place_link(plan.host(plan.bin_dir + "/k3s"),
                           plan.airgap_dir() + "/current/" + k3s->path));
      reporter.info(fmt::format("Installing k3s to {}/k3s", plan.bin_dir));
    }
    if (const FileRecord* self = find_artifact(*m, "k3s-airgap"); self && !plan.bin_dir_read_only) {
      K3A_CHECK(place_link(plan.host(plan.bin_dir + "/k3s-airgap"),
                           plan.airgap_dir() + "/current/" + self->path));
    }
    K3A_CHECK(place_payload_links(plan, *m, options.arch));
  }
  K3A_CHECK(setup_selinux(plan, m, reporter));
  K3A_CHECK(place_service_files(plan, reporter));
  result.changed = service_hash(plan) != pre_hash;
  result.started = K3A_TRY(enable_and_start(
      plan, {.supervise = options.supervise, .ready_timeout_s = options.ready_timeout_s},
      result.changed, reporter));
  return result;
}

// No bundle: the k3s binary already in BIN_DIR (INSTALL_K3S_SKIP_DOWNLOAD), or downloaded from
// the release source the environment names (install.sh's online mode).
core::Result<InstallResult> install_loose(const Plan& plan, const InstallOptions& options,
                                          Reporter& reporter) {
  bool download = !plan.skip_download.binary;
  if (download && !plan.download_requested) {
    return core::fail(Errc::kInvalid,
                      "no bundle given: pass BUNDLE (a .tar.zst or an unpacked bundle), set "
                      "INSTALL_K3S_MIRROR_URL or INSTALL_K3S_ARTIFACT_URL to download from a "
                      "mirror, or INSTALL_K3S_SKIP_DOWNLOAD=true to use the k3s binary already "
                      "at INSTALL_K3S_BIN_DIR");
  }
  if (!download) K3A_CHECK(check_loose_binary(plan, options.arch, reporter));
  K3A_CHECK(run_preflight(
      plan, options, {.host_checks = plan.root.empty(), .skip = options.skip_preflight}, reporter));
  std::string pre = service_hash(plan);
  InstallResult result;
  if (download) result.downloaded = K3A_TRY(download_k3s(plan, options.arch, reporter));
  return finish(plan, options, nullptr, pre, reporter, result);
}

// Flips `current` back to the previous payload and re-places and restarts from it.
core::Result<InstallResult> switch_back(Store& store, const Plan& plan,
                                        const InstallOptions& options, Reporter& reporter) {
  std::string pre = service_hash(plan);
  InstalledVersion back = K3A_TRY(store.rollback());
  reporter.info(fmt::format("Rolled back to {} sequence {} (k3s {}, versions/{})", back.name,
                            back.sequence, back.k3s_version, back.id));
  std::string json = K3A_TRY(core::read_file(store.version_dir(back.id) + "/bundle.json"));
  BundleManifest m = K3A_TRY(bundler::parse_manifest(json));
  InstallResult result;
  result.installed = back;
  result.staged = true;
  return finish(plan, options, &m, pre, reporter, result);
}

}  // namespace

core::Result<InstallResult> install(const Plan& plan, const InstallOptions& options,
                                    Reporter& reporter) {
  K3A_CHECK(check_supervisor(plan, options.supervise));
  if (options.bundle.empty()) return install_loose(plan, options, reporter);

  // Authenticate bundle.json first: policy and preflight decisions rest on signed values.
  BundleInput input = K3A_TRY(BundleInput::open(options.bundle));
  bundler::VerifyOptions vopts{.threshold = options.threshold,
                               .skip_signatures = options.insecure_skip_verify,
                               .allow_expired = true,  // decided by check_policy
                               .now = options.now};
  if (options.insecure_skip_verify) {
    reporter.warn(
        "--insecure-skip-verify: signatures NOT checked; contents still verified "
        "against bundle.json");
  } else {
    vopts.trusted = K3A_TRY(trusted_keys(plan, options));
  }
  auto header = input.header();
  if (!header) return std::unexpected(std::move(header.error()).context(options.bundle));
  if (!options.insecure_skip_verify) {
    auto sigs = K3A_TRY(bundler::parse_signatures(header->signatures_json));
    auto signers =
        bundler::check_signatures(header->manifest_json, sigs, vopts.trusted, vopts.threshold);
    if (!signers) return std::unexpected(std::move(signers.error()).context(options.bundle));
  }
  BundleManifest m = K3A_TRY(bundler::parse_manifest(header->manifest_json));
  std::string digest = core::Sha256::hex_of(header->manifest_json);

  if (!plan.version.empty() && plan.version != m.k3s_version) {
    return core::failf(Errc::kInvalid, "INSTALL_K3S_VERSION is {} but the bundle carries k3s {}",
                       plan.version, m.k3s_version);
  }
  bool manage_binary = !plan.skip_download.binary && !plan.bin_dir_read_only;
  if (manage_binary && !find_artifact(m, "k3s")) {
    return core::fail(Errc::kInvalid,
                      "the bundle carries no k3s binary (an artifact named k3s); set "
                      "INSTALL_K3S_SKIP_DOWNLOAD=binary to keep the one in INSTALL_K3S_BIN_DIR");
  }
  if (!manage_binary) K3A_CHECK(check_loose_binary(plan, options.arch, reporter));
  K3A_CHECK(run_preflight(
      plan, options,
      {.bundle_arch = m.arch,
       .needed_bytes = payload_bytes(m, options.arch),
       .host_checks = plan.root.empty(),
       .selinux_policy_in_bundle =
           find_artifact(m, "k3s-selinux") && !plan.skip_selinux_rpm && !plan.skip_download.selinux,
       .skip = options.skip_preflight},
      reporter));

  Store store = K3A_TRY(Store::open(plan.host(plan.airgap_dir())));
  InstalledVersion v{.id = version_id(m.sequence, digest),
                     .name = m.name,
                     .sequence = m.sequence,
                     .digest = digest,
                     .k3s_version = m.k3s_version,
                     .expires = m.expires.value_or("")};
  std::set<std::string> trusted_ids;
  for (const auto& k : vopts.trusted) trusted_ids.insert(k.key_id());
  K3A_CHECK(
      check_policy(store.state(), m, digest, trusted_ids, options, reporter, &v.expired_override));
  std::string pre = service_hash(plan);

  InstallResult result;
  result.installed = v;
  bool same = store.state().current && store.state().current->id == v.id &&
              core::path_exists(store.version_dir(v.id));
  std::unique_ptr<Staging> staging;
  if (!same) staging = K3A_TRY(store.begin_staging(options.arch));
  reporter.info(fmt::format("Verifying bundle {} ({} sequence {}, k3s {}){}", options.bundle,
                            m.name, m.sequence, m.k3s_version,
                            same ? ": already installed, nothing to stage" : ""));
  auto report = input.verify(vopts, staging.get());
  if (!report) return std::unexpected(std::move(report.error()).context(options.bundle));
  if (core::Sha256::hex_of(report->manifest_bytes) != digest) {
    return core::failf(Errc::kIntegrity, "{}: bundle.json changed while being installed",
                       options.bundle);
  }
  if (!input.dir && !options.insecure_skip_verify && core::path_exists(options.bundle + ".sig")) {
    std::string sig = K3A_TRY(core::read_file(options.bundle + ".sig", 4096));
    auto key = bundler::check_detached_signature(sig, report->compressed_digest, vopts.trusted);
    if (!key) return std::unexpected(std::move(key.error()).context(options.bundle + ".sig"));
  }
  v.signers = report->signed_by;
  if (same) {
    K3A_CHECK(store.record(v));
  } else {
    K3A_CHECK(staging->add_file(bundler::kManifestPath, report->manifest_bytes, 0644));
    K3A_CHECK(staging->add_file(bundler::kSignaturesPath, report->signatures_bytes, 0644));
    K3A_CHECK(store.commit(*staging, v));
    result.staged = true;
    reporter.info(fmt::format("Switched {}/current to versions/{}", plan.airgap_dir(), v.id));
  }
  auto done = finish(plan, options, &m, pre, reporter, result);
  if (done || !result.staged || !store.state().previous) return done;
  // The new payload did not come up: go back to the one that ran before.
  uint64_t old_seq = store.state().previous->sequence;
  reporter.warn(fmt::format("k3s failed to start from sequence {}: {}; switching back to {}",
                            v.sequence, done.error().message(), old_seq));
  auto back = switch_back(store, plan, options, reporter);
  if (!back) {
    return core::failf(done.error().code(), "{}; switching back also failed: {}",
                       done.error().message(), back.error().message());
  }
  return core::failf(done.error().code(), "{}; rolled back to sequence {}", done.error().message(),
                     old_seq);
}

core::Result<InstallResult> rollback(const Plan& plan, const InstallOptions& options,
                                     Reporter& reporter) {
  K3A_CHECK(check_supervisor(plan, options.supervise));
  Store store = K3A_TRY(Store::open(plan.host(plan.airgap_dir())));
  return switch_back(store, plan, options, reporter);
}

core::Result<void> uninstall(const Plan& plan, Reporter& reporter) {
  if (plan.root.empty()) {
    std::string script = plan.uninstall_script();
    if (!core::path_exists(script)) {
      return core::failf(Errc::kNotFound, "{} not found: is {} installed?", script,
                         plan.service_name);
    }
    reporter.info("Running " + script);
    return run_script(script);
  }
  for (const std::string& p :
       {plan.unit_file(), plan.env_file(), "/etc/init.d/" + plan.service_name,
        "/etc/logrotate.d/" + plan.service_name, plan.uninstall_script()}) {
    ::unlink(plan.host(p).c_str());
  }
  for (const char* cmd : {"kubectl", "crictl", "ctr"}) {
    std::string link = plan.host(plan.bin_dir + "/" + cmd);
    struct stat st {};
    if (::lstat(link.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) ::unlink(link.c_str());
  }
  for (const std::string& p :
       {plan.bin_dir + "/k3s", plan.bin_dir + "/k3s-airgap", plan.killall_script()}) {
    ::unlink(plan.host(p).c_str());
  }
  for (const std::string& d : {std::string("/etc/rancher/k3s"), std::string("/run/k3s"),
                               plan.data_dir, std::string("/var/lib/kubelet")}) {
    K3A_CHECK(core::remove_all(plan.host(d)));
  }
  reporter.info(fmt::format("Removed {} from {}", plan.service_name, plan.root));
  return {};
}

}  // namespace installer
