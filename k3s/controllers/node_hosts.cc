// The CoreDNS NodeHosts controller: the `NodeHosts` key of kube-system/coredns holds one
// "<InternalIP> <node name>" line per node (sorted), as k3s's node controller keeps it, so
// that CoreDNS's hosts plugin resolves node names and the packaged Deployment's config volume,
// which projects that key, can be set up. Nodes being deleted are left out; a missing
// ConfigMap (CoreDNS disabled) is left alone.
#include <set>

#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kNodes[] = "/registry/nodes/";
constexpr char kCoreDns[] = "/registry/configmaps/kube-system/coredns";

class NodeHostsController : public Controller {
 public:
  explicit NodeHostsController(ControllerContext& c) : Controller("node-hosts-controller"), c_(c) {
    c_.informer.on_change(kNodes, [this](const Change&) { queue().add("coredns"); });
    c_.informer.on_change(kCoreDns, [this](const Change&) { queue().add("coredns"); });
  }

  core::Result<void> sync(const std::string&) override {
    ObjectPtr cm = c_.informer.get(kCoreDns);
    if (!cm || being_deleted(*cm)) return {};
    std::set<std::string> lines;
    for (const ObjectPtr& node : c_.informer.list(kNodes)) {
      if (being_deleted(*node)) continue;
      for (const json& a : node->value("status", json::object()).value("addresses", json::array()))
        if (a.value("type", "") == "InternalIP")
          lines.insert(a.value("address", "") + " " + name_of(*node));
    }
    std::string hosts;
    for (const auto& line : lines) hosts += line + "\n";
    if (cm->value("data", json::object()).value("NodeHosts", "\x01") == hosts) return {};
    json patch = {{"metadata", {{"resourceVersion", metadata(*cm)["resourceVersion"]}}},
                  {"data", {{"NodeHosts", hosts}}}};
    auto r = c_.api.merge_patch(object_path("v1", "configmaps", "kube-system", "coredns"), patch);
    if (!r) return std::unexpected(r.error());
    return {};
  }

 private:
  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_node_hosts_controller(ControllerContext& c) {
  return std::make_unique<NodeHostsController>(c);
}

}  // namespace k3s::controllers
