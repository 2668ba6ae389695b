// k3s-airgap: the air-gap toolkit's composition root. Subcommands live in cli/*_cmd.cc.
#include <clocale>
#include <cstdio>

#include "cli/commands.h"
#include "cli/version.h"
#include "core/base/log.h"
#include "core/serde/json.h"

namespace cli {

void Output::result(const nlohmann::json& value, const std::function<std::string()>& text) {
  std::string s = json ? core::dump_json_pretty(value) : text();
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

void Runner::run(const std::function<core::Result<void>(Output&)>& command) {
  Output output;
  output.json = format == "json";
  core::Result<void> r;
  try {
    r = command(output);
  } catch (const std::exception& e) {
    r = core::fail(core::Errc::kInternal, std::string("unexpected error: ") + e.what());
  }
  if (!r) {
    std::fprintf(stderr, "%s%s\n", error_prefix.c_str(), r.error().message().c_str());
    exit_code = core::errc_exit_code(r.error().code());
  }
}

void add_output_flag(CLI::App* cmd, Runner& runner) {
  cmd->add_option("-o,--output", runner.format, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
}

void add_format_flag(CLI::App* cmd, Runner& runner) {
  cmd->add_option("--format", runner.format, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}));
}

}  // namespace cli

int main(int argc, char** argv) {
  CLI::App app{"k3s-airgap: signed, reproducible air-gap bundles for k3s", "k3s-airgap"};
  app.set_version_flag("--version", std::string("k3s-airgap ") + cli::kVersion);
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging");
  cli::Runner runner;
  cli::register_key_commands(app, runner);
  cli::register_bundle_commands(app, runner);
  cli::register_images_commands(app, runner);
  cli::register_install_commands(app, runner);
  cli::register_mirror_commands(app, runner);
  // Words after `--` are handed to the command untouched (install passes them to k3s).
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      runner.passthrough.assign(argv + i + 1, argv + argc);
      argc = i;
      break;
    }
  }
  app.parse_complete_callback([&] {
    if (verbose) core::log::set_level(core::log::Level::kDebug);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return runner.exit_code;
}
