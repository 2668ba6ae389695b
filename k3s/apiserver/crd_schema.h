// A custom resource checked against its version's structural schema (openAPIV3Schema), as
// upstream's apiextensions server does: defaults filled in, fields the schema does not declare
// pruned (unless x-kubernetes-preserve-unknown-fields), then types, required fields, enums,
// bounds, lengths and patterns validated. Pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace k3s::apiserver {

struct SchemaCheck {
  std::vector<std::string> pruned;  // paths removed as unknown ("spec.colour")
  std::vector<std::string> errors;  // upstream's field errors ("spec.size: Invalid value: ...")
};

// Defaults, prunes and validates `object` in place. apiVersion, kind and metadata are left to
// the API's own rules.
SchemaCheck check_custom_resource(nlohmann::json& object, const nlohmann::json& schema);

}  // namespace k3s::apiserver
