// The Deployment controller: one ReplicaSet per distinct pod template (named
// <deployment>-<pod-template-hash>), the newest revision scaled up and the older ones down as
// the strategy allows (RollingUpdate within maxSurge and maxUnavailable; Recreate: old pods gone
// first), revisions and their history in annotations (so `kubectl rollout history` and `undo`
// work), old sets pruned past revisionHistoryLimit, and the status counters and Available /
// Progressing conditions `kubectl rollout status` and `describe` read, with the progress
// deadline.
#include <algorithm>

#include "core/base/time.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kPrefix[] = "/registry/deployments/";
constexpr char kRevision[] = "deployment.kubernetes.io/revision";
constexpr char kRevisionHistory[] = "deployment.kubernetes.io/revision-history";
constexpr char kDesired[] = "deployment.kubernetes.io/desired-replicas";
constexpr char kMaxReplicas[] = "deployment.kubernetes.io/max-replicas";
constexpr char kHashLabel[] = "pod-template-hash";

int64_t revision_of(const json& rs) {
  try {
    return std::stoll(metadata(rs).value("annotations", json::object()).value(kRevision, "0"));
  } catch (const std::exception&) {
    return 0;
  }
}
int64_t spec_replicas(const json& o) {
  return o.value("spec", json::object()).value("replicas", int64_t{1});
}
int64_t status_count(const json& o, const char* field) {
  return o.value("status", json::object()).value(field, int64_t{0});
}

// The set's template without the hash label, to compare with the deployment's.
json template_without_hash(const json& rs) {
  json t = rs.value("spec", json::object()).value("template", json::object());
  if (t.contains("metadata") && t["metadata"].contains("labels")) {
    t["metadata"]["labels"].erase(kHashLabel);
    if (t["metadata"]["labels"].empty()) t["metadata"].erase("labels");
  }
  return t;
}

// The deployment's annotations a replica set carries (kubernetes.io/change-cause among them).
json copied_annotations(const json& d) {
  json out = json::object();
  json annotations = metadata(d).value("annotations", json::object());
  for (const auto& [k, v] : annotations.items()) {
    if (k == "kubectl.kubernetes.io/last-applied-configuration" || k == kRevision ||
        k == kRevisionHistory || k == kDesired || k == kMaxReplicas)
      continue;
    out[k] = v;
  }
  return out;
}

json condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message, const std::string& now) {
  return {{"type", type},       {"status", status},      {"reason", reason},
          {"message", message}, {"lastUpdateTime", now}, {"lastTransitionTime", now}};
}

class DeploymentController : public Controller {
 public:
  explicit DeploymentController(ControllerContext& c) : Controller("deployment-controller"), c_(c) {
    c_.informer.on_change(kPrefix, [this](const Change& ch) {
      queue().add(queue_key(ch.after ? *ch.after : *ch.before));
    });
    c_.informer.on_change("/registry/replicasets/", [this](const Change& ch) {
      enqueue_controller(ch.after ? *ch.after : *ch.before, "Deployment");
    });
    // Recreate waits for the old pods to be gone.
    c_.informer.on_change("/registry/pods/", [this](const Change& ch) {
      if (ch.after) return;
      for (const auto& ref : metadata(*ch.before).value("ownerReferences", json::array())) {
        if (ref.value("kind", "") != "ReplicaSet") continue;
        if (ObjectPtr rs = c_.informer.get("/registry/replicasets/" + namespace_of(*ch.before) +
                                           "/" + ref.value("name", "")))
          enqueue_controller(*rs, "Deployment");
      }
    });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr dp = c_.informer.get(kPrefix + key);
    if (!dp || being_deleted(*dp)) return {};
    const json& d = *dp;
    std::vector<ObjectPtr> sets;
    for (const ObjectPtr& rs : c_.informer.list("/registry/replicasets/" + namespace_of(d) + "/")) {
      if (controller_uid(*rs) == uid_of(d)) sets.push_back(rs);
    }
    std::sort(sets.begin(), sets.end(), [](const ObjectPtr& a, const ObjectPtr& b) {
      return metadata(*a).value("creationTimestamp", "") <
             metadata(*b).value("creationTimestamp", "");
    });
    const json& spec = d.value("spec", json::object());
    ObjectPtr current;
    std::vector<ObjectPtr> old;
    for (const auto& rs : sets) {
      if (!current && template_without_hash(*rs) == spec.value("template", json::object())) {
        current = rs;
      } else {
        old.push_back(rs);
      }
    }
    Rollout r{d, current, old, ""};
    if (!spec.value("paused", false)) K3A_CHECK(roll(r));
    return update_status(r);
  }

