// The DaemonSet controller: one pod per eligible node (nodeSelector, required node affinity,
// taints against the pod's tolerations and those upstream adds to daemon pods), each pinned to
// its node by node affinity on metadata.name for the scheduler to bind; pods on nodes that no
// longer qualify are deleted; RollingUpdate replaces pods of an older template at most
// maxUnavailable at a time (OnDelete waits for the user); status as `kubectl rollout status`
// reads it.
#include <algorithm>
#include <map>

#include "core/base/time.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kPrefix[] = "/registry/daemonsets/";
constexpr char kHashLabel[] = "controller-revision-hash";

// The tolerations upstream gives every daemon pod, so that it runs where other pods may not.
json daemon_tolerations(json tolerations) {
  if (!tolerations.is_array()) tolerations = json::array();
  auto add = [&](const char* key, const char* effect) {
    json t = {{"key", key}, {"operator", "Exists"}, {"effect", effect}};
    if (std::find(tolerations.begin(), tolerations.end(), t) == tolerations.end())
      tolerations.push_back(t);
  };
  add("node.kubernetes.io/not-ready", "NoExecute");
  add("node.kubernetes.io/unreachable", "NoExecute");
  add("node.kubernetes.io/disk-pressure", "NoSchedule");
  add("node.kubernetes.io/memory-pressure", "NoSchedule");
  add("node.kubernetes.io/pid-pressure", "NoSchedule");
  add("node.kubernetes.io/unschedulable", "NoSchedule");
  return tolerations;
}

// The node a daemon pod is for: where it is bound, else its node affinity's target.
std::string target_node(const json& pod) {
  const json& spec = pod.value("spec", json::object());
  if (!spec.value("nodeName", "").empty()) return spec["nodeName"];
  json terms = spec.value("affinity", json::object())
                   .value("nodeAffinity", json::object())
                   .value("requiredDuringSchedulingIgnoredDuringExecution", json::object())
                   .value("nodeSelectorTerms", json::array());
  for (const auto& term : terms) {
    for (const auto& f : term.value("matchFields", json::array())) {
      if (f.value("key", "") == "metadata.name" && !f.value("values", json::array()).empty())
        return f["values"][0];
    }
  }
  return "";
}

class DaemonSetController : public Controller {
 public:
  explicit DaemonSetController(ControllerContext& c) : Controller("daemonset-controller"), c_(c) {
    c_.informer.on_change(kPrefix, [this](const Change& ch) {
      queue().add(queue_key(ch.after ? *ch.after : *ch.before));
    });
    c_.informer.on_change("/registry/pods/", [this](const Change& ch) {
      const json& pod = ch.after ? *ch.after : *ch.before;
      enqueue_controller(pod, "DaemonSet");
    });
    c_.informer.on_change("/registry/nodes/", [this](const Change&) {
      for (const ObjectPtr& ds : c_.informer.list(kPrefix)) queue().add(queue_key(*ds));
    });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr dp = c_.informer.get(kPrefix + key);
    if (!dp || being_deleted(*dp)) return {};
    const json& ds = *dp;
    const json& spec = ds.value("spec", json::object());
    std::string hash = template_hash(spec.value("template", json::object()), 0);
    std::map<std::string, std::vector<ObjectPtr>> by_node;
    std::vector<ObjectPtr> owned;
    for (const ObjectPtr& pod : c_.informer.list("/registry/pods/" + namespace_of(ds) + "/")) {
      if (controller_uid(*pod) != uid_of(ds)) continue;
      owned.push_back(pod);
      if (pod_active(*pod)) by_node[target_node(*pod)].push_back(pod);
    }
    bool act = expectations_.settled(key, owned);
    int64_t min_ready = spec.value("minReadySeconds", int64_t{0});
    int64_t now = core::system_now();
    json strategy = spec.value("updateStrategy", json::object());
    bool rolling = strategy.value("type", "RollingUpdate") == "RollingUpdate";
    int64_t desired = 0, current = 0, misscheduled = 0, ready = 0, updated = 0, available = 0;
    std::vector<ObjectPtr> outdated;
    for (const ObjectPtr& node : c_.informer.list("/registry/nodes/")) {
      std::string n = name_of(*node);
      std::vector<ObjectPtr>& pods = by_node[n];
      bool wanted = eligible(ds, *node);
      desired += wanted;
      if (!wanted) {
        misscheduled += !pods.empty();
        for (const auto& p : pods) {
          if (act) K3A_CHECK(delete_pod(key, ds, *p));
        }
        continue;
      }
      if (pods.empty()) {
        if (act) K3A_CHECK(create_pod(key, ds, n, hash));
        continue;
      }
      for (size_t i = 1; i < pods.size(); ++i) {
        if (act) K3A_CHECK(delete_pod(key, ds, *pods[i]));
      }
      const json& pod = *pods[0];
      current++;
      ready += pod_ready(pod);
      bool avail = pod_available(pod, min_ready, now);
      available += avail;
      if (labels_of(pod).value(kHashLabel, "") == hash) {
        updated++;
      } else if (rolling) {
        outdated.push_back(pods[0]);
      }
    }
    // Rolling update: old pods go while no more than maxUnavailable nodes lack an available pod;
    // unavailable old pods first.
    int64_t budget = scaled_value(
        strategy.value("rollingUpdate", json::object()).value("maxUnavailable", json(1)), desired,
        true);
    budget = std::max<int64_t>(budget, 1) - (desired - available);
    std::stable_sort(outdated.begin(), outdated.end(), [&](const ObjectPtr& a, const ObjectPtr& b) {
      return !pod_available(*a, min_ready, now) && pod_available(*b, min_ready, now);
    });
    for (const auto& p : outdated) {
      bool avail = pod_available(*p, min_ready, now);
      if (!act || (avail && budget <= 0)) break;
      K3A_CHECK(delete_pod(key, ds, *p));
      if (avail) budget--;
    }
    json status = ds.value("status", json::object());
    json next = status;
    next["observedGeneration"] = metadata(ds).value("generation", int64_t{1});
    next["desiredNumberScheduled"] = desired;
    next["currentNumberScheduled"] = current;
    next["numberMisscheduled"] = misscheduled;
    next["numberReady"] = ready;
    next["updatedNumberScheduled"] = updated;
    next["numberAvailable"] = available;
    next["numberUnavailable"] = desired - available;
    for (const char* k : {"updatedNumberScheduled", "numberAvailable", "numberUnavailable"}) {
      if (next[k] == 0) next.erase(k);
    }
    return write_status(c_.api, object_path("apps/v1", "daemonsets", namespace_of(ds), name_of(ds)),
                        ds, next);
  }

