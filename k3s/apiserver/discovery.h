// Discovery and OpenAPI documents built from the resource table: aggregated discovery
// (apidiscovery.k8s.io/v2), legacy discovery (APIVersions, APIGroupList, APIResourceList) and
// the minimal OpenAPI v3 documents kubectl's validation needs (kube-api-surface.md 4.1, 4.2,
// 4.6). Pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "k3s/apiserver/resources.h"

namespace k3s::apiserver {

inline constexpr char kAggregatedDiscoveryType[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// Whether an Accept header asks for aggregated discovery v2.
bool wants_aggregated(const std::string& accept);
// core: /api (the core group) or /apis (every other group).
nlohmann::json aggregated_discovery(const ResourceTypes& types, bool core);
nlohmann::json legacy_api_versions(const std::string& server_address);
nlohmann::json legacy_group_list(const ResourceTypes& types);
// nullopt for an unknown group-version ("v1" for the core group, else "group/version").
std::optional<nlohmann::json> resource_list(const ResourceTypes& types,
                                            const std::string& group_version);
// Every group version; custom resources' documents carry their CRD's schema (kubectl explain).
nlohmann::json openapi_root(const ResourceTypes& types);
std::optional<nlohmann::json> openapi_document(const ResourceTypes& types,
                                               const std::string& gv_path);  // "api/v1"

}  // namespace k3s::apiserver
