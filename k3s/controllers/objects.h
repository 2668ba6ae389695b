// What several controllers read from pods, selectors and templates: readiness and
// availability, label selectors (metav1.LabelSelector and node selector terms), quantities of
// resource requests, upstream's pod-template hash. Pure functions over JSON objects.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace k3s::controllers {

// Phase Succeeded or Failed.
bool pod_terminal(const nlohmann::json& pod);
// Not terminal and not being deleted: counts towards a workload's replicas.
bool pod_active(const nlohmann::json& pod);
// The Ready condition is True.
bool pod_ready(const nlohmann::json& pod);
// A node's Ready condition is True (the kubelet posts it as for pods).
inline bool node_ready(const nlohmann::json& node) { return pod_ready(node); }
// Ready for at least min_ready_seconds at `now` (Unix seconds).
bool pod_available(const nlohmann::json& pod, int64_t min_ready_seconds, int64_t now);

// One requirement: operators In, NotIn, Exists, DoesNotExist, Gt, Lt over `labels`.
bool requirement_matches(const nlohmann::json& requirement, const nlohmann::json& labels);
// A LabelSelector (matchLabels and matchExpressions, all must hold; an empty selector matches
// everything, a null one nothing) against an object's labels.
bool selector_matches(const nlohmann::json& selector, const nlohmann::json& labels);
nlohmann::json labels_of(const nlohmann::json& o);

// The first of a pod's tolerations that tolerates `taint` (key, operator Equal or Exists,
// value, effect), or null.
nlohmann::json matching_toleration(const nlohmann::json& tolerations, const nlohmann::json& taint);

// cpu in millicores, memory and storage in bytes; 0 when absent or malformed.
int64_t quantity_milli(const nlohmann::json& q);
int64_t quantity_value(const nlohmann::json& q);

// The pod-template-hash label's value for a template, as upstream computes it (FNV-32a of the
// template and the collision count, in its safe alphabet).
std::string template_hash(const nlohmann::json& pod_template, int64_t collision_count);

// An int-or-percent field (maxSurge, maxUnavailable) resolved against `total`, rounding up or
// down as upstream does.
int64_t scaled_value(const nlohmann::json& value, int64_t total, bool round_up);

// "now" in RFC 3339, from the system clock.
std::string now_rfc3339();

}  // namespace k3s::controllers
