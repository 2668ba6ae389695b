// `k3s-airgap bundle verify|inspect|diff`: the read-only bundle commands.
#include <fcntl.h>

#include <map>
#include <set>

#include "bundler/format/signatures.h"
#include "bundler/format/verifier.h"
#include "cli/commands.h"
#include "core/base/progress.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"

namespace cli {
namespace {

using bundler::BundleManifest;

struct VerifyArgs {
  std::string bundle;
  std::vector<std::string> trust;
  int threshold = 1;
  bool allow_expired = false;
};

nlohmann::json manifest_summary(const BundleManifest& m) {
  return {{"name", m.name},
          {"sequence", m.sequence},
          {"created", m.created},
          {"expires", m.expires ? nlohmann::json(*m.expires) : nlohmann::json()},
          {"k3s_version", m.k3s_version},
          {"arch", m.arch},
          {"files", m.files.size()},
          {"file_bytes", m.total_file_bytes()},
          {"images", m.images.size()}};
}

core::Result<std::string> check_detached(const std::string& bundle, const bundler::VerifyReport& r,
                                         const std::vector<core::PublicKey>& keys) {
  std::string sig_path = bundle + ".sig";
  if (!core::path_exists(sig_path)) return std::string("absent");
  std::string contents = K3A_TRY(core::read_file(sig_path, 4096));
  auto key = bundler::check_detached_signature(contents, r.compressed_digest, keys);
  if (!key) return std::unexpected(std::move(key.error()).context(sig_path));
  return "valid (key " + key->substr(0, 16) + ")";
}

core::Result<void> verify(const VerifyArgs& args, Output& output) {
  if (args.trust.empty())
    return core::fail(core::Errc::kInvalid, "bundle verify needs --trust KEY.pub");
  bundler::VerifyOptions opts{.trusted = K3A_TRY(bundler::load_trusted_keys(args.trust)),
                              .threshold = args.threshold,
                              .allow_expired = args.allow_expired,
                              .now = core::system_now()};
  if (opts.threshold < 1) return core::fail(core::Errc::kInvalid, "--threshold must be at least 1");
  core::Fd fd = K3A_TRY(core::Fd::open(args.bundle, O_RDONLY));
  core::FdSource file_src(fd);
  core::Progress progress("verifying " + core::base_name(args.bundle), K3A_TRY(fd.size()));
  core::ProgressSource src(file_src, progress);
  auto report = bundler::verify_bundle(src, opts);
  progress.finish();
  if (!report) return std::unexpected(std::move(report.error()).context(args.bundle));
  std::string detached = K3A_TRY(check_detached(args.bundle, *report, opts.trusted));
  nlohmann::json j = manifest_summary(report->manifest);
  j["verified"] = true;
  j["signed_by"] = report->signed_by;
  j["expired"] = report->expired;
  j["image_blobs"] = report->image_blobs;
  j["bundle_bytes"] = report->compressed_bytes;
  j["detached_signature"] = detached;
  output.result(j, [&] {
    const BundleManifest& m = report->manifest;
    return fmt::format(
        "OK {}: bundle {} sequence {} (k3s {}, {})\n  {} files, {}; {} images, {} blobs checked\n"
        "  signed by {} of {} required trusted key(s): {}\n  detached signature: {}{}\n",
        args.bundle, m.name, m.sequence, m.k3s_version, fmt::join(m.arch, ","), m.files.size(),
        core::human_bytes(m.total_file_bytes()), m.images.size(), report->image_blobs,
        report->signed_by.size(), args.threshold, fmt::join(report->signed_by, ", "), detached,
        report->expired ? "\n  WARNING: expired at " + *m.expires : "");
  });
  return {};
}

core::Result<bundler::BundleManifest> read_manifest(const std::string& path,
                                                    std::vector<std::string>* key_ids = nullptr) {
  core::Fd fd = K3A_TRY(core::Fd::open(path, O_RDONLY));
  core::FdSource src(fd);
  auto header = bundler::read_bundle_header(src);
  if (!header) return std::unexpected(std::move(header.error()).context(path));
  if (key_ids) {
    for (const auto& s : K3A_TRY(bundler::parse_signatures(header->signatures_json))) {
      key_ids->push_back(s.key_id);
    }
  }
  auto m = bundler::parse_manifest(header->manifest_json);
  if (!m) return std::unexpected(std::move(m.error()).context(path));
  return m;
}

core::Result<void> inspect(const std::string& path, Output& output) {
  std::vector<std::string> key_ids;
  BundleManifest m = K3A_TRY(read_manifest(path, &key_ids));
  nlohmann::json j = manifest_summary(m);
  j["signature_key_ids"] = key_ids;
  j["file_list"] = nlohmann::json::array();
  for (const auto& f : m.files) {
    j["file_list"].push_back({{"path", f.path},
                              {"size", f.size},
                              {"sha256", f.sha256},
                              {"mode", bundler::mode_string(f.mode)},
                              {"role", bundler::role_name(f.role)}});
  }
  j["image_list"] = nlohmann::json::array();
  for (const auto& i : m.images) {
    j["image_list"].push_back(
        {{"reference", i.reference}, {"digest", i.digest}, {"platforms", i.platforms}});
  }
  output.result(j, [&] {
    std::string s = fmt::format(
        "bundle {} sequence {}  k3s {}  arch {}\ncreated {}{}\nsignatures by: {}\n\nFILES\n",
        m.name, m.sequence, m.k3s_version, fmt::join(m.arch, ","), m.created,
        m.expires ? "  expires " + *m.expires : "", fmt::join(key_ids, ", "));
    for (const auto& f : m.files) {
      s += fmt::format("  {:<48} {:>10}  {}  {}\n", f.path, core::human_bytes(f.size),
                       bundler::mode_string(f.mode), bundler::role_name(f.role));
    }
    s += "\nIMAGES\n";
    for (const auto& i : m.images) s += fmt::format("  {}@{}\n", i.reference, i.digest);
    return s + "\n(signatures and contents not checked: use `bundle verify`)\n";
  });
  return {};
}

}  // namespace

core::Result<void> bundle_diff(const std::string& a, const std::string& b, Output& output);

void register_bundle_commands(CLI::App& app, Runner& runner) {
  auto* bundle = app.add_subcommand("bundle", "Create, verify, inspect, compare and sign bundles");
  bundle->require_subcommand(1);
  register_bundle_create(bundle, runner);

  auto vargs = std::make_shared<VerifyArgs>();
  auto* v = bundle->add_subcommand("verify", "Verify signatures and every byte of a bundle");
  v->add_option("bundle", vargs->bundle, "Bundle file")->required();
  v->add_option("--trust", vargs->trust, "Trusted public key (PEM); repeatable");
  v->add_option("--threshold", vargs->threshold, "Distinct trusted signatures required")
      ->capture_default_str();
  v->add_flag("--allow-expired", vargs->allow_expired, "Accept a bundle past its expiry date");
  add_output_flag(v, runner);
  v->callback([vargs, &runner] { runner.run([vargs](Output& o) { return verify(*vargs, o); }); });

  auto ipath = std::make_shared<std::string>();
  auto* i = bundle->add_subcommand("inspect", "Show what a bundle holds (without verifying)");
  i->add_option("bundle", *ipath, "Bundle file")->required();
  add_output_flag(i, runner);
  i->callback([ipath, &runner] { runner.run([ipath](Output& o) { return inspect(*ipath, o); }); });

  auto dargs = std::make_shared<std::pair<std::string, std::string>>();
  auto* d = bundle->add_subcommand("diff", "Compare two bundles");
  d->add_option("a", dargs->first, "Old bundle")->required();
  d->add_option("b", dargs->second, "New bundle")->required();
  add_output_flag(d, runner);
  d->callback([dargs, &runner] {
    runner.run([dargs](Output& o) { return bundle_diff(dargs->first, dargs->second, o); });
  });
}

core::Result<void> bundle_diff(const std::string& a, const std::string& b, Output& output) {
  BundleManifest ma = K3A_TRY(read_manifest(a));
  BundleManifest mb = K3A_TRY(read_manifest(b));
  std::map<std::string, const bundler::FileRecord*> fa, fb;
  for (const auto& f : ma.files) fa[f.path] = &f;
  for (const auto& f : mb.files) fb[f.path] = &f;
  nlohmann::json files = {{"added", nlohmann::json::array()},
                          {"removed", nlohmann::json::array()},
                          {"changed", nlohmann::json::array()}};
  for (const auto& [p, f] : fb) {
    if (!fa.count(p))
      files["added"].push_back(p);
    else if (fa[p]->sha256 != f->sha256)
      files["changed"].push_back(p);
  }
  for (const auto& [p, f] : fa) {
    if (!fb.count(p)) files["removed"].push_back(p);
  }
  std::map<std::string, std::string> ia, ib;
  for (const auto& i : ma.images) ia[i.reference] = i.digest;
  for (const auto& i : mb.images) ib[i.reference] = i.digest;
  nlohmann::json images = {{"added", nlohmann::json::array()},
                           {"removed", nlohmann::json::array()},
                           {"changed", nlohmann::json::array()}};
  for (const auto& [r, d] : ib) {
    if (!ia.count(r))
      images["added"].push_back(r);
    else if (ia[r] != d)
      images["changed"].push_back(r);
  }
  for (const auto& [r, d] : ia) {
    if (!ib.count(r)) images["removed"].push_back(r);
  }
  int64_t delta =
      static_cast<int64_t>(mb.total_file_bytes()) - static_cast<int64_t>(ma.total_file_bytes());
  nlohmann::json j{
      {"a", {{"name", ma.name}, {"sequence", ma.sequence}, {"k3s_version", ma.k3s_version}}},
      {"b", {{"name", mb.name}, {"sequence", mb.sequence}, {"k3s_version", mb.k3s_version}}},
      {"files", files},
      {"images", images},
      {"byte_delta", delta}};
  output.result(j, [&] {
    std::string s = fmt::format("sequence {} -> {}\nk3s {} -> {}\n", ma.sequence, mb.sequence,
                                ma.k3s_version, mb.k3s_version);
    for (const char* kind : {"added", "removed", "changed"}) {
      for (const auto& p : files[kind])
        s += fmt::format("file  {:<8} {}\n", kind, p.get<std::string>());
      for (const auto& r : images[kind])
        s += fmt::format("image {:<8} {}\n", kind, r.get<std::string>());
    }
    return s + fmt::format("bytes {:+} ({})\n", delta,
                           core::human_bytes(static_cast<uint64_t>(std::abs(delta))));
  });
  return {};
}

}  // namespace cli
