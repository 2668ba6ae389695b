#include "k3s/apiserver/deletion.h"

#include <algorithm>

#include "core/base/time.h"
#include "core/serde/json.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

bool is_pod(const ResourceType& t) { return t.group.empty() && t.resource == "pods"; }
bool is_namespace(const ResourceType& t) { return t.group.empty() && t.resource == "namespaces"; }

bool non_empty_array(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_array() && !j[key].empty();
}

// The finalizers after a delete with `policy`: Orphan and Foreground add theirs and drop the
// other's; an explicit Background drops both.
void set_policy_finalizer(json& md, const std::string& policy) {
  if (policy.empty()) return;
  json list = md.value("finalizers", json::array());
  json out = json::array();
  for (const auto& f : list) {
    if (f != kOrphanFinalizer && f != kForegroundFinalizer) out.push_back(f);
  }
  if (policy == "Orphan") out.push_back(kOrphanFinalizer);
  if (policy == "Foreground") out.push_back(kForegroundFinalizer);
  if (out.empty()) {
    md.erase("finalizers");
  } else {
    md["finalizers"] = out;
  }
}

// A running pod gets its grace period (the kubelet finishes the deletion); a pod never
// scheduled or already finished goes at once.
int64_t grace_period(const ResourceType& t, const json& o, const DeleteOptions& options) {
  if (!is_pod(t)) return 0;
  const json& spec = o.value("spec", json::object());
  std::string phase = o.value("status", json::object()).value("phase", "");
  if (spec.value("nodeName", "").empty() || phase == "Succeeded" || phase == "Failed") return 0;
  if (options.grace_seconds) return std::max<int64_t>(0, *options.grace_seconds);
  return spec.value("terminationGracePeriodSeconds", int64_t{30});
}

}  // namespace

core::Result<DeleteOptions> parse_delete_options(const std::map<std::string, std::string>& query,
                                                 const std::string& body) {
  DeleteOptions o;
  auto read = [&](const std::string& key) -> std::optional<std::string> {
    auto it = query.find(key);
    if (it == query.end()) return std::nullopt;
    return it->second;
  };
  if (auto p = read("propagationPolicy")) o.propagation = *p;
  if (auto p = read("orphanDependents")) o.propagation = *p == "true" ? "Orphan" : "Background";
  if (auto g = read("gracePeriodSeconds")) {
    try {
      o.grace_seconds = std::stoll(*g);
    } catch (const std::exception&) {
      return core::failf(core::Errc::kInvalid, "invalid gracePeriodSeconds: {}", *g);
    }
  }
  if (!body.empty()) {
    auto parsed = core::parse_json(body);
    if (!parsed || !parsed->is_object()) {
      return core::failf(core::Errc::kInvalid, "the body of a delete is not a DeleteOptions: {}",
                         parsed ? "not an object" : parsed.error().message());
    }
    const json& b = *parsed;
    try {
      if (b.contains("orphanDependents") && b["orphanDependents"].is_boolean())
        o.propagation = b["orphanDependents"].get<bool>() ? "Orphan" : "Background";
      if (b.contains("propagationPolicy") && b["propagationPolicy"].is_string())
        o.propagation = b["propagationPolicy"];
      if (b.contains("gracePeriodSeconds") && b["gracePeriodSeconds"].is_number_integer())
        o.grace_seconds = b["gracePeriodSeconds"].get<int64_t>();
      if (b.contains("preconditions") && b["preconditions"].is_object()) {
        o.precondition_uid = b["preconditions"].value("uid", "");
        o.precondition_resource_version = b["preconditions"].value("resourceVersion", "");
      }
    } catch (const json::exception& e) {
      return core::failf(core::Errc::kInvalid, "the body of a delete is not a DeleteOptions: {}",
                         e.what());
    }
  }
  if (!o.propagation.empty() && o.propagation != "Background" && o.propagation != "Foreground" &&
      o.propagation != "Orphan") {
    return core::failf(core::Errc::kInvalid,
                       "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported "
                       "value: \"{}\": supported values: \"Foreground\", \"Background\", "
                       "\"Orphan\", \"nil\"",
                       o.propagation);
  }
  return o;
}

DeletePlan plan_delete(const ResourceType& t, json object, const DeleteOptions& options,
                       int64_t now) {
  DeletePlan plan;
  json before = object;
  json& md = object["metadata"];
  bool already = md.contains("deletionTimestamp");
  set_policy_finalizer(md, options.propagation);
  int64_t grace = grace_period(t, object, options);
  if (already && md.contains("deletionGracePeriodSeconds")) {
    grace = std::min(grace, md["deletionGracePeriodSeconds"].get<int64_t>());
  }
  bool held = non_empty_array(md, "finalizers") ||
              (is_namespace(t) && non_empty_array(object.value("spec", json()), "finalizers"));
  if (!held && grace == 0) {
    plan.remove_now = true;
    plan.object = std::move(object);
    return plan;
  }
  if (!already || grace < md.value("deletionGracePeriodSeconds", int64_t{0})) {
    md["deletionTimestamp"] = core::format_rfc3339(now + grace);
    md["deletionGracePeriodSeconds"] = grace;
  }
  if (is_namespace(t)) object["status"]["phase"] = "Terminating";
  plan.changed = object != before;
  plan.object = std::move(object);
  return plan;
}

std::string keep_deletion_marks(const json& prev, json& o) {
  const json& pm = prev["metadata"];
  json& md = o["metadata"];
  for (const char* k : {"deletionTimestamp", "deletionGracePeriodSeconds"}) {
    if (pm.contains(k)) {
      md[k] = pm[k];
    } else {
      md.erase(k);
    }
  }
  if (!pm.contains("deletionTimestamp")) return "";
  json had = pm.value("finalizers", json::array());
  for (const auto& f : md.value("finalizers", json::array())) {
    if (std::find(had.begin(), had.end(), f) == had.end()) {
      return "metadata.finalizers: Forbidden: no new finalizers can be added if the object is "
             "being deleted, found new finalizers [" +
             f.get<std::string>() + "]";
    }
  }
  return "";
}

bool deletion_complete(const json& o) {
  const json& md = o.value("metadata", json::object());
  if (!md.contains("deletionTimestamp") || non_empty_array(md, "finalizers")) return false;
  if (o.value("kind", "") == "Namespace" && non_empty_array(o.value("spec", json()), "finalizers"))
    return false;
  return md.value("deletionGracePeriodSeconds", int64_t{0}) == 0 || o.value("kind", "") != "Pod";
}

}  // namespace k3s::apiserver