 private:
  struct Rollout {
    const json& d;
    ObjectPtr current;  // the set of the deployment's template, if it exists yet
    std::vector<ObjectPtr> old;
    std::string created;  // the name of a set created by this sync
  };

  int64_t max_surge(const json& d) const {
    const json& s = d.value("spec", json::object()).value("strategy", json::object());
    if (s.value("type", "RollingUpdate") != "RollingUpdate") return 0;
    json v = s.value("rollingUpdate", json::object()).value("maxSurge", json("25%"));
    int64_t surge = scaled_value(v, spec_replicas(d), true);
    if (surge == 0 && max_unavailable_raw(d) == 0) return 0;
    return surge;
  }
  int64_t max_unavailable_raw(const json& d) const {
    const json& s = d.value("spec", json::object()).value("strategy", json::object());
    if (s.value("type", "RollingUpdate") != "RollingUpdate") return spec_replicas(d);
    json v = s.value("rollingUpdate", json::object()).value("maxUnavailable", json("25%"));
    return scaled_value(v, spec_replicas(d), false);
  }
  // Both resolving to zero would stall a rollout: upstream then allows one unavailable.
  int64_t max_unavailable(const json& d) const {
    int64_t u = max_unavailable_raw(d);
    if (u == 0 && max_surge(d) == 0) u = 1;
    return std::min(u, spec_replicas(d));
  }

  core::Result<void> roll(Rollout& r) {
    const json& d = r.d;
    bool recreate = d.value("spec", json::object())
                        .value("strategy", json::object())
                        .value("type", "RollingUpdate") == "Recreate";
    if (recreate) {
      bool scaled_down = true;
      for (const auto& rs : r.old) {
        if (spec_replicas(*rs) > 0) {
          K3A_CHECK(scale(d, *rs, 0));
          scaled_down = false;
        }
      }
      if (!scaled_down || old_pods_running(r)) return {};
      if (!r.current) return create_set(r, spec_replicas(d));
      if (spec_replicas(*r.current) != spec_replicas(d))
        K3A_CHECK(scale(d, *r.current, spec_replicas(d)));
      return finish(r);
    }
    int64_t replicas = spec_replicas(d);
    int64_t total = 0;
    for (const auto& rs : r.old) total += spec_replicas(*rs);
    if (!r.current) {
      // The new set starts with what the surge allows.
      int64_t room = std::max<int64_t>(0, replicas + max_surge(d) - total);
      return create_set(r, r.old.empty() ? replicas : std::min(room, replicas));
    }
    K3A_CHECK(adopt_revision(r));
    total += spec_replicas(*r.current);
    int64_t have = spec_replicas(*r.current);
    if (have > replicas) {
      K3A_CHECK(scale(d, *r.current, replicas));
    } else if (have < replicas) {
      int64_t up = std::min(replicas + max_surge(d) - total, replicas - have);
      if (up > 0) K3A_CHECK(scale(d, *r.current, have + up));
    }
    K3A_CHECK(scale_down_old(r));
    return finish(r);
  }

