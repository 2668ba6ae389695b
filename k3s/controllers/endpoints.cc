// The endpoints and endpointslice controllers: for every Service with a selector, an Endpoints
// object (ready pods' addresses, not-ready ones apart, ports with named targetPorts resolved per
// pod) and an EndpointSlice (every pod with an IP, with its ready, serving and terminating
// conditions), owned by the Service and labelled as upstream's controller labels them. The
// `kubernetes` Service's endpoints name the API server itself.
#include <map>

#include "k3s/controllers/manager.h"
#include "k3s/controllers/objects.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kServices[] = "/registry/services/specs/";
constexpr char kSlices[] = "/registry/endpointslices/";
constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";
constexpr char kManagedBy[] = "endpointslice.kubernetes.io/managed-by";
constexpr char kSliceController[] = "endpointslice-controller.k8s.io";

// The port a Service port reaches on `pod`: a number, or a named container port; 0 when the
// pod has no port of that name.
int64_t target_port(const json& service_port, const json& pod) {
  json target = service_port.value("targetPort", service_port.value("port", json(0)));
  if (target.is_number_integer()) return target.get<int64_t>();
  std::string wanted = target.is_string() ? target.get<std::string>() : "";
  if (!wanted.empty() && std::all_of(wanted.begin(), wanted.end(), ::isdigit))
    return std::stoll(wanted);
  for (const auto& c : pod.value("spec", json::object()).value("containers", json::array())) {
    for (const auto& p : c.value("ports", json::array())) {
      if (p.value("name", "") == wanted &&
          p.value("protocol", "TCP") == service_port.value("protocol", "TCP"))
        return p.value("containerPort", int64_t{0});
    }
  }
  return 0;
}

json target_ref(const json& pod) {
  return {{"kind", "Pod"},
          {"namespace", namespace_of(pod)},
          {"name", name_of(pod)},
          {"uid", uid_of(pod)}};
}

class EndpointsController : public Controller {
 public:
  explicit EndpointsController(ControllerContext& c) : Controller("endpoint-controller"), c_(c) {
    c_.informer.on_change(kServices, [this](const Change& ch) {
      queue().add(queue_key(ch.after ? *ch.after : *ch.before));
    });
    c_.informer.on_change("/registry/pods/", [this](const Change& ch) {
      const json& any = ch.after ? *ch.after : *ch.before;
      for (const ObjectPtr& svc : c_.informer.list(kServices + namespace_of(any) + "/")) {
        json selector = svc->value("spec", json::object()).value("selector", json());
        if (!selector.is_object() || selector.empty()) continue;
        json match = {{"matchLabels", selector}};
        if ((ch.before && selector_matches(match, labels_of(*ch.before))) ||
            (ch.after && selector_matches(match, labels_of(*ch.after))))
          queue().add(queue_key(*svc));
      }
    });
    // Slices and endpoints edited or deleted by someone else are put back.
    for (const char* prefix : {kSlices, "/registry/services/endpoints/"}) {
      c_.informer.on_change(prefix, [this](const Change& ch) {
        const json& any = ch.after ? *ch.after : *ch.before;
        std::string svc = labels_of(any).value(kServiceNameLabel, "");
        if (svc.empty() && !metadata(any).contains("generateName")) svc = name_of(any);
        if (!svc.empty()) queue().add(namespace_of(any) + "/" + svc);
      });
    }
  }

  core::Result<void> sync(const std::string& key) override {
    ObjectPtr svc = c_.informer.get(kServices + key);
    std::string ns = key.substr(0, key.find('/'));
    std::string name = key.substr(key.find('/') + 1);
    if (!svc) return remove_all(ns, name);
    const json& spec = svc->value("spec", json::object());
    if (key == "default/kubernetes") return publish(*svc, api_server_endpoints(*svc));
    json selector = spec.value("selector", json());
    if (!selector.is_object() || selector.empty() || spec.value("type", "") == "ExternalName")
      return {};  // endpoints of such services are the user's
    json match = {{"matchLabels", selector}};
    bool publish_not_ready = spec.value("publishNotReadyAddresses", false);
    std::vector<ObjectPtr> pods;
    for (const ObjectPtr& p : c_.informer.list("/registry/pods/" + ns + "/")) {
      const json& status = p->value("status", json::object());
      if (selector_matches(match, labels_of(*p)) && !pod_terminal(*p) &&
          !status.value("podIP", "").empty())
        pods.push_back(p);
    }
    return publish(*svc, endpoints_of(*svc, pods, publish_not_ready));
  }

 private:
  struct Published {
    json subsets = json::array();    // Endpoints
    json endpoints = json::array();  // EndpointSlice
    json ports = json::array();      // EndpointSlice
  };

