// The StatefulSet controller: pods <set>-0 ... <set>-(replicas-1) with stable names, hostnames
// and the governing service as subdomain, each with its PersistentVolumeClaims
// (<template>-<set>-<ordinal>, kept when the pod goes, as the default Retain policy says);
// OrderedReady creates them one at a time in order, each after the previous is ready, and
// removes them from the highest ordinal down; Parallel does both at once. RollingUpdate replaces
// pods of an older template from the highest ordinal down to the partition, one at a time.
// Status carries the counters and revisions `kubectl rollout status` compares.
#include <map>

#include "core/base/time.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kPrefix[] = "/registry/statefulsets/";
constexpr char kRevisionLabel[] = "controller-revision-hash";

class StatefulSetController : public Controller {
 public:
  explicit StatefulSetController(ControllerContext& c)
      : Controller("statefulset-controller"), c_(c) {
    c_.informer.on_change(kPrefix, [this](const Change& ch) {
      queue().add(queue_key(ch.after ? *ch.after : *ch.before));
    });
    c_.informer.on_change("/registry/pods/", [this](const Change& ch) {
      const json& pod = ch.after ? *ch.after : *ch.before;
      enqueue_controller(pod, "StatefulSet");
    });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr sp = c_.informer.get(kPrefix + key);
    if (!sp || being_deleted(*sp)) return {};
    const json& sts = *sp;
    const json& spec = sts.value("spec", json::object());
    int64_t replicas = spec.value("replicas", int64_t{1});
    bool parallel = spec.value("podManagementPolicy", "OrderedReady") == "Parallel";
    std::string revision =
        name_of(sts) + "-" + template_hash(spec.value("template", json::object()), 0);
    std::map<int64_t, ObjectPtr> pods;
    std::string prefix = name_of(sts) + "-";
    for (const ObjectPtr& pod : c_.informer.list("/registry/pods/" + namespace_of(sts) + "/")) {
      std::string n = name_of(*pod);
      if (controller_uid(*pod) != uid_of(sts) || !n.starts_with(prefix)) continue;
      try {
        pods[std::stoll(n.substr(prefix.size()))] = pod;
      } catch (const std::exception&) {
      }
    }
    auto healthy = [](const ObjectPtr& p) {
      return p && !being_deleted(*p) && pod_ready(*p) &&
             p->value("status", json::object()).value("phase", "") == "Running";
    };
    // Create (in order unless Parallel) and replace finished pods.
    bool blocked = false;
    for (int64_t i = 0; i < replicas && !blocked; ++i) {
      ObjectPtr p = pods.count(i) ? pods[i] : nullptr;
      if (p && pod_terminal(*p)) {
        K3A_CHECK(unless_missing(c_.api.remove(pod_path(sts, i), "", 0)));
        p = nullptr;
        blocked = !parallel;
        continue;
      }
      if (!p) {
        K3A_CHECK(create_pod(sts, i, revision));
        blocked = !parallel;
      } else if (!parallel && !healthy(p)) {
        blocked = true;
      }
    }
    // Scale down from the highest ordinal.
    for (auto it = pods.rbegin(); it != pods.rend(); ++it) {
      if (it->first < replicas) break;
      if (being_deleted(*it->second)) {
        if (!parallel) break;
        continue;
      }
      K3A_CHECK(unless_missing(c_.api.remove(pod_path(sts, it->first))));
      c_.events.record(name(), sts, "Normal", "SuccessfulDelete",
                       fmt::format("delete Pod {} in StatefulSet {} successful",
                                   name_of(*it->second), name_of(sts)));
      if (!parallel) break;
    }
    // Rolling update: once every pod is healthy, the highest outdated one at or above the
    // partition is deleted to be recreated from the new template.
    json strategy = spec.value("updateStrategy", json::object());
    if (strategy.value("type", "RollingUpdate") == "RollingUpdate") {
      int64_t partition =
          strategy.value("rollingUpdate", json::object()).value("partition", int64_t{0});
      bool all_healthy = static_cast<int64_t>(pods.size()) >= replicas;
      for (int64_t i = 0; i < replicas && all_healthy; ++i)
        all_healthy = pods.count(i) && healthy(pods[i]);
      for (int64_t i = replicas - 1; all_healthy && i >= partition; --i) {
        if (labels_of(*pods[i]).value(kRevisionLabel, "") == revision) continue;
        K3A_CHECK(unless_missing(c_.api.remove(pod_path(sts, i))));
        break;
      }
    }
    return update_status(sts, pods, replicas, revision);
  }

 private:
  std::string pod_path(const json& sts, int64_t i) {
    return object_path("v1", "pods", namespace_of(sts), name_of(sts) + "-" + std::to_string(i));
  }

