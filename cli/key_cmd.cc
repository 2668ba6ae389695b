// `k3s-airgap key generate`: an ECDSA P-256 signing key pair for bundles.
#include <sys/stat.h>

#include "cli/commands.h"
#include "core/crypto/keys.h"
#include "core/fs/atomic_file.h"
#include "core/fs/files.h"

namespace cli {

namespace {
struct KeyGenerateArgs {
  std::string out_dir = ".";
  bool force = false;
};

core::Result<void> key_generate(const KeyGenerateArgs& args, Output& output) {
  std::string key_path = core::join_path(args.out_dir, "bundle.key");
  std::string pub_path = core::join_path(args.out_dir, "bundle.pub");
  if (!args.force && (core::path_exists(key_path) || core::path_exists(pub_path))) {
    return core::failf(core::Errc::kAlreadyExists,
                       "{} or {} exists; refusing to overwrite a key (use --force)", key_path,
                       pub_path);
  }
  K3A_CHECK(core::make_dirs(args.out_dir, 0700));
  core::PrivateKey key = K3A_TRY(core::PrivateKey::generate());
  K3A_CHECK(core::write_file_atomic(key_path, key.to_pem(), 0600));
  K3A_CHECK(core::write_file_atomic(pub_path, key.public_key().to_pem(), 0644));
  output.result(
      {{"private_key", key_path}, {"public_key", pub_path}, {"key_id", key.public_key().key_id()}},
      [&] {
        return fmt::format("wrote {} (keep it secret) and {}\nkey id {}\n", key_path, pub_path,
                           key.public_key().key_id());
      });
  return {};
}
}  // namespace

void register_key_commands(CLI::App& app, Runner& runner) {
  auto* key = app.add_subcommand("key", "Manage bundle signing keys");
  key->require_subcommand(1);
  auto args = std::make_shared<KeyGenerateArgs>();
  auto* gen = key->add_subcommand("generate", "Write bundle.key (0600) and bundle.pub");
  gen->add_option("--out", args->out_dir, "Directory for the key pair")->capture_default_str();
  gen->add_flag("--force", args->force, "Overwrite an existing key pair");
  add_output_flag(gen, runner);
  gen->callback(
      [args, &runner] { runner.run([args](Output& o) { return key_generate(*args, o); }); });
}

}  // namespace cli
