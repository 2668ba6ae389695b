// The node lifecycle controller: a node whose kubelet has posted neither its status nor its
// lease (kube-node-lease) for the grace period turns Ready=Unknown ("Kubelet stopped posting
// node status."); unreachable nodes get the node.kubernetes.io/unreachable taints, nodes that
// report NotReady the not-ready ones (NoSchedule and NoExecute), and lose them when healthy
// again. Pods on a NoExecute-tainted node are evicted at once unless they tolerate the taint,
// and after their tolerationSeconds if they do. When a Node is deleted, its pods are removed
// and so is its node-password Secret (<node>.node-password.k3s in kube-system).
#include <algorithm>

#include "core/base/time.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kNodes[] = "/registry/nodes/";
constexpr char kLeases[] = "/registry/leases/kube-node-lease/";
constexpr char kUnreachable[] = "node.kubernetes.io/unreachable";
constexpr char kNotReady[] = "node.kubernetes.io/not-ready";

json ready_condition(const json& node) {
  for (const auto& c : node.value("status", json::object()).value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c;
  }
  return json::object();
}

bool ours(const json& taint) {
  std::string key = taint.value("key", "");
  return key == kUnreachable || key == kNotReady;
}

class NodeLifecycleController : public Controller {
 public:
  explicit NodeLifecycleController(ControllerContext& c)
      : Controller("node-lifecycle-controller"), c_(c) {
    c_.informer.on_change(kNodes, [this](const Change& ch) {
      queue().add(name_of(ch.after ? *ch.after : *ch.before));
      // Once the view shows new taints, the node's pods are checked against them.
      auto taints = [](const ObjectPtr& n) {
        return n ? n->value("spec", json::object()).value("taints", json::array()) : json();
      };
      if (ch.after && taints(ch.before) != taints(ch.after)) {
        for (const ObjectPtr& pod : pods_on(name_of(*ch.after)))
          queue().add("pod/" + queue_key(*pod));
      }
    });
    c_.informer.on_change(kLeases, [this](const Change& ch) {
      if (ch.after) queue().add(name_of(*ch.after));
    });
    c_.informer.on_change("/registry/pods/", [this](const Change& ch) {
      if (ch.after && !being_deleted(*ch.after) &&
          !ch.after->value("spec", json::object()).value("nodeName", "").empty())
        queue().add("pod/" + queue_key(*ch.after));
    });
  }

  core::Result<void> sync(const std::string& key) override {
    if (key.starts_with("pod/")) return evict(key.substr(4));
    ObjectPtr node = c_.informer.get(kNodes + key);
    if (!node) return forget_node(key);
    return monitor(*node);
  }

 private:
  int64_t last_heard(const json& node) {
    int64_t last = core::parse_rfc3339(metadata(node).value("creationTimestamp", "")).value_or(0);
    if (auto beat = core::parse_rfc3339(ready_condition(node).value("lastHeartbeatTime", "")))
      last = std::max(last, *beat);
    if (ObjectPtr lease = c_.informer.get(kLeases + name_of(node))) {
      if (auto renew =
              core::parse_rfc3339(lease->value("spec", json::object()).value("renewTime", "")))
        last = std::max(last, *renew);
    }
    return last;
  }

  core::Result<void> monitor(const json& node) {
    int64_t now = core::system_now();
    int64_t grace = c_.options.node_monitor_grace_seconds;
    int64_t silent = now - last_heard(node);
    json ready = ready_condition(node);
    std::string state = ready.value("status", "Unknown");
    if (silent > grace && state != "Unknown") {
      K3A_CHECK(mark_unknown(node));
      state = "Unknown";
    } else if (silent <= grace) {
      queue().add_after(name_of(node), std::chrono::seconds(grace - silent + 1));
    }
    // A node never heard of stays untainted until its grace period has run.
    if (ready.empty() && silent <= grace) return {};
    return set_taints(node, state == "True" ? "" : state == "False" ? kNotReady : kUnreachable);
  }

  core::Result<void> mark_unknown(const json& node) {
    std::string now = now_rfc3339();
    json body = node;
    json conditions = json::array();
    for (std::string type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
      json old = json::object();
      for (const auto& c : node.value("status", json::object()).value("conditions", json::array()))
        if (c.value("type", "") == type) old = c;
      conditions.push_back({{"type", type},
                            {"status", "Unknown"},
                            {"reason", "NodeStatusUnknown"},
                            {"message", "Kubelet stopped posting node status."},
                            {"lastHeartbeatTime", old.value("lastHeartbeatTime", now)},
                            {"lastTransitionTime", now}});
    }
    body["status"]["conditions"] = conditions;
    auto w = c_.api.replace(object_path("v1", "nodes", "", name_of(node)) + "/status", body);
    if (!w) return std::unexpected(w.error());
    c_.events.record(name(), node, "Normal", "NodeNotReady",
                     fmt::format("Node {} status is now: NodeNotReady", name_of(node)));
    // Its pods are no longer ready.
    for (const ObjectPtr& pod : pods_on(name_of(node))) {
      if (!pod_ready(*pod)) continue;
      json p = *pod;
      for (auto& c : p["status"]["conditions"]) {
        if (c.value("type", "") == "Ready" || c.value("type", "") == "ContainersReady") {
          c["status"] = "False";
          c["lastTransitionTime"] = now;
        }
      }
      (void)c_.api.replace(object_path("v1", "pods", namespace_of(*pod), name_of(*pod)) + "/status",
                           p);
      c_.events.record(name(), *pod, "Warning", "NodeNotReady", "Node is not ready");
    }
    return {};
  }

