// Strategic merge patch (application/strategic-merge-patch+json) for the built-in kinds, as
// kubectl's apply, edit, set, rollout and cordon send it: maps merge recursively and null deletes
// a key; lists with a merge key (containers by name, ports by containerPort, volumeMounts by
// mountPath, conditions by type ...) merge element by element; lists upstream marks "merge"
// without a key (finalizers) are unions; every other list is replaced. Directives: `$patch:
// replace|delete|merge` on maps and list elements, `$retainKeys`, `$setElementOrder/<list>`,
// `$deleteFromPrimitiveList/<list>`. Pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/base/error.h"

namespace k3s::apiserver {

// Upstream's patch metadata for field `name` of a value of `type` (a kind, or an inner type
// name these functions hand out): the field's own type, and for lists the merge key ("" for a
// set of primitives) and whether they merge at all (else they are atomic).
struct PatchField {
  std::string type;
  std::string key;
  bool merge = false;
};
PatchField patch_field(const std::string& type, const std::string& name);

// Applies `patch` to `original`, an object of `kind` (e.g. "Deployment"). Kinds without upstream
// patch metadata merge maps and replace lists. kInvalid, naming the place, for a malformed patch
// (an element without its merge key, an unknown $patch value, a directive of the wrong shape).
core::Result<nlohmann::json> strategic_merge(const nlohmann::json& original,
                                             const nlohmann::json& patch, const std::string& kind);

}  // namespace k3s::apiserver
