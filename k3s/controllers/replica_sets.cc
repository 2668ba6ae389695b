// The ReplicaSet controller: keeps spec.replicas active pods made from spec.template, owned by
// the set (adopting matching orphans), deleting the least valuable first (unscheduled, then
// pending, then not ready, then the newest), and reports replicas, fullyLabeledReplicas,
// readyReplicas and availableReplicas (ready for minReadySeconds).
#include <algorithm>

#include "core/base/time.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kPrefix[] = "/registry/replicasets/";

// Whether pod `a` should be deleted before `b`: unscheduled before scheduled, pending before
// unknown before running, not ready before ready, then the newer first.
bool delete_first(const json& a, const json& b) {
  auto rank = [](const json& pod) {
    std::string phase = pod.value("status", json::object()).value("phase", "Pending");
    return std::tuple(!pod.value("spec", json::object()).value("nodeName", "").empty(),
                      phase == "Pending"   ? 0
                      : phase == "Unknown" ? 1
                                           : 2,
                      pod_ready(pod));
  };
  if (rank(a) != rank(b)) return rank(a) < rank(b);
  return metadata(a).value("creationTimestamp", "") > metadata(b).value("creationTimestamp", "");
}

class ReplicaSetController : public Controller {
 public:
  explicit ReplicaSetController(ControllerContext& c) : Controller("replicaset-controller"), c_(c) {
    c_.informer.on_change(kPrefix, [this](const Change& ch) {
      queue().add(queue_key(ch.after ? *ch.after : *ch.before));
    });
    c_.informer.on_change("/registry/pods/", [this](const Change& ch) {
      for (const ObjectPtr& p : {ch.before, ch.after}) {
        if (!p) continue;
        enqueue_controller(*p, "ReplicaSet");
        // An orphan may be adopted by a set whose selector matches it.
        if (controller_uid(*p).empty() && ch.after) {
          for (const ObjectPtr& rs : c_.informer.list(kPrefix + namespace_of(*p) + "/")) {
            if (selector_matches(rs->value("spec", json::object()).value("selector", json()),
                                 labels_of(*p)))
              queue().add(queue_key(*rs));
          }
        }
      }
    });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr rs = c_.informer.get(kPrefix + key);
    if (!rs) {
      expectations_.forget(key);
      return {};
    }
    const json& spec = rs->value("spec", json::object());
    std::string ns = namespace_of(*rs);
    std::vector<ObjectPtr> owned;
    for (const ObjectPtr& pod : c_.informer.list("/registry/pods/" + ns + "/")) {
      std::string owner = controller_uid(*pod);
      if (owner == uid_of(*rs)) {
        owned.push_back(pod);
      } else if (owner.empty() && pod_active(*pod) && !being_deleted(*rs) &&
                 selector_matches(spec.value("selector", json()), labels_of(*pod))) {
        K3A_CHECK(adopt(*rs, *pod));
        owned.push_back(pod);
      }
    }
    std::vector<ObjectPtr> active;
    for (const auto& p : owned) {
      if (pod_active(*p)) active.push_back(p);
    }
    if (!being_deleted(*rs) && expectations_.settled(key, owned))
      K3A_CHECK(manage(*rs, key, active));
    return update_status(*rs, key, active);
  }

 private:
  core::Result<void> adopt(const json& rs, const json& pod) {
    json refs = metadata(pod).value("ownerReferences", json::array());
    refs.push_back(controller_ref(rs));
    json patch = {
        {"metadata",
         {{"ownerReferences", refs}, {"resourceVersion", metadata(pod)["resourceVersion"]}}}};
    auto r = c_.api.merge_patch(object_path("v1", "pods", namespace_of(pod), name_of(pod)), patch);
    if (!r) return std::unexpected(r.error());
    return {};
  }

  core::Result<void> manage(const json& rs, const std::string& key, std::vector<ObjectPtr> active) {
    const json& spec = rs.value("spec", json::object());
    int64_t want = spec.value("replicas", int64_t{1});
    int64_t have = static_cast<int64_t>(active.size());
    std::string ns = namespace_of(rs);
    for (int64_t i = have; i < want; ++i) {
      const json& tmpl = spec.value("template", json::object());
      json md = tmpl.value("metadata", json::object());
      md.erase("name");
      md["generateName"] = name_of(rs) + "-";
      md["namespace"] = ns;
      md["ownerReferences"] = json::array({controller_ref(rs)});
      json pod = {{"apiVersion", "v1"},
                  {"kind", "Pod"},
                  {"metadata", md},
                  {"spec", tmpl.value("spec", json::object())}};
      auto created = c_.api.create(object_path("v1", "pods", ns), pod);
      if (!created) {
        c_.events.record(name(), rs, "Warning", "FailedCreate",
                         "Error creating: " + created.error().message());
        return std::unexpected(created.error());
      }
      expectations_.expect_create(key, name_of(*created));
      c_.events.record(name(), rs, "Normal", "SuccessfulCreate",
                       "Created pod: " + name_of(*created));
    }
    if (have > want) {
      std::sort(active.begin(), active.end(),
                [](const ObjectPtr& a, const ObjectPtr& b) { return delete_first(*a, *b); });
      for (int64_t i = 0; i < have - want; ++i) {
        const json& pod = *active[i];
        expectations_.expect_delete(key, name_of(pod));
        K3A_CHECK(unless_missing(c_.api.remove(object_path("v1", "pods", ns, name_of(pod)))));
        c_.events.record(name(), rs, "Normal", "SuccessfulDelete", "Deleted pod: " + name_of(pod));
      }
    }
    return {};
  }

  core::Result<void> update_status(const json& rs, const std::string& key,
                                   const std::vector<ObjectPtr>& active) {
    const json& spec = rs.value("spec", json::object());
    json tmpl_labels = spec.value("template", json::object())
                           .value("metadata", json::object())
                           .value("labels", json::object());
    int64_t min_ready = spec.value("minReadySeconds", int64_t{0});
    int64_t now = core::system_now();
    int64_t labeled = 0, ready = 0, available = 0;
    bool waiting = false;
    for (const auto& p : active) {
      json labels = labels_of(*p);
      labeled +=
          std::all_of(tmpl_labels.items().begin(), tmpl_labels.items().end(), [&](const auto& kv) {
            return labels.contains(kv.key()) && labels[kv.key()] == kv.value();
          });
      ready += pod_ready(*p);
      bool avail = pod_available(*p, min_ready, now);
      available += avail;
      waiting |= pod_ready(*p) && !avail;
    }
    if (waiting) queue().add_after(key, std::chrono::seconds(1));
    json status = rs.value("status", json::object());
    json next = status;
    next["replicas"] = static_cast<int64_t>(active.size());
    next["fullyLabeledReplicas"] = labeled;
    next["readyReplicas"] = ready;
    next["availableReplicas"] = available;
    next["observedGeneration"] = metadata(rs).value("generation", int64_t{1});
    for (const char* k : {"fullyLabeledReplicas", "readyReplicas", "availableReplicas"}) {
      if (next[k] == 0) next.erase(k);  // omitted when zero, as upstream serialises them
    }
    return write_status(
        c_.api, object_path("apps/v1", "replicasets", namespace_of(rs), name_of(rs)), rs, next);
  }

  ControllerContext& c_;
  Expectations expectations_;
};

}  // namespace

std::unique_ptr<Controller> make_replica_set_controller(ControllerContext& c) {
  return std::make_unique<ReplicaSetController>(c);
}

}  // namespace k3s::controllers