 private:
  // Whether the daemon belongs on `node`: its node selector and required affinity match, and it
  // tolerates the node's NoSchedule and NoExecute taints.
  static bool eligible(const json& ds, const json& node) {
    const json& pod_spec = ds.value("spec", json::object())
                               .value("template", json::object())
                               .value("spec", json::object());
    json labels = labels_of(node);
    json selector = pod_spec.value("nodeSelector", json::object());
    for (auto it = selector.begin(); it != selector.end(); ++it) {
      if (!labels.contains(it.key()) || labels[it.key()] != it.value()) return false;
    }
    json terms = pod_spec.value("affinity", json::object())
                     .value("nodeAffinity", json::object())
                     .value("requiredDuringSchedulingIgnoredDuringExecution", json::object())
                     .value("nodeSelectorTerms", json::array());
    if (!terms.empty()) {
      bool any = false;
      for (const auto& term : terms) {
        bool all = true;
        for (const auto& e : term.value("matchExpressions", json::array()))
          all = all && requirement_matches(e, labels);
        any = any || all;
      }
      if (!any) return false;
    }
    json tolerations = daemon_tolerations(pod_spec.value("tolerations", json::array()));
    for (const auto& taint : node.value("spec", json::object()).value("taints", json::array())) {
      std::string effect = taint.value("effect", "");
      if ((effect == "NoSchedule" || effect == "NoExecute") &&
          matching_toleration(tolerations, taint).is_null())
        return false;
    }
    return true;
  }

  core::Result<void> create_pod(const std::string& key, const json& ds, const std::string& node,
                                const std::string& hash) {
    const json& tmpl = ds.value("spec", json::object()).value("template", json::object());
    json md = tmpl.value("metadata", json::object());
    md["generateName"] = name_of(ds) + "-";
    md["namespace"] = namespace_of(ds);
    md["labels"][kHashLabel] = hash;
    md["ownerReferences"] = json::array({controller_ref(ds)});
    json spec = tmpl.value("spec", json::object());
    spec["tolerations"] = daemon_tolerations(spec.value("tolerations", json::array()));
    spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
        {"nodeSelectorTerms",
         {{{"matchFields",
            {{{"key", "metadata.name"}, {"operator", "In"}, {"values", {node}}}}}}}}};
    json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", md}, {"spec", spec}};
    auto created = c_.api.create(object_path("v1", "pods", namespace_of(ds)), pod);
    if (!created) {
      c_.events.record(name(), ds, "Warning", "FailedCreate",
                       "Error creating: " + created.error().message());
      return std::unexpected(created.error());
    }
    expectations_.expect_create(key, name_of(*created));
    c_.events.record(name(), ds, "Normal", "SuccessfulCreate", "Created pod: " + name_of(*created));
    return {};
  }

  core::Result<void> delete_pod(const std::string& key, const json& ds, const json& pod) {
    expectations_.expect_delete(key, name_of(pod));
    K3A_CHECK(
        unless_missing(c_.api.remove(object_path("v1", "pods", namespace_of(pod), name_of(pod)))));
    c_.events.record(name(), ds, "Normal", "SuccessfulDelete", "Deleted pod: " + name_of(pod));
    return {};
  }

  ControllerContext& c_;
  Expectations expectations_;
};

}  // namespace

std::unique_ptr<Controller> make_daemon_set_controller(ControllerContext& c) {
  return std::make_unique<DaemonSetController>(c);
}

}  // namespace k3s::controllers
