#include "k3s/apiserver/defaults.h"

#include "core/crypto/base64.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

void set_missing(json& o, const char* key, json value) {
  if (!o.contains(key) || o[key].is_null()) o[key] = std::move(value);
}

void job_defaults(json& o) {
  json& spec = o["spec"];
  if (!spec.is_object()) return;
  set_missing(spec, "parallelism", 1);
  if (!spec.contains("completions")) spec["completions"] = 1;
  set_missing(spec, "backoffLimit", 6);
  set_missing(spec, "completionMode", "NonIndexed");
  set_missing(spec, "suspend", false);
  set_missing(spec, "podReplacementPolicy", "TerminatingOrFailed");
  if (spec.value("manualSelector", false)) return;
  // The generated selector: the Job's uid, which its pods carry as labels.
  std::string uid = o["metadata"].value("uid", "");
  std::string name = o["metadata"].value("name", "");
  if (uid.empty()) return;
  spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
  json& labels = spec["template"]["metadata"]["labels"];
  labels["batch.kubernetes.io/controller-uid"] = uid;
  labels["batch.kubernetes.io/job-name"] = name;
  labels["controller-uid"] = uid;
  labels["job-name"] = name;
}

// Deployments, DaemonSets and StatefulSets: replicas, update strategy and history as apps/v1
// defaults them (kubectl reads the strategy before it follows a rollout).
void workload_defaults(const std::string& kind, json& spec) {
  if (kind != "DaemonSet") set_missing(spec, "replicas", 1);
  set_missing(spec, "revisionHistoryLimit", 10);
  if (kind == "Deployment") {
    set_missing(spec, "progressDeadlineSeconds", 600);
    set_missing(spec, "strategy", {{"type", "RollingUpdate"}});
    if (spec["strategy"].value("type", "") == "RollingUpdate") {
      json& ru = spec["strategy"]["rollingUpdate"];
      if (!ru.is_object()) ru = json::object();
      set_missing(ru, "maxUnavailable", "25%");
      set_missing(ru, "maxSurge", "25%");
    }
    return;
  }
  set_missing(spec, "updateStrategy", {{"type", "RollingUpdate"}});
  if (spec["updateStrategy"].value("type", "") == "RollingUpdate") {
    json& ru = spec["updateStrategy"]["rollingUpdate"];
    if (!ru.is_object()) ru = json::object();
    if (kind == "DaemonSet") {
      set_missing(ru, "maxUnavailable", 1);
      set_missing(ru, "maxSurge", 0);
    } else {
      set_missing(ru, "partition", 0);
    }
  }
  if (kind == "StatefulSet") {
    set_missing(spec, "podManagementPolicy", "OrderedReady");
    set_missing(spec, "persistentVolumeClaimRetentionPolicy",
                {{"whenDeleted", "Retain"}, {"whenScaled", "Retain"}});
  }
}

}  // namespace

void apply_defaults(const ResourceType& t, json& o) {
  if (t.kind == "Secret" && t.group.empty()) {
    if (o.contains("stringData")) {
      for (auto& [k, v] : o["stringData"].items()) {
        o["data"][k] = core::base64_encode(v.is_string() ? v.get<std::string>() : v.dump());
      }
      o.erase("stringData");
    }
    set_missing(o, "type", "Opaque");
  }
  if (t.kind == "Namespace" && t.group.empty()) {
    o["metadata"]["labels"]["kubernetes.io/metadata.name"] = o["metadata"]["name"];
    set_missing(o, "status", {{"phase", "Active"}});
  }
  if (t.kind == "Job" && t.group == "batch") job_defaults(o);
  if (t.group == "apps" && o["spec"].is_object() &&
      (t.kind == "Deployment" || t.kind == "DaemonSet" || t.kind == "StatefulSet"))
    workload_defaults(t.kind, o["spec"]);
  if (t.kind == "CronJob" && t.group == "batch" && o["spec"].is_object()) {
    json& spec = o["spec"];
    set_missing(spec, "concurrencyPolicy", "Allow");
    set_missing(spec, "suspend", false);
    set_missing(spec, "successfulJobsHistoryLimit", 3);
    set_missing(spec, "failedJobsHistoryLimit", 1);
  }
}

}  // namespace k3s::apiserver
