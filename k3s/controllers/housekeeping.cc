// Two small controllers upstream runs beside the workload ones: the resource quota controller,
// which keeps each ResourceQuota's status (hard, used) current as objects come and go, and the
// token cleaner, which deletes bootstrap token Secrets once they expire.
#include "core/base/time.h"
#include "k3s/apiserver/admission.h"
#include "k3s/apiserver/bootstrap_token.h"
#include "k3s/controllers/manager.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kQuotas[] = "/registry/resourcequotas/";

class ResourceQuotaController : public Controller {
 public:
  explicit ResourceQuotaController(ControllerContext& c)
      : Controller("resourcequota-controller"), c_(c) {
    c_.informer.on_change("/registry/", [this](const Change& ch) {
      std::string ns = namespace_of(ch.after ? *ch.after : *ch.before);
      if (ns.empty()) return;
      if (ch.key.starts_with(kQuotas) || !c_.informer.list(kQuotas + ns + "/").empty())
        queue().add(ns);
    });
  }

  core::Result<void> sync(const std::string& ns) override {
    apiserver::ObjectLister objects = [this](const std::string& prefix) {
      std::vector<json> out;
      for (const ObjectPtr& o : c_.informer.list(prefix)) out.push_back(*o);
      return out;
    };
    for (const ObjectPtr& q : c_.informer.list(kQuotas + ns + "/")) {
      json hard = q->value("spec", json::object()).value("hard", json::object());
      json status = {{"hard", hard}, {"used", apiserver::quota_used(objects, ns, hard)}};
      K3A_CHECK(
          write_status(c_.api, object_path("v1", "resourcequotas", ns, name_of(*q)), *q, status));
    }
    return {};
  }

 private:
  ControllerContext& c_;
};

class TokenCleaner : public Controller {
 public:
  explicit TokenCleaner(ControllerContext& c) : Controller("tokencleaner"), c_(c) {
    c_.informer.on_change("/registry/secrets/kube-system/", [this](const Change& ch) {
      if (ch.after && ch.after->value("type", "") == apiserver::kBootstrapTokenType)
        queue().add(name_of(*ch.after));
    });
  }

  core::Result<void> sync(const std::string& name) override {
    ObjectPtr secret = c_.informer.get("/registry/secrets/kube-system/" + name);
    if (!secret || being_deleted(*secret)) return {};
    auto token = apiserver::bootstrap_token_from_secret(*secret);
    if (!token || token->expires == 0) return {};
    int64_t left = token->expires - core::system_now();
    if (left > 0) {
      queue().add_after(name, std::chrono::seconds(left));
      return {};
    }
    K3A_CHECK(unless_missing(c_.api.remove(object_path("v1", "secrets", "kube-system", name))));
    return {};
  }

 private:
  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_resource_quota_controller(ControllerContext& c) {
  return std::make_unique<ResourceQuotaController>(c);
}

std::unique_ptr<Controller> make_token_cleaner(ControllerContext& c) {
  return std::make_unique<TokenCleaner>(c);
}

}  // namespace k3s::controllers
