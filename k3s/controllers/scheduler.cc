// The scheduler: binds each pending pod (no nodeName, schedulerName default-scheduler) to a
// node that passes upstream's filters (unschedulable nodes, taints against tolerations,
// nodeSelector and required node affinity, required pod anti-affinity by hostname, free host
// ports, cpu, memory and pod count against allocatable), preferring the least requested
// node. A pod that fits nowhere gets PodScheduled=False and a FailedScheduling event with
// upstream's summary ("0/3 nodes are available: ..."), and is tried again when nodes or pods
// change.
#include <algorithm>
#include <map>
#include <set>

#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kNodes[] = "/registry/nodes/";
constexpr char kPods[] = "/registry/pods/";

struct Resources {
  int64_t cpu_milli = 0, memory = 0;
};

Resources requests_of(const json& pod) {
  Resources sum, init;
  const json& spec = pod.value("spec", json::object());
  auto add = [](Resources& r, const json& c) {
    const json& req = c.value("resources", json::object()).value("requests", json::object());
    r.cpu_milli += quantity_milli(req.value("cpu", json()));
    r.memory += quantity_value(req.value("memory", json()));
  };
  for (const auto& c : spec.value("containers", json::array())) add(sum, c);
  for (const auto& c : spec.value("initContainers", json::array())) {
    Resources one;
    add(one, c);
    init.cpu_milli = std::max(init.cpu_milli, one.cpu_milli);
    init.memory = std::max(init.memory, one.memory);
  }
  return {std::max(sum.cpu_milli, init.cpu_milli), std::max(sum.memory, init.memory)};
}

// The node selector terms of required node affinity: any term may match; within a term, every
// expression on labels and every field (metadata.name) must.
bool affinity_matches(const json& required, const json& node) {
  const json& terms = required.value("nodeSelectorTerms", json::array());
  if (terms.empty()) return true;
  json fields = {{"metadata.name", node["metadata"].value("name", "")}};
  for (const auto& term : terms) {
    bool ok = !term.value("matchExpressions", json::array()).empty() ||
              !term.value("matchFields", json::array()).empty();
    for (const auto& e : term.value("matchExpressions", json::array()))
      ok = ok && requirement_matches(e, labels_of(node));
    for (const auto& e : term.value("matchFields", json::array()))
      ok = ok && requirement_matches(e, fields);
    if (ok) return true;
  }
  return false;
}

std::set<std::pair<std::string, int64_t>> host_ports(const json& pod) {
  std::set<std::pair<std::string, int64_t>> out;
  for (const auto& c : pod.value("spec", json::object()).value("containers", json::array())) {
    for (const auto& p : c.value("ports", json::array())) {
      if (p.value("hostPort", int64_t{0}) > 0)
        out.insert({p.value("protocol", "TCP"), p.value("hostPort", int64_t{0})});
    }
  }
  return out;
}

// A pod bound (or assumed bound) to a node, with what it takes from it.
struct Placed {
  ObjectPtr pod;
  Resources requests;
  std::set<std::pair<std::string, int64_t>> ports;
};
using NodePods = std::map<std::string, Placed>;  // pod key -> pod

