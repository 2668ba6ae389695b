// The namespace controller: a namespace marked for deletion has everything in it deleted (every
// namespaced type, custom resources included); while objects remain, its status says which and
// which finalizers hold them; once it is empty the `kubernetes` finalizer is removed through
// /finalize and the API removes the namespace.
#include <map>
#include <set>

#include "core/base/time.h"
#include "k3s/controllers/manager.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
constexpr char kPrefix[] = "/registry/namespaces/";

class NamespaceController : public Controller {
 public:
  explicit NamespaceController(ControllerContext& c) : Controller("namespace-controller"), c_(c) {
    c_.informer.on_change(kPrefix, [this](const Change& ch) {
      const ObjectPtr& o = ch.after ? ch.after : ch.before;
      if (ch.after && being_deleted(*ch.after)) queue().add(name_of(*o));
    });
  }

  core::Result<void> sync(const std::string& name) override {
    ObjectPtr ns = c_.informer.get(kPrefix + name);
    if (!ns || !being_deleted(*ns)) return {};
    std::map<std::string, int> remaining;   // resource -> objects left
    std::map<std::string, int> finalizers;  // finalizer -> objects it holds
    auto types = c_.catalog.types();
    std::set<std::string> seen_prefixes;
    for (const auto& t : *types) {
      if (!t.namespaced || !seen_prefixes.insert(t.key_prefix()).second) continue;
      for (const ObjectPtr& o : c_.informer.list(t.key(name, ""))) {
        remaining[t.qualified()]++;
        for (const auto& f : metadata(*o).value("finalizers", json::array()))
          finalizers[f.get<std::string>()]++;
        if (being_deleted(*o)) continue;
        K3A_CHECK(unless_missing(c_.api.remove(
            object_path(t.group_version(), t.resource, name, name_of(*o)), "Background")));
      }
    }
    if (!remaining.empty()) {
      K3A_CHECK(report(*ns, remaining, finalizers));
      queue().add_after(name, std::chrono::milliseconds(250));
      return {};
    }
    json spec_finalizers = json::array();
    for (const auto& f : ns->value("spec", json::object()).value("finalizers", json::array())) {
      if (f != "kubernetes") spec_finalizers.push_back(f);
    }
    json body = *ns;
    body["spec"]["finalizers"] = spec_finalizers;
    K3A_CHECK(unless_missing(
        c_.api.replace(object_path("v1", "namespaces", "", name) + "/finalize", body)));
    return {};
  }

 private:
  // The conditions upstream's controller writes while content remains.
  core::Result<void> report(const json& ns, const std::map<std::string, int>& remaining,
                            const std::map<std::string, int>& finalizers) {
    std::string now = core::format_rfc3339(core::system_now());
    std::string content, held;
    for (const auto& [r, n] : remaining)
      content += fmt::format("{}{} has {} resource instances", content.empty() ? "" : ", ", r, n);
    for (const auto& [f, n] : finalizers)
      held += fmt::format("{}{} in {} resource instances", held.empty() ? "" : ", ", f, n);
    json conditions = json::array(
        {{{"type", "NamespaceContentRemaining"},
          {"status", "True"},
          {"reason", "SomeResourcesRemain"},
          {"message", "Some resources are remaining: " + content},
          {"lastTransitionTime", now}},
         {{"type", "NamespaceFinalizersRemaining"},
          {"status", held.empty() ? "False" : "True"},
          {"reason", held.empty() ? "ContentHasNoFinalizers" : "SomeFinalizersRemain"},
          {"message", held.empty()
                          ? "All content-preserving finalizers finished"
                          : "Some content in the namespace has finalizers remaining: " + held},
          {"lastTransitionTime", now}}});
    json old = ns.value("status", json::object()).value("conditions", json::array());
    bool same = old.size() == conditions.size();
    for (size_t i = 0; same && i < old.size(); ++i)
      same = old[i].value("message", "") == conditions[i]["message"];
    if (same) return {};
    json status = ns.value("status", json::object());
    status["conditions"] = conditions;
    return write_status(c_.api, object_path("v1", "namespaces", "", name_of(ns)), ns, status);
  }

  ControllerContext& c_;
};

}  // namespace

std::unique_ptr<Controller> make_namespace_controller(ControllerContext& c) {
  return std::make_unique<NamespaceController>(c);
}

}  // namespace k3s::controllers
