// Deletion as upstream's registry does it: DeleteOptions (propagation policy, grace period,
// preconditions), finalizers that hold an object back until their controllers remove them, the
// deletionTimestamp that marks it meanwhile, graceful deletion of running pods, and namespaces
// that go Terminating until the namespace controller has emptied them. Pure functions over JSON
// objects; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/base/error.h"
#include "k3s/apiserver/resources.h"

namespace k3s::apiserver {

inline constexpr char kOrphanFinalizer[] = "orphan";
inline constexpr char kForegroundFinalizer[] = "foregroundDeletion";

struct DeleteOptions {
  std::string propagation;  // "Background" (also ""), "Foreground" or "Orphan"
  std::optional<int64_t> grace_seconds;
  std::string precondition_uid;
  std::string precondition_resource_version;
};

// From the query (propagationPolicy, gracePeriodSeconds, orphanDependents) and a DeleteOptions
// body, the body winning. kInvalid with upstream's message for an unknown policy or a body that
// is not a DeleteOptions object.
core::Result<DeleteOptions> parse_delete_options(const std::map<std::string, std::string>& query,
                                                 const std::string& body);

struct DeletePlan {
  bool remove_now = false;  // no finalizer or grace period holds the object back
  bool changed = false;     // `object` must be written (marked, or a finalizer added)
  nlohmann::json object;    // the object to write or, when removed, to answer with
};

// What deleting `object` (as stored, of type t) with `options` does at `now` (Unix seconds).
DeletePlan plan_delete(const ResourceType& t, nlohmann::json object, const DeleteOptions& options,
                       int64_t now);

// For a write of `o` over `prev`: keeps the deletion marks of `prev` (clients cannot set or
// clear them) and refuses finalizers added to an object being deleted. Returns the 422 cause,
// "" when the write may go on.
std::string keep_deletion_marks(const nlohmann::json& prev, nlohmann::json& o);

// True when `o` is marked for deletion and nothing holds it any more: no finalizers (for a
// namespace, no spec.finalizers either) and no grace period still running for a pod.
bool deletion_complete(const nlohmann::json& o);

}  // namespace k3s::apiserver