  // The node's taints with ours for `key` ("" for none) in place of any we set before.
  core::Result<void> set_taints(const json& node, const std::string& key) {
    json have = node.value("spec", json::object()).value("taints", json::array());
    json want = json::array();
    for (const auto& t : have) {
      if (!ours(t) || t.value("key", "") == key) want.push_back(t);
    }
    for (std::string effect : {"NoSchedule", "NoExecute"}) {
      if (key.empty()) break;
      bool present = std::any_of(want.begin(), want.end(), [&](const json& t) {
        return t.value("key", "") == key && t.value("effect", "") == effect;
      });
      if (!present) {
        json t = {{"key", key}, {"effect", effect}};
        if (effect == "NoExecute") t["timeAdded"] = now_rfc3339();
        want.push_back(t);
      }
    }
    if (want == have) return {};
    json patch = {{"spec", {{"taints", want.empty() ? json() : want}}},
                  {"metadata", {{"resourceVersion", metadata(node)["resourceVersion"]}}}};
    return unless_missing(c_.api.merge_patch(object_path("v1", "nodes", "", name_of(node)), patch));
  }

  // A pod on a node with NoExecute taints it does not tolerate (or tolerates only for a while,
  // now over) is deleted.
  core::Result<void> evict(const std::string& key) {
    ObjectPtr pod = c_.informer.get("/registry/pods/" + key);
    if (!pod || being_deleted(*pod)) return {};
    std::string node_name = pod->value("spec", json::object()).value("nodeName", "");
    ObjectPtr node = c_.informer.get(kNodes + node_name);
    if (!node) return {};
    json tolerations = pod->value("spec", json::object()).value("tolerations", json::array());
    int64_t now = core::system_now();
    int64_t wait = -1;  // seconds until eviction; -1: tolerated for ever
    for (const auto& taint : node->value("spec", json::object()).value("taints", json::array())) {
      if (taint.value("effect", "") != "NoExecute") continue;
      json t = matching_toleration(tolerations, taint);
      int64_t allowed = t.is_null()                       ? -2  // not tolerated
                        : t.contains("tolerationSeconds") ? t["tolerationSeconds"].get<int64_t>()
                                                          : -1;
      if (allowed == -1) continue;
      int64_t added = core::parse_rfc3339(taint.value("timeAdded", "")).value_or(now);
      int64_t left = allowed == -2 ? 0 : std::max<int64_t>(0, added + allowed - now);
      wait = wait < 0 ? left : std::min(wait, left);
    }
    if (wait < 0) return {};
    if (wait > 0) {
      queue().add_after("pod/" + key, std::chrono::seconds(wait));
      return {};
    }
    c_.events.record(name(), *pod, "Normal", "TaintManagerEviction",
                     "Marking for deletion Pod " + key);
    K3A_CHECK(unless_missing(
        c_.api.remove(object_path("v1", "pods", namespace_of(*pod), name_of(*pod)))));
    return {};
  }

  std::vector<ObjectPtr> pods_on(const std::string& node) {
    std::vector<ObjectPtr> out;
    for (const ObjectPtr& p : c_.informer.list("/registry/pods/")) {
      if (p->value("spec", json::object()).value("nodeName", "") == node) out.push_back(p);
    }
    return out;
  }

  // A deleted Node: its pods go at once (no kubelet will finish them) and so does its
  // node-password Secret.
  core::Result<void> forget_node(const std::string& node) {
    for (const ObjectPtr& pod : pods_on(node)) {
      K3A_CHECK(unless_missing(
          c_.api.remove(object_path("v1", "pods", namespace_of(*pod), name_of(*pod)), "", 0)));
    }
    std::string secret = node + ".node-password.k3s";
    if (c_.informer.get("/registry/secrets/kube-system/" + secret)) {
      K3A_CHECK(unless_missing(c_.api.remove(object_path("v1", "secrets", "kube-system", secret))));
    }
    return {};
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_node_lifecycle_controller(ControllerContext& c) {
  return std::make_unique<NodeLifecycleController>(c);
}

}  // namespace k3s::controllers