  // Old sets shrink while the deployment keeps replicas - maxUnavailable available pods;
  // unavailable old pods go first.
  core::Result<void> scale_down_old(Rollout& r) {
    const json& d = r.d;
    int64_t old_total = 0, all = spec_replicas(*r.current), available = 0;
    for (const auto& rs : r.old) old_total += spec_replicas(*rs);
    if (old_total == 0) return {};
    for (const auto& rs : r.old) all += spec_replicas(*rs);
    int64_t min_available = spec_replicas(d) - max_unavailable(d);
    int64_t new_unavailable =
        spec_replicas(*r.current) - status_count(*r.current, "availableReplicas");
    int64_t budget = all - min_available - std::max<int64_t>(0, new_unavailable);
    if (budget <= 0) return {};
    std::vector<std::pair<ObjectPtr, int64_t>> target;
    for (const auto& rs : r.old) target.emplace_back(rs, spec_replicas(*rs));
    for (auto& [rs, n] : target) {
      int64_t unhealthy = std::max<int64_t>(0, n - status_count(*rs, "availableReplicas"));
      int64_t cut = std::min(unhealthy, budget);
      n -= cut;
      budget -= cut;
    }
    available = status_count(*r.current, "availableReplicas");
    for (auto& [rs, n] : target) available += std::min(n, status_count(*rs, "availableReplicas"));
    int64_t spare = std::max<int64_t>(0, std::min(budget, available - min_available));
    for (auto& [rs, n] : target) {
      int64_t cut = std::min(n, spare);
      n -= cut;
      spare -= cut;
    }
    for (auto& [rs, n] : target) {
      if (n != spec_replicas(*rs)) K3A_CHECK(scale(d, *rs, n));
    }
    return {};
  }

  bool old_pods_running(const Rollout& r) {
    for (const ObjectPtr& pod : c_.informer.list("/registry/pods/" + namespace_of(r.d) + "/")) {
      std::string owner = controller_uid(*pod);
      bool old = std::any_of(r.old.begin(), r.old.end(),
                             [&](const ObjectPtr& rs) { return uid_of(*rs) == owner; });
      if (old && !pod_terminal(*pod)) return true;
    }
    return false;
  }

  int64_t max_revision(const Rollout& r) {
    int64_t m = 0;
    for (const auto& rs : r.old) m = std::max(m, revision_of(*rs));
    return m;
  }

