// k3s's config file: /etc/rancher/k3s/config.yaml (or --config/-c, or K3S_CONFIG_FILE) plus
// the drop-ins <config>.d/*.yaml|*.yml in name order, turned into command-line flags the way
// upstream does (k3s-facts.md 4.9): keys are long flag names; lists become repeated flags;
// the last value of a key wins, and `key+:` appends to the list before it; the flags go right
// after the subcommand, before the user's own arguments, so the command line wins (a list
// flag given on the command line replaces the file's list). Keys the subcommand does not
// know are dropped with upstream's warning. Pure functions over file contents.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace k3s::config {

struct FlagSpec {
  std::set<std::string> known;  // long names the subcommand accepts
  std::set<std::string> lists;  // of which repeatable
  // short alias → long name ("d" → "data-dir"), to see flags given on the command line
  std::vector<std::pair<std::string, std::string>> aliases;
};

// The config file the command line, environment and defaults select: --config/-c from args,
// else K3S_CONFIG_FILE (env wins over the flag when both are set, as upstream), else the default.
std::string config_path(const std::vector<std::string>& args, const char* env_value);

// Reads the config file and its drop-ins (a missing main file is fine when drop-ins exist, and
// so is no file at all) and returns `args` with the file's flags inserted before them.
// `warn` receives upstream's "Unknown flag --x found in config.yaml, skipping" lines.
core::Result<std::vector<std::string>> merge_config(const std::string& path,
                                                    const std::vector<std::string>& args,
                                                    const FlagSpec& spec,
                                                    const std::function<void(std::string)>& warn);

}  // namespace k3s::config