class Scheduler : public Controller {
 public:
  explicit Scheduler(ControllerContext& c) : Controller("default-scheduler"), c_(c) {
    c_.informer.on_change(kPods, [this](const Change& ch) {
      place(ch);
      if (ch.after && pending(*ch.after)) queue().add(queue_key(*ch.after));
      // Freed capacity or ports: the unschedulable pods get another chance.
      if (ch.before && (!ch.after || (!pod_terminal(*ch.before) && pod_terminal(*ch.after))))
        retry_unschedulable();
    });
    c_.informer.on_change(kNodes, [this](const Change&) { retry_unschedulable(); });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr pod = c_.informer.get(kPods + key);
    if (!pod || !pending(*pod)) {
      forget_unschedulable(key);
      return {};
    }
    std::vector<ObjectPtr> nodes = c_.informer.list(kNodes);
    std::map<std::string, int> reasons;
    const json* best = nullptr;
    double best_score = 0;
    {
      std::lock_guard lock(placed_mu_);
      for (const ObjectPtr& node : nodes) {
        const NodePods& there = placed_[name_of(*node)];
        std::string why = misfit(*pod, *node, there);
        if (!why.empty()) {
          reasons[why]++;
          continue;
        }
        double score = load(*pod, *node, there);
        if (!best || score < best_score) {
          best = node.get();
          best_score = score;
        }
      }
    }
    if (!best) return unschedulable(*pod, key, nodes.size(), reasons);
    json binding = {{"apiVersion", "v1"},
                    {"kind", "Binding"},
                    {"metadata", {{"name", name_of(*pod)}, {"namespace", namespace_of(*pod)}}},
                    {"target", {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", name_of(*best)}}}};
    auto bound = c_.api.create(
        object_path("v1", "pods", namespace_of(*pod), name_of(*pod)) + "/binding", binding);
    if (!bound && bound.error().code() != core::Errc::kNotFound &&
        bound.error().code() != core::Errc::kConflict)
      return std::unexpected(bound.error());
    forget_unschedulable(key);
    if (bound) {
      // Assumed bound until the informer shows it, so the next pod sees the node's new load.
      auto assumed = std::make_shared<json>(*pod);
      (*assumed)["spec"]["nodeName"] = name_of(*best);
      std::lock_guard lock(placed_mu_);
      placed_[name_of(*best)][key] = {assumed, requests_of(*pod), host_ports(*pod)};
    }
    if (bound) {
      c_.events.record(name(), *pod, "Normal", "Scheduled",
                       fmt::format("Successfully assigned {} to {}", key, name_of(*best)));
    }
    return {};
  }

 private:
  static bool pending(const json& pod) {
    const json& spec = pod.value("spec", json::object());
    std::string scheduler = spec.value("schedulerName", "default-scheduler");
    return spec.value("nodeName", "").empty() && scheduler == "default-scheduler" &&
           pod_active(pod);
  }

  // Keeps placed_ current: which pods are bound to which node.
  void place(const Change& ch) {
    std::string key = queue_key(ch.after ? *ch.after : *ch.before);
    auto node_of = [](const ObjectPtr& p) {
      return p ? p->value("spec", json::object()).value("nodeName", "") : std::string();
    };
    std::lock_guard lock(placed_mu_);
    if (std::string before = node_of(ch.before); !before.empty()) placed_[before].erase(key);
    std::string after = node_of(ch.after);
    if (!after.empty() && !pod_terminal(*ch.after))
      placed_[after][key] = {ch.after, requests_of(*ch.after), host_ports(*ch.after)};
  }

  // Why `node` cannot take `pod`, in upstream's words; "" when it can.
  static std::string misfit(const json& pod, const json& node, const NodePods& there) {
    const json& spec = pod.value("spec", json::object());
    const json& nspec = node.value("spec", json::object());
    json tolerations = spec.value("tolerations", json::array());
    if (nspec.value("unschedulable", false) &&
        matching_toleration(tolerations,
                            {{"key", "node.kubernetes.io/unschedulable"}, {"effect", "NoSchedule"}})
            .is_null())
      return "node(s) were unschedulable";
    for (const auto& taint : nspec.value("taints", json::array())) {
      std::string effect = taint.value("effect", "");
      if ((effect == "NoSchedule" || effect == "NoExecute") &&
          matching_toleration(tolerations, taint).is_null()) {
        std::string kv = taint.value("key", "");
        if (!taint.value("value", "").empty()) kv += ": " + taint.value("value", "");
        return "node(s) had untolerated taint {" + kv + "}";
      }
    }
    json labels = labels_of(node);
    json node_selector = spec.value("nodeSelector", json::object());
    for (const auto& [k, v] : node_selector.items()) {
      if (!labels.contains(k) || labels[k] != v)
        return "node(s) didn't match Pod's node affinity/selector";
    }
    const json& affinity = spec.value("affinity", json::object());
    const json& required = affinity.value("nodeAffinity", json::object())
                               .value("requiredDuringSchedulingIgnoredDuringExecution", json());
    if (required.is_object() && !affinity_matches(required, node))
      return "node(s) didn't match Pod's node affinity/selector";
    for (const auto& term :
         affinity.value("podAntiAffinity", json::object())
             .value("requiredDuringSchedulingIgnoredDuringExecution", json::array())) {
      if (term.value("topologyKey", "") != "kubernetes.io/hostname") continue;
      json namespaces = term.value("namespaces", json::array({namespace_of(pod)}));
      for (const auto& [key, other] : there) {
        bool in_ns = std::find(namespaces.begin(), namespaces.end(), namespace_of(*other.pod)) !=
                     namespaces.end();
        if (in_ns && selector_matches(term.value("labelSelector", json()), labels_of(*other.pod)))
          return "node(s) didn't match pod anti-affinity rules";
      }
    }
    auto wanted_ports = host_ports(pod);
    for (const auto& [key, other] : there) {
      for (const auto& p : other.ports) {
        if (wanted_ports.count(p))
          return "node(s) didn't have free ports for the requested pod ports";
      }
    }
    const json& status = node.value("status", json::object());
    json alloc = status.value("allocatable", status.value("capacity", json::object()));
    int64_t max_pods = alloc.contains("pods") ? quantity_value(alloc["pods"]) : 110;
    if (static_cast<int64_t>(there.size()) + 1 > max_pods) return "Too many pods";
    Resources used = total(there);
    Resources want = requests_of(pod);
    if (alloc.contains("cpu") && want.cpu_milli > 0 &&
        used.cpu_milli + want.cpu_milli > quantity_milli(alloc["cpu"]))
      return "Insufficient cpu";
    if (alloc.contains("memory") && want.memory > 0 &&
        used.memory + want.memory > quantity_value(alloc["memory"]))
      return "Insufficient memory";
    return "";
  }

  // The share of the node's cpu and memory requested once the pod is there (lower is better),
  // with the pod count breaking ties.
  static Resources total(const NodePods& there) {
    Resources used;
    for (const auto& [key, other] : there) {
      used.cpu_milli += other.requests.cpu_milli;
      used.memory += other.requests.memory;
    }
    return used;
  }

  static double load(const json& pod, const json& node, const NodePods& there) {
    const json& status = node.value("status", json::object());
    json alloc = status.value("allocatable", status.value("capacity", json::object()));
    Resources used = total(there);
    Resources mine = requests_of(pod);
    used.cpu_milli += mine.cpu_milli;
    used.memory += mine.memory;
    double cpu = static_cast<double>(quantity_milli(alloc.value("cpu", json("1"))));
    double mem = static_cast<double>(quantity_value(alloc.value("memory", json("1Gi"))));
    double share = (cpu > 0 ? used.cpu_milli / cpu : 0) + (mem > 0 ? used.memory / mem : 0);
    return share + static_cast<double>(there.size()) * 1e-6;
  }

  core::Result<void> unschedulable(const json& pod, const std::string& key, size_t nodes,
                                   const std::map<std::string, int>& reasons) {
    std::string message;
    if (nodes == 0) {
      message = "no nodes available to schedule pods";
    } else {
      std::vector<std::string> parts;
      for (const auto& [why, n] : reasons) parts.push_back(fmt::format("{} {}", n, why));
      std::sort(parts.begin(), parts.end());
      message = fmt::format(
          "0/{} nodes are available: {}. preemption: 0/{} nodes are available: {} Preemption is "
          "not helpful for scheduling.",
          nodes, fmt::join(parts, ", "), nodes, nodes);
    }
    {
      std::lock_guard lock(mu_);
      unschedulable_.insert(key);
    }
    queue().add_after(key, std::chrono::seconds(10));
    json status = pod.value("status", json::object());
    json conditions = status.value("conditions", json::array());
    for (const auto& c : conditions) {
      if (c.value("type", "") == "PodScheduled" && c.value("message", "") == message) return {};
    }
    conditions.erase(
        std::remove_if(conditions.begin(), conditions.end(),
                       [](const json& c) { return c.value("type", "") == "PodScheduled"; }),
        conditions.end());
    conditions.push_back({{"type", "PodScheduled"},
                          {"status", "False"},
                          {"reason", "Unschedulable"},
                          {"message", message},
                          {"lastProbeTime", nullptr},
                          {"lastTransitionTime", now_rfc3339()}});
    json body = pod;
    body["status"]["conditions"] = conditions;
    if (!body["status"].contains("phase")) body["status"]["phase"] = "Pending";
    K3A_CHECK(unless_missing(c_.api.replace(
        object_path("v1", "pods", namespace_of(pod), name_of(pod)) + "/status", body)));
    c_.events.record(name(), pod, "Warning", "FailedScheduling", message);
    return {};
  }

  void retry_unschedulable() {
    std::set<std::string> keys;
    {
      std::lock_guard lock(mu_);
      keys = unschedulable_;
    }
    for (const auto& k : keys) queue().add(k);
  }

  void forget_unschedulable(const std::string& key) {
    std::lock_guard lock(mu_);
    unschedulable_.erase(key);
  }

  ControllerContext& c_;
  std::mutex mu_;
  std::set<std::string> unschedulable_;
  std::mutex placed_mu_;
  std::map<std::string, NodePods> placed_;  // node -> the pods bound to it
};

}  // namespace

std::unique_ptr<Controller> make_scheduler(ControllerContext& c) {
  return std::make_unique<Scheduler>(c);
}

}  // namespace k3s::controllers
