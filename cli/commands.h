// k3s-airgap's command table: each file registers its subcommands on the CLI11 app and runs
// them through a Runner, which owns the output format and turns a failed Result into one error
// line and an exit code. Only cli/ sees CLI11, argv and exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace cli {

// Human text or JSON (`-o json`) for one command's result.
class Output {
 public:
  bool json = false;
  // Prints JSON when -o json, else the text the function returns.
  void result(const nlohmann::json& value, const std::function<std::string()>& text);
};

class Runner {
 public:
  std::string format = "text";
  std::string error_prefix = "k3s-airgap: ";
  std::vector<std::string> passthrough;  // the words after `--`
  int exit_code = 0;
  void run(const std::function<core::Result<void>(Output&)>& command);
};

// `-o, --output text|json` for read-only commands.
void add_output_flag(CLI::App* cmd, Runner& runner);
// `--format text|json` for commands whose -o names an output file.
void add_format_flag(CLI::App* cmd, Runner& runner);

void register_key_commands(CLI::App& app, Runner& runner);
void register_bundle_commands(CLI::App& app, Runner& runner);
void register_bundle_create(CLI::App* bundle, Runner& runner);
void register_images_commands(CLI::App& app, Runner& runner);
void register_install_commands(CLI::App& app, Runner& runner);
void register_mirror_commands(CLI::App& app, Runner& runner);

}  // namespace cli
