// Manifest files as k3s's deploy controller reads them: multi-document YAML or JSON (empty
// documents skipped, `List` kinds flattened); the packaged manifests staged into
// <data-dir>/server/manifests with upstream's %{...}% variables substituted and disabled
// components left out. Pure except stage_manifests(), which writes files.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "k3s/deploy/packaged.h"

namespace k3s::deploy {

// The objects of a manifest file. kInvalid naming the document that does not parse or is not
// an object with apiVersion and kind.
core::Result<std::vector<nlohmann::json>> parse_manifest(std::string_view text);

// Every "%{NAME}%" of `vars` replaced by its value (byte replace, as upstream does).
std::string substitute_variables(std::string text, const std::map<std::string, std::string>& vars);

// Whether the manifest at `relative` (e.g. "metrics-server/service.yaml") belongs to a
// disabled component: its name without extension or one of its parent directories is listed.
bool disabled(const std::string& relative, const std::set<std::string>& names);

// A path under the manifests directory and its text, with %{...}% variables.
using PackagedFile = packaged::File;
// The manifests that ship inside k3s.
std::span<const PackagedFile> packaged_manifests();

// Writes each packaged file that is not disabled under `dir` (0600, parent directories 0700),
// with the variables substituted; they are rewritten at every start, as upstream's are.
core::Result<void> stage_manifests(const std::string& dir, std::span<const PackagedFile> files,
                                   const std::map<std::string, std::string>& vars,
                                   const std::set<std::string>& disabled_names);

}  // namespace k3s::deploy
