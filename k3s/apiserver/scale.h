// The scale subresource's view of a workload (autoscaling/v1 Scale) and the label selector
// text it and `kubectl get -o wide` show. Pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "k3s/apiserver/resources.h"

namespace k3s::apiserver {

// A LabelSelector (matchLabels, matchExpressions) or a plain map (ReplicationController) as
// upstream prints it: "app=web,tier in (a,b),!canary"; "" when it selects everything.
std::string format_label_selector(const nlohmann::json& selector);

// The Scale of a deployment, replica set, stateful set, replication controller or custom
// resource: its metadata, the replicas at the type's paths and the selector.
nlohmann::json to_scale(const ResourceType& type, const nlohmann::json& object);
// The object with the Scale's spec.replicas written at the type's path.
nlohmann::json from_scale(const ResourceType& type, nlohmann::json object, int64_t replicas);

}  // namespace k3s::apiserver
