// Service address allocation, done as upstream's service REST does it when a Service is
// written: a ClusterIP from the service CIDR (dynamic addresses from above the lower band that
// static ones like the cluster DNS address use), node ports from 30000-32767, and upstream's
// defaults (clusterIPs, ipFamilies, protocols, target ports). Explicit addresses and ports are
// checked for range and collisions. Updates keep what was allocated. Thread-safe as the
// backend is; concurrent creates may race for one address (the later write is not refused).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "k3s/datastore/backend.h"

namespace k3s::apiserver {

// Fills a new Service's addresses and defaults; the Invalid message (422) when it cannot.
std::optional<std::string> allocate_service(datastore::Backend& store,
                                            const std::string& service_cidr,
                                            nlohmann::json& service);
// Carries a Service's allocated addresses over to its replacement where it omits them.
void keep_service_allocations(const nlohmann::json& previous, nlohmann::json& service);

}  // namespace k3s::apiserver
