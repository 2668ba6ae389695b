// Server-side apply (application/apply-patch+yaml): each manager's fields are recorded in
// metadata.managedFields (FieldsV1) as upstream does; applying a field another manager owns
// with a different value is a conflict unless forced (then ownership moves); fields a manager
// applied before and no longer applies are removed when nobody else owns them. Lists merge by
// upstream's keys (containers by name, ...), sets of primitives by value; other lists are
// atomic. Pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace k3s::apiserver {

struct ApplyConflict {
  std::string manager;
  std::string api_version;
  std::string field;  // ".spec.replicas", ".spec.containers[name=\"web\"].image"
};

struct ApplyRequest {
  std::string kind, api_version;
  std::string manager;
  bool force = false;
  int64_t now = 0;  // seconds since the epoch, for the managedFields entry
};

// The object after applying `config` over `live` (null: the object does not exist yet), with
// its managedFields updated. On conflicts (and no force) fails with kConflict and fills
// `conflicts`.
core::Result<nlohmann::json> server_side_apply(const nlohmann::json& live,
                                               const nlohmann::json& config,
                                               const ApplyRequest& request,
                                               std::vector<ApplyConflict>* conflicts);

// managedFields after an ordinary write (create, update, patch) by `request.manager`
// (operation Update): it now owns every field it set to a new value; other managers lose those
// fields, and fields the write removed leave every set. `before` is null for a create. The
// entries are returned unchanged when the write changed no field.
nlohmann::json record_update(const nlohmann::json& before, const nlohmann::json& after,
                             const ApplyRequest& request);

// Upstream's message for a conflict set: `Apply failed with 1 conflict: conflict with "m" using
// apps/v1: .spec.replicas`.
std::string conflict_message(const std::vector<ApplyConflict>& conflicts);

}  // namespace k3s::apiserver
