// Server-side Tables (meta.k8s.io/v1) with upstream's default columns per kind (pods, nodes,
// namespaces, workloads, services, config, events, CRDs; Name and Age for the rest), as
// `kubectl get` prints them. Pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "k3s/apiserver/resources.h"

namespace k3s::apiserver {

nlohmann::json make_table(const ResourceType& type, const std::vector<nlohmann::json>& objects,
                          const std::string& resource_version, const std::string& continue_token,
                          int64_t now, bool with_columns = true);
// kubectl's age format (5s, 3m20s, 2d3h, ...).
std::string human_age(int64_t seconds);

}  // namespace k3s::apiserver