  core::Result<void> create_set(Rollout& r, int64_t replicas) {
    const json& d = r.d;
    const json& spec = d.value("spec", json::object());
    int64_t collisions = d.value("status", json::object()).value("collisionCount", int64_t{0});
    json tmpl = spec.value("template", json::object());
    std::string hash = template_hash(tmpl, collisions);
    tmpl["metadata"]["labels"][kHashLabel] = hash;
    json selector = spec.value("selector", json::object());
    selector["matchLabels"][kHashLabel] = hash;
    json annotations = copied_annotations(d);
    annotations[kRevision] = std::to_string(max_revision(r) + 1);
    annotations[kDesired] = std::to_string(spec_replicas(d));
    annotations[kMaxReplicas] = std::to_string(spec_replicas(d) + max_surge(d));
    json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata",
                {{"name", name_of(d) + "-" + hash},
                 {"namespace", namespace_of(d)},
                 {"labels", tmpl["metadata"]["labels"]},
                 {"annotations", annotations},
                 {"ownerReferences", json::array({controller_ref(d)})}}},
               {"spec",
                {{"replicas", replicas},
                 {"minReadySeconds", spec.value("minReadySeconds", int64_t{0})},
                 {"selector", selector},
                 {"template", tmpl}}}};
    auto created = c_.api.create(object_path("apps/v1", "replicasets", namespace_of(d)), rs);
    if (!created && created.error().code() == core::Errc::kAlreadyExists) {
      // Another template hashed to the same name: count the collision and try again.
      json status = d.value("status", json::object());
      status["collisionCount"] = collisions + 1;
      json body = d;
      body["status"] = status;
      (void)c_.api.replace(
          object_path("apps/v1", "deployments", namespace_of(d), name_of(d)) + "/status", body);
      return std::unexpected(created.error());
    }
    if (!created) return std::unexpected(created.error());
    r.created = name_of(*created);
    c_.events.record(name(), d, "Normal", "ScalingReplicaSet",
                     fmt::format("Scaled up replica set {} from 0 to {}", r.created, replicas));
    return set_deployment_revision(d, max_revision(r) + 1);
  }

  // A template that matches an older set (a rollback) makes that set the newest revision.
  core::Result<void> adopt_revision(Rollout& r) {
    int64_t newest = max_revision(r);
    int64_t mine = revision_of(*r.current);
    json annotations = metadata(*r.current).value("annotations", json::object());
    json wanted = annotations;
    wanted.update(copied_annotations(r.d));
    if (mine <= newest) {
      std::string history = wanted.value(kRevisionHistory, "");
      wanted[kRevisionHistory] =
          history.empty() ? std::to_string(mine) : history + "," + std::to_string(mine);
      wanted[kRevision] = std::to_string(newest + 1);
    }
    if (wanted != annotations) {
      json patch = {{"metadata",
                     {{"annotations", wanted},
                      {"resourceVersion", metadata(*r.current)["resourceVersion"]}}}};
      auto p = c_.api.merge_patch(
          object_path("apps/v1", "replicasets", namespace_of(*r.current), name_of(*r.current)),
          patch);
      if (!p) return std::unexpected(p.error());
    }
    return set_deployment_revision(r.d, std::max(mine, newest + (mine <= newest ? 1 : 0)));
  }

  core::Result<void> set_deployment_revision(const json& d, int64_t revision) {
    std::string want = std::to_string(revision);
    if (metadata(d).value("annotations", json::object()).value(kRevision, "") == want) return {};
    json patch = {{"metadata", {{"annotations", {{kRevision, want}}}}}};
    K3A_CHECK(unless_missing(c_.api.merge_patch(
        object_path("apps/v1", "deployments", namespace_of(d), name_of(d)), patch)));
    return {};
  }

  core::Result<void> scale(const json& d, const json& rs, int64_t replicas) {
    int64_t from = spec_replicas(rs);
    json patch = {{"metadata",
                   {{"annotations",
                     {{kDesired, std::to_string(spec_replicas(d))},
                      {kMaxReplicas, std::to_string(spec_replicas(d) + max_surge(d))}}},
                    {"resourceVersion", metadata(rs)["resourceVersion"]}}},
                  {"spec", {{"replicas", replicas}}}};
    auto p = c_.api.merge_patch(
        object_path("apps/v1", "replicasets", namespace_of(rs), name_of(rs)), patch);
    if (!p) return std::unexpected(p.error());
    c_.events.record(name(), d, "Normal", "ScalingReplicaSet",
                     fmt::format("Scaled {} replica set {} from {} to {}",
                                 replicas > from ? "up" : "down", name_of(rs), from, replicas));
    return {};
  }

  // After a finished rollout, old empty sets beyond revisionHistoryLimit go, oldest first.
  core::Result<void> finish(Rollout& r) {
    const json& d = r.d;
    int64_t limit = d.value("spec", json::object()).value("revisionHistoryLimit", int64_t{10});
    std::vector<ObjectPtr> empty;
    for (const auto& rs : r.old) {
      if (spec_replicas(*rs) == 0 && status_count(*rs, "replicas") == 0 && !being_deleted(*rs))
        empty.push_back(rs);
    }
    for (size_t i = 0; i + limit < empty.size(); ++i) {
      K3A_CHECK(unless_missing(c_.api.remove(
          object_path("apps/v1", "replicasets", namespace_of(*empty[i]), name_of(*empty[i])))));
    }
    return {};
  }

  core::Result<void> update_status(const Rollout& r) {
    const json& d = r.d;
    int64_t want = spec_replicas(d);
    int64_t replicas = 0, ready = 0, available = 0, desired = 0;
    std::vector<ObjectPtr> all = r.old;
    if (r.current) all.push_back(r.current);
    for (const auto& rs : all) {
      replicas += status_count(*rs, "replicas");
      ready += status_count(*rs, "readyReplicas");
      available += status_count(*rs, "availableReplicas");
      desired += spec_replicas(*rs);
    }
    int64_t updated = r.current ? status_count(*r.current, "replicas") : 0;
    json old = d.value("status", json::object());
    json next = old;
    next["observedGeneration"] = metadata(d).value("generation", int64_t{1});
    next["replicas"] = replicas;
    next["updatedReplicas"] = updated;
    next["readyReplicas"] = ready;
    next["availableReplicas"] = available;
    next["unavailableReplicas"] = std::max<int64_t>(0, desired - available);
    for (const char* k : {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                          "unavailableReplicas"}) {
      if (next[k] == 0) next.erase(k);
    }
    std::string now = now_rfc3339();
    bool minimum = available >= want - max_unavailable(d);
    set_condition(next, minimum ? condition("Available", "True", "MinimumReplicasAvailable",
                                            "Deployment has minimum availability.", now)
                                : condition("Available", "False", "MinimumReplicasUnavailable",
                                            "Deployment does not have minimum availability.", now));
    set_progressing(r, next, {replicas, ready, available, updated}, now);
    return write_status(c_.api, object_path("apps/v1", "deployments", namespace_of(d), name_of(d)),
                        d, next);
  }

  struct Counts {
    int64_t replicas, ready, available, updated;
  };

  // The Progressing condition: a new set created or found, progress made (which restarts the
  // deadline), the rollout complete, or the progress deadline passed.
  void set_progressing(const Rollout& r, json& next, const Counts& n, const std::string& now) {
    const json& d = r.d;
    int64_t want = spec_replicas(d);
    std::string rs_name = r.current ? name_of(*r.current) : r.created;
    bool complete = n.updated == want && n.replicas == want && n.available == want;
    bool moved =
        n.updated > status_count(d, "updatedReplicas") ||
        n.available > status_count(d, "availableReplicas") ||
        n.ready > status_count(d, "readyReplicas") ||
        n.replicas - n.updated < status_count(d, "replicas") - status_count(d, "updatedReplicas");
    int64_t deadline =
        d.value("spec", json::object()).value("progressDeadlineSeconds", int64_t{600});
    const json* progressing = find_condition(next, "Progressing");
    if (!r.created.empty()) {
      set_condition(next, condition("Progressing", "True", "NewReplicaSetCreated",
                                    fmt::format("Created new replica set \"{}\"", r.created), now));
    } else if (complete && !rs_name.empty()) {
      set_condition(
          next,
          condition("Progressing", "True", "NewReplicaSetAvailable",
                    fmt::format("ReplicaSet \"{}\" has successfully progressed.", rs_name), now));
    } else if (!progressing && !rs_name.empty()) {
      set_condition(next, condition("Progressing", "True", "FoundNewReplicaSet",
                                    fmt::format("Found new replica set \"{}\"", rs_name), now));
    } else if (moved && !rs_name.empty()) {
      set_condition(next,
                    condition("Progressing", "True", "ReplicaSetUpdated",
                              fmt::format("ReplicaSet \"{}\" is progressing.", rs_name), now),
                    true);
    } else if (progressing && !complete && progressing->value("status", "") == "True" &&
               progressing->value("reason", "") != "NewReplicaSetAvailable") {
      auto since = core::parse_rfc3339(progressing->value("lastUpdateTime", ""));
      int64_t left = since ? *since + deadline - core::system_now() : 0;
      if (left <= 0) {
        set_condition(
            next,
            condition("Progressing", "False", "ProgressDeadlineExceeded",
                      fmt::format("ReplicaSet \"{}\" has timed out progressing.", rs_name), now));
      } else {
        queue().add_after(queue_key(d), std::chrono::seconds(left));
      }
    }
  }

  static const json* find_condition(const json& status, const std::string& type) {
    if (!status.contains("conditions")) return nullptr;
    for (const auto& c : status["conditions"]) {
      if (c.value("type", "") == type) return &c;
    }
    return nullptr;
  }

  // Replaces the condition of c's type; an unchanged status keeps its transition time, and an
  // unchanged reason and message keep the update time too unless `touch` (progress was made,
  // which restarts the progress deadline).
  static void set_condition(json& status, json c, bool touch = false) {
    json& list = status["conditions"];
    if (!list.is_array()) list = json::array();
    for (auto& have : list) {
      if (have.value("type", "") != c["type"]) continue;
      if (have.value("status", "") == c["status"])
        c["lastTransitionTime"] = have.value("lastTransitionTime", c["lastTransitionTime"]);
      if (!touch && have.value("status", "") == c["status"] &&
          have.value("reason", "") == c["reason"] && have.value("message", "") == c["message"])
        c["lastUpdateTime"] = have.value("lastUpdateTime", c["lastUpdateTime"]);
      have = std::move(c);
      return;
    }
    list.push_back(std::move(c));
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_deployment_controller(ControllerContext& c) {
  return std::make_unique<DeploymentController>(c);
}

}  // namespace k3s::controllers