  Published endpoints_of(const json& svc, const std::vector<ObjectPtr>& pods,
                         bool publish_not_ready) {
    const json& service_ports = svc.value("spec", json::object()).value("ports", json::array());
    Published out;
    std::map<json, json> subsets;  // resolved ports -> the subset with them
    for (const ObjectPtr& p : pods) {
      const json& pod = *p;
      json ports = json::array();
      for (const auto& sp : service_ports) {
        int64_t port = target_port(sp, pod);
        if (port == 0) continue;
        json one = {{"port", port}, {"protocol", sp.value("protocol", "TCP")}};
        if (sp.contains("name") && !sp["name"].get<std::string>().empty()) one["name"] = sp["name"];
        ports.push_back(one);
      }
      bool terminating = being_deleted(pod);
      bool ready = (pod_ready(pod) || publish_not_ready) && !terminating;
      std::string node = pod.value("spec", json::object()).value("nodeName", "");
      std::string ip = pod["status"]["podIP"];
      json address = {{"ip", ip}, {"targetRef", target_ref(pod)}};
      if (!node.empty()) address["nodeName"] = node;
      if (!terminating) {
        json& subset = subsets[ports];
        subset[ready ? "addresses" : "notReadyAddresses"].push_back(address);
        if (!ports.empty()) subset["ports"] = ports;
      }
      json endpoint = {{"addresses", {ip}},
                       {"conditions",
                        {{"ready", ready},
                         {"serving", pod_ready(pod) || publish_not_ready},
                         {"terminating", terminating}}},
                       {"targetRef", target_ref(pod)}};
      if (!node.empty()) endpoint["nodeName"] = node;
      out.endpoints.push_back(endpoint);
      if (out.ports.empty()) out.ports = ports;
    }
    for (auto& [ports, subset] : subsets) out.subsets.push_back(subset);
    return out;
  }

  Published api_server_endpoints(const json& svc) {
    Published out;
    json port = {{"name", "https"}, {"port", c_.options.api_port}, {"protocol", "TCP"}};
    out.subsets =
        json::array({{{"addresses", {{{"ip", c_.options.api_address}}}}, {"ports", {port}}}});
    out.endpoints =
        json::array({{{"addresses", {c_.options.api_address}}, {"conditions", {{"ready", true}}}}});
    out.ports = json::array({port});
    (void)svc;
    return out;
  }

  core::Result<void> publish(const json& svc, const Published& p) {
    std::string ns = namespace_of(svc), name = name_of(svc);
    json labels = labels_of(svc);
    // Endpoints.
    json ep = {{"apiVersion", "v1"},
               {"kind", "Endpoints"},
               {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}}};
    if (!p.subsets.empty()) ep["subsets"] = p.subsets;
    if (labels.empty()) ep["metadata"].erase("labels");
    std::string ep_path = object_path("v1", "endpoints", ns, name);
    ObjectPtr have = c_.informer.get("/registry/services/endpoints/" + ns + "/" + name);
    if (!have) {
      K3A_CHECK(unless(c_.api.create(object_path("v1", "endpoints", ns), ep),
                       core::Errc::kAlreadyExists));
    } else if (have->value("subsets", json::array()) != p.subsets || labels_of(*have) != labels) {
      ep["metadata"]["resourceVersion"] = metadata(*have)["resourceVersion"];
      K3A_CHECK(unless_missing(c_.api.replace(ep_path, ep)));
    }
    // The EndpointSlice: one per service.
    json slice_labels = labels;
    slice_labels[kServiceNameLabel] = name;
    slice_labels[kManagedBy] = kSliceController;
    json slice = {{"apiVersion", "discovery.k8s.io/v1"},
                  {"kind", "EndpointSlice"},
                  {"metadata",
                   {{"namespace", ns},
                    {"labels", slice_labels},
                    {"ownerReferences", json::array({controller_ref(svc)})}}},
                  {"addressType", "IPv4"},
                  {"endpoints", p.endpoints},
                  {"ports", p.ports}};
    std::vector<ObjectPtr> slices = slices_of(ns, name);
    if (slices.empty()) {
      slice["metadata"]["generateName"] = name + "-";
      if (name == "kubernetes" && ns == "default") {
        slice["metadata"]["name"] = "kubernetes";
        slice["metadata"].erase("ownerReferences");
      }
      K3A_CHECK(
          unless(c_.api.create(object_path("discovery.k8s.io/v1", "endpointslices", ns), slice),
                 core::Errc::kAlreadyExists));
      return {};
    }
    const json& first = *slices.front();
    if (first.value("endpoints", json::array()) != p.endpoints ||
        first.value("ports", json::array()) != p.ports || labels_of(first) != slice_labels) {
      json body = first;
      body["metadata"]["labels"] = slice_labels;
      body["endpoints"] = p.endpoints;
      body["ports"] = p.ports;
      K3A_CHECK(unless_missing(c_.api.replace(
          object_path("discovery.k8s.io/v1", "endpointslices", ns, name_of(first)), body)));
    }
    for (size_t i = 1; i < slices.size(); ++i) {
      K3A_CHECK(unless_missing(c_.api.remove(
          object_path("discovery.k8s.io/v1", "endpointslices", ns, name_of(*slices[i])))));
    }
    return {};
  }

  std::vector<ObjectPtr> slices_of(const std::string& ns, const std::string& name) {
    std::vector<ObjectPtr> out;
    for (const ObjectPtr& s : c_.informer.list(kSlices + ns + "/")) {
      json labels = labels_of(*s);
      if (labels.value(kServiceNameLabel, "") == name &&
          labels.value(kManagedBy, "") == kSliceController && !being_deleted(*s))
        out.push_back(s);
    }
    return out;
  }

  // The service is gone: its endpoints go too (its slices are collected as its dependents).
  core::Result<void> remove_all(const std::string& ns, const std::string& name) {
    if (c_.informer.get("/registry/services/endpoints/" + ns + "/" + name))
      K3A_CHECK(unless_missing(c_.api.remove(object_path("v1", "endpoints", ns, name))));
    return {};
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_endpoints_controller(ControllerContext& c) {
  return std::make_unique<EndpointsController>(c);
}

}  // namespace k3s::controllers
