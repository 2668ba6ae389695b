// The admission steps upstream always runs, for what users set: NamespaceLifecycle (no new
// objects in a terminating namespace), ServiceAccount defaulting of pods, Priority (a pod's
// PriorityClass resolved to its priority), LimitRanger (container
// defaults from LimitRanges, their minimums and maximums) and ResourceQuota (object counts and
// cpu/memory requests and limits against each quota's hard limits, with the quota's status
// brought up to date). Runs before an object is created; thread-safe as the backend is.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "k3s/apiserver/resources.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver {

struct AdmissionDenied {
  int code = 403;
  std::string reason = "Forbidden";
  std::string message;
};

// Admits (and may default) `object`, a new object of `type` in namespace `ns`. Returns why not
// (a missing namespace is NotFound, as upstream answers).
std::optional<AdmissionDenied> admit_create(datastore::Backend& store, const ResourceType& type,
                                            const std::string& ns, nlohmann::json& object);

// The steps for a new pod (admission_pods.cc): ServiceAccount defaulting and its token volume,
// DefaultTolerationSeconds, Priority. Returns why not.
std::optional<AdmissionDenied> admit_pod(datastore::Backend& store, const std::string& ns,
                                         nlohmann::json& pod);

// Lists the objects under a datastore key prefix (the store itself, or a controller's view).
using ObjectLister = std::function<std::vector<nlohmann::json>(const std::string& prefix)>;

// What a namespace uses of each resource a quota's spec.hard limits (object counts, cpu and
// memory requests and limits), formatted as upstream's quota status shows it.
nlohmann::json quota_used(const ObjectLister& objects, const std::string& ns,
                          const nlohmann::json& hard);

// A Kubernetes quantity ("500m", "1.5", "128Mi", "1G", "2e3") in base units; nullopt when
// malformed.
std::optional<double> parse_quantity(const std::string& text);

}  // namespace k3s::apiserver
