// The defaults upstream's API server fills in on write, per kind: Secrets' stringData and
// type, Namespaces' name label and phase, Jobs' selector and counts (the controller-uid
// labels that tie a Job to its pods), CronJobs' policies and history limits. Pure.
#pragma once

#include <nlohmann/json.hpp>

#include "k3s/apiserver/resources.h"

namespace k3s::apiserver {

// Fills in `o` (an object of type t, with its uid already set) in place; idempotent.
void apply_defaults(const ResourceType& t, nlohmann::json& o);

}  // namespace k3s::apiserver
