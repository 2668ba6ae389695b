// The node IPAM controller: every Node without a pod CIDR gets the lowest free /24 of the
// cluster CIDR (--cluster-cidr, IPv4) in spec.podCIDR and spec.podCIDRs, as upstream's
// range allocator does with the default node-cidr-mask-size; the agent's CNI hands pod
// addresses out of it. A cluster CIDR that is exhausted leaves the node without one and logs why.
#include <arpa/inet.h>

#include <set>

#include "core/base/log.h"
#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kNodes[] = "/registry/nodes/";
constexpr int kNodeMask = 24;

// "10.42.0.0/16" → (network address, prefix); nullopt for anything but IPv4 with prefix <= 24.
std::optional<std::pair<uint32_t, int>> parse_v4(const std::string& cidr) {
  size_t slash = cidr.find('/');
  in_addr a{};
  if (slash == std::string::npos || ::inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &a) != 1)
    return std::nullopt;
  int prefix = std::atoi(cidr.c_str() + slash + 1);
  if (prefix < 1 || prefix > kNodeMask) return std::nullopt;
  uint32_t mask = prefix == 32 ? ~0u : ~((1u << (32 - prefix)) - 1);
  return std::pair{ntohl(a.s_addr) & mask, prefix};
}

std::string format_v4(uint32_t address, int prefix) {
  in_addr a{htonl(address)};
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, text, sizeof text);
  return std::string(text) + "/" + std::to_string(prefix);
}

class NodeIpamController : public Controller {
 public:
  explicit NodeIpamController(ControllerContext& c) : Controller("node-ipam-controller"), c_(c) {
    c_.informer.on_change(kNodes, [this](const Change& ch) {
      if (ch.after) queue().add(name_of(*ch.after));
    });
  }

  core::Result<void> sync(const std::string& name) override {
    ObjectPtr node = c_.informer.get(kNodes + name);
    if (!node || being_deleted(*node) ||
        !node->value("spec", json::object()).value("podCIDR", "").empty())
      return {};
    auto cluster = parse_v4(c_.options.cluster_cidr);
    if (!cluster) {
      core::log::warn("node-ipam-controller: cluster CIDR {} is not IPv4 with a prefix up to /{}",
                      c_.options.cluster_cidr, kNodeMask);
      return {};
    }
    std::set<std::string> taken;
    for (const ObjectPtr& n : c_.informer.list(kNodes))
      taken.insert(n->value("spec", json::object()).value("podCIDR", ""));
    uint32_t count = 1u << (kNodeMask - cluster->second);
    for (uint32_t i = 0; i < count; ++i) {
      std::string cidr = format_v4(cluster->first + (i << (32 - kNodeMask)), kNodeMask);
      if (taken.count(cidr)) continue;
      json patch = {{"metadata", {{"resourceVersion", metadata(*node)["resourceVersion"]}}},
                    {"spec", {{"podCIDR", cidr}, {"podCIDRs", {cidr}}}}};
      auto r = c_.api.merge_patch(object_path("v1", "nodes", "", name), patch);
      if (!r) return std::unexpected(r.error());
      return {};
    }
    core::log::warn("node-ipam-controller: no pod CIDR left in {} for node {}",
                    c_.options.cluster_cidr, name);
    return {};
  }

 private:
  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_node_ipam_controller(ControllerContext& c) {
  return std::make_unique<NodeIpamController>(c);
}

}  // namespace k3s::controllers
