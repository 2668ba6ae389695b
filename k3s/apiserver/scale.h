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

// The Scale of a deployment, replica set, stateful set or replication controller: its
// metadata, spec.replicas and status.replicas with the selector.
nlohmann::json to_scale(const nlohmann::json& object);

}  // namespace k3s::apiserver