  core::Result<void> create_pod(const json& sts, int64_t i, const std::string& revision) {
    const json& spec = sts.value("spec", json::object());
    std::string pod_name = name_of(sts) + "-" + std::to_string(i);
    json pod_spec = spec.value("template", json::object()).value("spec", json::object());
    json volumes = pod_spec.value("volumes", json::array());
    for (const auto& tmpl : spec.value("volumeClaimTemplates", json::array())) {
      std::string volume = name_of(tmpl);
      std::string claim = volume + "-" + pod_name;
      if (!c_.informer.get("/registry/persistentvolumeclaims/" + namespace_of(sts) + "/" + claim)) {
        json labels = spec.value("selector", json::object()).value("matchLabels", json::object());
        labels.update(labels_of(tmpl));
        json pvc = {
            {"apiVersion", "v1"},
            {"kind", "PersistentVolumeClaim"},
            {"metadata", {{"name", claim}, {"namespace", namespace_of(sts)}, {"labels", labels}}},
            {"spec", tmpl.value("spec", json::object())}};
        auto made =
            c_.api.create(object_path("v1", "persistentvolumeclaims", namespace_of(sts)), pvc);
        if (!made && made.error().code() != core::Errc::kAlreadyExists) {
          c_.events.record(
              name(), sts, "Warning", "FailedCreate",
              fmt::format("create Claim {} for Pod {} in StatefulSet {} failed error: {}", claim,
                          pod_name, name_of(sts), made.error().message()));
          return std::unexpected(made.error());
        }
        c_.events.record(name(), sts, "Normal", "SuccessfulCreate",
                         fmt::format("create Claim {} Pod {} in StatefulSet {} success", claim,
                                     pod_name, name_of(sts)));
      }
      json out = json::array();
      for (const auto& v : volumes) {
        if (v.value("name", "") != volume) out.push_back(v);
      }
      out.push_back({{"name", volume}, {"persistentVolumeClaim", {{"claimName", claim}}}});
      volumes = out;
    }
    if (!volumes.empty()) pod_spec["volumes"] = volumes;
    pod_spec["hostname"] = pod_name;
    if (spec.contains("serviceName")) pod_spec["subdomain"] = spec["serviceName"];
    json md = spec.value("template", json::object()).value("metadata", json::object());
    md["name"] = pod_name;
    md["namespace"] = namespace_of(sts);
    md["labels"][kRevisionLabel] = revision;
    md["labels"]["statefulset.kubernetes.io/pod-name"] = pod_name;
    md["labels"]["apps.kubernetes.io/pod-index"] = std::to_string(i);
    md["ownerReferences"] = json::array({controller_ref(sts)});
    json pod = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", md}, {"spec", pod_spec}};
    auto created = c_.api.create(object_path("v1", "pods", namespace_of(sts)), pod);
    if (!created && created.error().code() == core::Errc::kAlreadyExists) return {};
    if (!created) {
      c_.events.record(name(), sts, "Warning", "FailedCreate",
                       fmt::format("create Pod {} in StatefulSet {} failed error: {}", pod_name,
                                   name_of(sts), created.error().message()));
      return std::unexpected(created.error());
    }
    c_.events.record(
        name(), sts, "Normal", "SuccessfulCreate",
        fmt::format("create Pod {} in StatefulSet {} successful", pod_name, name_of(sts)));
    return {};
  }

  core::Result<void> update_status(const json& sts, const std::map<int64_t, ObjectPtr>& pods,
                                   int64_t replicas, const std::string& revision) {
    json status = sts.value("status", json::object());
    std::string current = status.value("currentRevision", revision);
    int64_t count = 0, ready = 0, available = 0, at_current = 0, updated = 0;
    int64_t min_ready = sts.value("spec", json::object()).value("minReadySeconds", int64_t{0});
    int64_t now = core::system_now();
    for (const auto& [i, p] : pods) {
      if (being_deleted(*p) || pod_terminal(*p)) continue;
      count++;
      ready += pod_ready(*p);
      available += pod_available(*p, min_ready, now);
      std::string rev = labels_of(*p).value(kRevisionLabel, "");
      at_current += rev == current;
      updated += rev == revision;
    }
    if (updated == replicas && ready == replicas && count == replicas) {
      current = revision;
      at_current = updated;
    }
    json next = status;
    next["observedGeneration"] = metadata(sts).value("generation", int64_t{1});
    next["replicas"] = count;
    next["readyReplicas"] = ready;
    next["availableReplicas"] = available;
    next["currentReplicas"] = at_current;
    next["updatedReplicas"] = updated;
    next["currentRevision"] = current;
    next["updateRevision"] = revision;
    next["collisionCount"] = 0;
    for (const char* k : {"readyReplicas", "currentReplicas", "updatedReplicas"}) {
      if (next[k] == 0) next.erase(k);
    }
    return write_status(
        c_.api, object_path("apps/v1", "statefulsets", namespace_of(sts), name_of(sts)), sts, next);
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_stateful_set_controller(ControllerContext& c) {
  return std::make_unique<StatefulSetController>(c);
}

}  // namespace k3s::controllers
