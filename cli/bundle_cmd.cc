// `k3s-airgap bundle create|sign`: building and co-signing bundles.
#include <fcntl.h>

#include <cstdlib>
#include <thread>

#include "bundler/planner.h"
#include "bundler/reproducible.h"
#include "bundler/sign.h"
#include <unistd.h>

#include <cerrno>

#include "cli/commands.h"
#include "installer/scripts.h"
#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/keys.h"
#include "core/fs/files.h"

namespace cli {
namespace {

struct CreateArgs {
  std::string spec;
  std::string out;
  std::vector<std::string> keys;
  std::string lock;
  bool from_lock = false;
  std::string check_reproducible;
  std::string registries;
  std::string cache_dir;
};

core::ZstdParams zstd_params(int level) {
  return {.level = level,
          .window_log = 27,
          .workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};
}

core::Result<std::vector<core::PrivateKey>> load_keys(const std::vector<std::string>& paths) {
  std::vector<core::PrivateKey> keys;
  for (const auto& path : paths) {
    std::string pem = K3A_TRY(core::read_file(path, 64 << 10));
    auto key = core::PrivateKey::from_pem(pem);
    if (!key) return std::unexpected(std::move(key.error()).context(path));
    keys.push_back(std::move(*key));
  }
  return keys;
}

core::Result<std::optional<int64_t>> source_date_epoch() {
  const char* sde = std::getenv("SOURCE_DATE_EPOCH");
  if (!sde || !*sde) return std::optional<int64_t>();
  auto v = core::parse_u64(sde);
  if (!v) return core::failf(core::Errc::kInvalid, "SOURCE_DATE_EPOCH={} is not a number", sde);
  return std::optional<int64_t>(static_cast<int64_t>(*v));
}

// This binary's path, so that bundles carry the k3s-airgap that made them.
core::Result<std::string> self_path() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf);
  if (n <= 0 || n == sizeof buf) return core::fail_errno(errno, "readlink /proc/self/exe");
  return std::string(buf, n);
}

std::string default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/k3s-airgap";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/k3s-airgap";
  return "/var/cache/k3s-airgap";
}

core::Result<void> create(const CreateArgs& args, Output& output) {
  bundler::BundleSpec spec = K3A_TRY(bundler::load_spec(args.spec));
  std::string lock_path =
      args.lock.empty() ? core::join_path(spec.dir, "bundle.lock.json") : args.lock;
  std::optional<bundler::BundleLock> lock;
  if (args.from_lock) {
    auto parsed = bundler::parse_lock(K3A_TRY(core::read_file(lock_path, 16 << 20)));
    if (!parsed) return std::unexpected(std::move(parsed.error()).context(lock_path));
    lock = std::move(*parsed);
  }
  std::vector<core::PrivateKey> keys = K3A_TRY(load_keys(args.keys));
  bundler::PlanOptions opts{
      .lock = lock ? &*lock : nullptr,
      .from_lock = args.from_lock,
      .source_date_epoch = K3A_TRY(source_date_epoch()),
      .now = core::system_now(),
      .cache_dir = args.cache_dir.empty() ? default_cache_dir() : args.cache_dir,
      .registries_file = args.registries,
      .installer_script = std::string(installer::scripts::kInstallSh),
      .self_binary = K3A_TRY(self_path())};
  bundler::Plan plan = K3A_TRY(bundler::plan_bundle(spec, opts));
  bundler::CreateOptions create_opts{.zstd = zstd_params(plan.lock.zstd_level)};
  for (const auto& k : keys) create_opts.keys.push_back(&k);
  auto result =
      K3A_TRY(bundler::create_bundle_file(args.out, plan.manifest, plan.files, create_opts));
  if (!args.from_lock)
    K3A_CHECK(core::write_file_atomic(lock_path, bundler::serialize_lock(plan.lock)));
  nlohmann::json j{{"bundle", args.out},
                   {"signature", args.out + ".sig"},
                   {"bytes", result.bytes},
                   {"sha256", result.sha256},
                   {"files", plan.manifest.files.size()},
                   {"images", plan.manifest.images.size()},
                   {"lock", lock_path}};
  std::string repro;
  if (!args.check_reproducible.empty()) {
    auto diffs = K3A_TRY(bundler::compare_bundle_entries(args.check_reproducible, args.out));
    j["reproducible"] = diffs.empty();
    j["differences"] = diffs;
    repro = diffs.empty()
                ? fmt::format("reproducible: every entry of {} matches {} (signatures aside)\n",
                              args.out, args.check_reproducible)
                : fmt::format("NOT reproducible: {}\n", fmt::join(diffs, "; "));
  }
  output.result(j, [&] {
    return fmt::format(
        "wrote {} ({}, {} files, {} images)\n  sha256 {}\n  signature {}.sig\n  lock {}\n{}",
        args.out, core::human_bytes(result.bytes), plan.manifest.files.size(),
        plan.manifest.images.size(), result.sha256, args.out, lock_path, repro);
  });
  if (!args.check_reproducible.empty() && !j["reproducible"].get<bool>()) {
    return core::fail(core::Errc::kIntegrity,
                      "the rebuilt bundle differs from " + args.check_reproducible);
  }
  return {};
}

struct SignArgs {
  std::string bundle;
  std::string key;
};

core::Result<void> sign(const SignArgs& args, Output& output) {
  auto keys = K3A_TRY(load_keys({args.key}));
  auto r = K3A_TRY(bundler::add_signature(args.bundle, keys[0], zstd_params(3)));
  output.result({{"bundle", args.bundle},
                 {"signatures", r.signatures},
                 {"sha256", r.sha256},
                 {"key_id", keys[0].public_key().key_id()}},
                [&] {
                  return fmt::format(
                      "{} now carries {} signature(s); added key {}\n"
                      "{}.sig re-signed by that key (sha256 {})\n",
                      args.bundle, r.signatures, keys[0].public_key().key_id().substr(0, 16),
                      args.bundle, r.sha256);
                });
  return {};
}

}  // namespace

void register_bundle_create(CLI::App* bundle, Runner& runner) {
  auto args = std::make_shared<CreateArgs>();
  auto* c = bundle->add_subcommand("create", "Build a signed, reproducible bundle from a spec");
  c->add_option("-f,--file", args->spec, "Bundle spec (bundle.yaml)")->required();
  c->add_option("-o,--output", args->out, "Output bundle (.tar.zst)")->required();
  c->add_option("--sign-key", args->keys, "Signing key (PEM); repeat for more signatures")
      ->required();
  c->add_option("--lock", args->lock, "Lock file (default: bundle.lock.json beside the spec)");
  c->add_flag("--from-lock", args->from_lock, "Rebuild exactly what the lock pins");
  c->add_option("--check-reproducible", args->check_reproducible,
                "Compare the new bundle's entries with an existing bundle");
  c->add_option("--registries", args->registries, "registries.yaml for pulls (overrides the spec)");
  c->add_option("--cache-dir", args->cache_dir, "Download cache");
  add_format_flag(c, runner);
  c->callback([args, &runner] { runner.run([args](Output& o) { return create(*args, o); }); });

  auto sargs = std::make_shared<SignArgs>();
  auto* s = bundle->add_subcommand("sign", "Add a signature from another key to a bundle");
  s->add_option("bundle", sargs->bundle, "Bundle file")->required();
  s->add_option("--key", sargs->key, "Signing key (PEM)")->required();
  add_output_flag(s, runner);
  s->callback([sargs, &runner] { runner.run([sargs](Output& o) { return sign(*sargs, o); }); });
}

}  // namespace cli
