// ServiceLB, k3s's load balancer for bare nodes: a Service of type LoadBalancer without a
// loadBalancerClass gets the addresses of the Ready nodes as its ingress (ExternalIPs when any
// node has one, else InternalIPs; only the nodes labelled svccontroller.k3s.cattle.io/enablelb
// =true when some are), and every node's proxy forwards those addresses' Service ports to the
// endpoints (k3s/agent/proxy_rules.h), where upstream runs a klipper-lb pod per node. Off with
// --disable servicelb.
#include <set>

#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kNodes[] = "/registry/nodes/";
constexpr char kServices[] = "/registry/services/specs/";
constexpr char kEnableLabel[] = "svccontroller.k3s.cattle.io/enablelb";

class ServiceLbController : public Controller {
 public:
  explicit ServiceLbController(ControllerContext& c) : Controller("service-lb-controller"), c_(c) {
    c_.informer.on_change(
        kServices, [this](const Change& ch) { queue().add(ch.key.substr(sizeof kServices - 1)); });
    c_.informer.on_change(kNodes, [this](const Change&) {
      for (const ObjectPtr& s : c_.informer.list(kServices))
        queue().add(namespace_of(*s) + "/" + name_of(*s));
    });
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr svc = c_.informer.get(kServices + key);
    if (!svc || being_deleted(*svc)) return {};
    const json& spec = svc->value("spec", json::object());
    if (spec.value("type", "") != "LoadBalancer" || spec.contains("loadBalancerClass")) return {};
    json status = svc->value("status", json::object());
    status["loadBalancer"] = {{"ingress", ingress()}};
    if (status["loadBalancer"]["ingress"].empty()) status["loadBalancer"] = json::object();
    return write_status(c_.api, object_path("v1", "services", namespace_of(*svc), name_of(*svc)),
                        *svc, status);
  }

 private:
  json ingress() {
    std::vector<ObjectPtr> nodes = c_.informer.list(kNodes);
    bool labelled = std::any_of(nodes.begin(), nodes.end(), [](const ObjectPtr& n) {
      return labels_of(*n).value(kEnableLabel, "") == "true";
    });
    std::set<std::string> internal, external;
    for (const ObjectPtr& n : nodes) {
      if (being_deleted(*n) || !node_ready(*n)) continue;
      if (labelled && labels_of(*n).value(kEnableLabel, "") != "true") continue;
      for (const json& a : n->value("status", json::object()).value("addresses", json::array())) {
        std::string type = a.value("type", "");
        if (type == "InternalIP") internal.insert(a.value("address", ""));
        if (type == "ExternalIP") external.insert(a.value("address", ""));
      }
    }
    json out = json::array();
    for (const auto& ip : external.empty() ? internal : external) out.push_back({{"ip", ip}});
    return out;
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_service_lb_controller(ControllerContext& c) {
  return std::make_unique<ServiceLbController>(c);
}

}  // namespace k3s::controllers
