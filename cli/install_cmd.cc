// `k3s-airgap install` and `uninstall`: upstream install.sh's interface over the installer
// library. Words after `--` are k3s arguments (install.sh passes its own arguments there).
#include <cstdio>

#include "cli/commands.h"
#include "core/base/time.h"
#include "installer/install.h"
#include "installer/preflight.h"

namespace cli {
namespace {

struct InstallArgs {
  std::string bundle;
  std::string root;
  installer::InstallOptions options;
  std::vector<std::string> skip_preflight;
  bool rollback = false;
};

// Upstream's log shape: "[INFO]  message" on stdout, "[WARN]  message" on stderr. With -o json
// the info lines move to stderr so that stdout holds only the JSON.
class PrintReporter : public installer::Reporter {
 public:
  explicit PrintReporter(bool json) : info_(json ? stderr : stdout) {}
  void info(std::string_view m) override {
    std::fprintf(info_, "[INFO]  %.*s\n", int(m.size()), m.data());
  }
  void warn(std::string_view m) override {
    std::fprintf(stderr, "[WARN]  %.*s\n", int(m.size()), m.data());
  }

 private:
  FILE* info_;
};

std::string root_from(const std::string& flag) {
  std::string root = flag;
  if (root.empty()) {
    if (const char* env = std::getenv("INSTALL_K3S_ROOT")) root = env;
  }
  while (root.size() > 1 && root.ends_with('/')) root.pop_back();
  return root == "/" ? "" : root;
}

nlohmann::json result_json(const installer::InstallResult& r) {
  nlohmann::json j = {{"staged", r.staged}, {"changed", r.changed}, {"started", r.started}};
  if (!r.downloaded.empty()) j["downloaded"] = r.downloaded;
  if (r.installed) {
    j["installed"] = {{"id", r.installed->id},
                      {"name", r.installed->name},
                      {"sequence", r.installed->sequence},
                      {"digest", r.installed->digest},
                      {"k3s_version", r.installed->k3s_version}};
  }
  return j;
}

core::Result<void> run_install(InstallArgs& args, const std::vector<std::string>& words,
                               Output& output) {
  std::string root = root_from(args.root);
  if (!root.empty() && !root.starts_with('/')) {
    return core::fail(core::Errc::kInvalid, "--root must be an absolute path");
  }
  auto env = installer::current_environment();
  installer::Plan plan = K3A_TRY(installer::make_plan(env, words, root));
  auto& opts = args.options;
  opts.bundle = args.bundle;
  opts.skip_preflight = {args.skip_preflight.begin(), args.skip_preflight.end()};
  opts.arch = K3A_TRY(installer::host_arch(env));
  opts.now = core::system_now();
  PrintReporter reporter(output.json);
  installer::InstallResult r = args.rollback ? K3A_TRY(installer::rollback(plan, opts, reporter))
                                             : K3A_TRY(installer::install(plan, opts, reporter));
  output.result(result_json(r), [] { return std::string(); });
  return {};
}

}  // namespace

void register_install_commands(CLI::App& app, Runner& runner) {
  auto args = std::make_shared<InstallArgs>();
  auto* cmd = app.add_subcommand(
      "install", "Install k3s from a bundle with install.sh's interface (k3s args after --)");
  cmd->add_option("bundle", args->bundle,
                  "A bundle (.tar.zst) or an unpacked bundle directory; none: download through "
                  "INSTALL_K3S_MIRROR_URL/ARTIFACT_URL, or INSTALL_K3S_SKIP_DOWNLOAD");
  cmd->add_option("--trust", args->options.trust,
                  "Trusted public key (repeatable; default /etc/rancher/k3s/airgap/trust/*.pub)");
  cmd->add_option("--threshold", args->options.threshold, "Signatures required")
      ->capture_default_str();
  cmd->add_option("--root", args->root, "Install into this directory tree (env INSTALL_K3S_ROOT)");
  cmd->add_flag("--insecure-skip-verify", args->options.insecure_skip_verify,
                "Install an unsigned or untrusted bundle (contents still checked)");
  cmd->add_flag("--allow-downgrade", args->options.allow_downgrade,
                "Install a bundle with a lower sequence than the installed one");
  cmd->add_flag("--allow-expired", args->options.allow_expired, "Install an expired bundle");
  cmd->add_flag("--rollback", args->rollback, "Switch back to the previously installed bundle");
  cmd->add_flag("--supervise", args->options.supervise,
                "No init system: run k3s in the background with a pidfile and log");
  cmd->add_option("--ready-timeout", args->options.ready_timeout_s,
                  "With --supervise and Type=notify: seconds k3s has to report ready")
      ->capture_default_str();
  cmd->add_option("--skip-preflight", args->skip_preflight,
                  "Skip a check: arch, disk, route, resolv, cgroups, modules, selinux");
  add_output_flag(cmd, runner);
  cmd->callback([args, &runner] {
    runner.error_prefix = "[ERROR]  ";
    runner.run([args, &runner](Output& o) { return run_install(*args, runner.passthrough, o); });
  });

  auto root = std::make_shared<std::string>();
  auto* un = app.add_subcommand("uninstall", "Remove k3s as <name>-uninstall.sh does");
  un->add_option("--root", *root, "The tree an install --root wrote (env INSTALL_K3S_ROOT)");
  un->callback([root, &runner] {
    runner.error_prefix = "[ERROR]  ";
    runner.run([root, &runner](Output& o) -> core::Result<void> {
      installer::Plan plan = K3A_TRY(installer::make_plan(installer::current_environment(),
                                                          runner.passthrough, root_from(*root)));
      PrintReporter reporter(o.json);
      return installer::uninstall(plan, reporter);
    });
  });
}

}  // namespace cli
