#include "bundler/planner.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"

namespace bundler {
namespace {

using core::Errc;

PlannedFile generated(std::string path, std::string content, FileRole role, std::string arch = "") {
  PlannedFile f;
  f.record.path = std::move(path);
  f.record.size = content.size();
  f.record.sha256 = core::Sha256::hex_of(content);
  f.record.mode = 0644;
  f.record.role = role;
  f.record.arch = std::move(arch);
  f.content = std::move(content);
  return f;
}

// sha256sum-<arch>.txt in upstream's format: "<sha256>  <file name>" per artifact and archive.
void add_checksums(Plan& plan) {
  for (const std::string& arch : plan.manifest.arch) {
    std::vector<std::pair<std::string, std::string>> lines;
    for (const auto& f : plan.files) {
      const FileRecord& r = f.record;
      bool arch_file = r.role == FileRole::kImages && r.arch == arch;
      if (r.role == FileRole::kArtifact || arch_file)
        lines.emplace_back(core::base_name(r.path), r.sha256);
    }
    std::sort(lines.begin(), lines.end());
    std::string text;
    for (const auto& [name, sha] : lines) text += sha + "  " + name + "\n";
    plan.files.push_back(generated("sha256sum-" + arch + ".txt", text, FileRole::kChecksums, arch));
  }
}

core::Result<void> walk_manifests(const std::string& root, const std::string& rel, Plan& plan) {
  std::string dir = rel.empty() ? root : core::join_path(root, rel);
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return core::fail_errno(errno, dir);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    std::string path = core::join_path(root, child_rel);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return core::fail_errno(errno, path);
    if (S_ISDIR(st.st_mode)) {
      K3A_CHECK(walk_manifests(root, child_rel, plan));
    } else if (S_ISREG(st.st_mode)) {
      PlannedFile f;
      f.record = {.path = "manifests/" + child_rel,
                  .size = static_cast<uint64_t>(st.st_size),
                  .sha256 = K3A_TRY(core::sha256_file(path)),
                  .mode = 0644,
                  .role = FileRole::kManifest};
      K3A_CHECK(core::validate_entry_path(f.record.path));
      f.source_path = path;
      plan.files.push_back(std::move(f));
    } else {
      return core::failf(Errc::kInvalid,
                         "{}: manifests may only hold regular files and directories",
                         core::quote(path));
    }
  }
  return {};
}

}  // namespace

core::Result<void> plan_manifests(const BundleSpec& spec, Plan& plan) {
  if (spec.manifests_dir.empty()) return {};
  return walk_manifests(spec.manifests_dir, "", plan);
}

core::Result<Plan> plan_bundle(const BundleSpec& spec, const PlanOptions& options) {
  if (options.from_lock && !options.lock) {
    return core::fail(Errc::kInvalid, "--from-lock needs a lock file");
  }
  Plan plan;
  plan.lock.created = options.source_date_epoch ? *options.source_date_epoch
                      : options.from_lock       ? options.lock->created
                                                : options.now;
  plan.lock.zstd_level = options.from_lock ? options.lock->zstd_level : spec.zstd_level;
  plan.lock.k3s_version = K3A_TRY(resolve_k3s_version(spec, options));

  BundleManifest& m = plan.manifest;
  m.name = spec.name;
  m.sequence = spec.sequence;
  m.created = core::format_rfc3339(plan.lock.created);
  m.expires = spec.expires;
  m.k3s_version = plan.lock.k3s_version;
  m.arch = spec.arch;

  K3A_CHECK(plan_artifacts(spec, options, plan));
  K3A_CHECK(plan_images(spec, options, plan));
  K3A_CHECK(plan_manifests(spec, plan));
  K3A_CHECK(plan_installer(spec, options, plan));
  add_checksums(plan);
  for (const auto& f : plan.files) m.files.push_back(f.record);
  std::sort(m.files.begin(), m.files.end(),
            [](const FileRecord& a, const FileRecord& b) { return a.path < b.path; });
  for (size_t i = 1; i < m.files.size(); ++i) {
    if (m.files[i].path == m.files[i - 1].path) {
      return core::failf(Errc::kInvalid, "two files would be stored as {}", m.files[i].path);
    }
  }
  return plan;
}

}  // namespace bundler
