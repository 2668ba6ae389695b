// Every active namespace gets the `default` ServiceAccount and the kube-root-ca.crt ConfigMap
// (the CA that signs the API server's certificate, for pods to trust it), recreated when deleted
// and restored when edited, as upstream's serviceaccount and root-ca-cert-publisher
// controllers do.
#include "k3s/controllers/manager.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kRootCa[] = "kube-root-ca.crt";

class ServiceAccountController : public Controller {
 public:
  explicit ServiceAccountController(ControllerContext& c)
      : Controller("serviceaccount-controller"), c_(c) {
    c_.informer.on_change("/registry/namespaces/", [this](const Change& ch) {
      if (ch.after) queue().add(name_of(*ch.after));
    });
    c_.informer.on_change("/registry/serviceaccounts/", [this](const Change& ch) {
      if (!ch.after && name_of(*ch.before) == "default") queue().add(namespace_of(*ch.before));
    });
    c_.informer.on_change("/registry/configmaps/", [this](const Change& ch) {
      const json& o = ch.after ? *ch.after : *ch.before;
      if (name_of(o) == kRootCa) queue().add(namespace_of(o));
    });
  }

  core::Result<void> sync(const std::string& ns) override {
    ObjectPtr n = c_.informer.get("/registry/namespaces/" + ns);
    if (!n || being_deleted(*n)) return {};
    if (!c_.informer.get("/registry/serviceaccounts/" + ns + "/default")) {
      json sa = {{"apiVersion", "v1"},
                 {"kind", "ServiceAccount"},
                 {"metadata", {{"name", "default"}, {"namespace", ns}}}};
      K3A_CHECK(created_or_exists(c_.api.create(object_path("v1", "serviceaccounts", ns), sa)));
    }
    json data = {{"ca.crt", c_.options.server_ca_pem}};
    ObjectPtr cm = c_.informer.get("/registry/configmaps/" + ns + "/" + kRootCa);
    if (!cm) {
      json o = {{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata",
                 {{"name", kRootCa},
                  {"namespace", ns},
                  {"annotations",
                   {{"kubernetes.io/description",
                     "Contains a CA bundle that can be used to verify the kube-apiserver when "
                     "using internal endpoints such as the internal service IP or "
                     "kubernetes.default.svc. No other usage is guaranteed across distributions "
                     "of Kubernetes clusters."}}}}},
                {"data", data}};
      return created_or_exists(c_.api.create(object_path("v1", "configmaps", ns), o));
    }
    if (cm->value("data", json()) != data && !being_deleted(*cm)) {
      json patch = {{"data", data},
                    {"metadata", {{"resourceVersion", metadata(*cm)["resourceVersion"]}}}};
      auto r = c_.api.merge_patch(object_path("v1", "configmaps", ns, kRootCa), patch);
      if (!r) return std::unexpected(r.error());
    }
    return {};
  }

 private:
  static core::Result<void> created_or_exists(core::Result<json> r) {
    if (r) return {};
    // A namespace being terminated refuses new content: nothing to publish there.
    if (r.error().code() == core::Errc::kAlreadyExists ||
        r.error().code() == core::Errc::kForbidden)
      return {};
    return std::unexpected(r.error());
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_service_account_controller(ControllerContext& c) {
  return std::make_unique<ServiceAccountController>(c);
}

}  // namespace k3s::controllers
