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
#include "installer/place.h"
#include "installer/preflight.h"
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

uint64_t payload_bytes(const BundleManifest& m, const std::string& arch) {
  uint64_t n = 0;
  for (const auto& f : m.files) {
    if (f.arch.empty() || f.arch == arch) n += f.size;
  }
  return n;
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

// The k3s-facing placement and start shared by install and rollback.
core::Result<InstallResult> finish(const Plan& plan, const InstallOptions& options,
                                   const BundleManifest* m, const std::string& pre_hash,
                                   Reporter& reporter, InstallResult result) {
  if (m) K3A_CHECK(place_payload(plan, *m, options.arch, reporter));
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
