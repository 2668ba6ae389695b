// JSON and YAML parsing into nlohmann::json, returning Result instead of throwing. YAML is
// converted to the same JSON model (plain scalars typed as YAML 1.2's core schema: null, bool,
// int, float; quoted scalars stay strings), so every component handles one document model.
// Dumps are deterministic: object keys are sorted. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

namespace core {

using Json = nlohmann::json;

Result<Json> parse_json(std::string_view text);
// One YAML document (an empty document gives null).
Result<Json> parse_yaml(std::string_view text);
// Every document of a multi-document YAML stream, empty documents skipped.
Result<std::vector<Json>> parse_yaml_all(std::string_view text);
// Compact, keys sorted.
std::string dump_json(const Json& value);
// Indented by two spaces, keys sorted, trailing newline.
std::string dump_json_pretty(const Json& value);

}  // namespace core
