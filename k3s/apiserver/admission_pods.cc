// The admission steps for a new pod: ServiceAccount (the account defaulted, its token volume),
// DefaultTolerationSeconds and Priority (admission.h).
#include "k3s/apiserver/admission.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/crypto/x509.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

// DefaultTolerationSeconds: pods tolerate a not-ready or unreachable node for five minutes
// before they are evicted, unless they say otherwise.
void default_toleration_seconds(json& spec) {
  json& tolerations = spec["tolerations"];
  if (!tolerations.is_array()) tolerations = json::array();
  for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    bool has = std::any_of(tolerations.begin(), tolerations.end(), [&](const json& t) {
      std::string effect = t.value("effect", "");
      return t.value("key", "") == key && (effect.empty() || effect == "NoExecute");
    });
    if (!has) {
      tolerations.push_back({{"key", key},
                             {"operator", "Exists"},
                             {"effect", "NoExecute"},
                             {"tolerationSeconds", 300}});
    }
  }
}

// The ServiceAccount plugin's token volume: a projected kube-api-access-<suffix> volume (a
// bound token, the cluster CA, the namespace) mounted read-only at the usual path in every
// container, unless the pod or its service account opts out or a container mounts that path.
void mount_service_account_token(datastore::Backend& store, const std::string& ns,
                                 const std::string& sa, json& spec) {
  constexpr char kPath[] = "/var/run/secrets/kubernetes.io/serviceaccount";
  if (!spec.value("automountServiceAccountToken", true)) return;
  if (auto kv = store.get("/registry/serviceaccounts/" + ns + "/" + sa); kv && *kv) {
    json account = json::parse((*kv)->value, nullptr, false);
    if (account.is_object() && !account.value("automountServiceAccountToken", true)) return;
  }
  for (const char* group : {"initContainers", "containers"}) {
    for (const auto& c : spec.value(group, json::array()))
      for (const auto& m : c.value("volumeMounts", json::array()))
        if (m.value("mountPath", "") == kPath) return;
  }
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string name = "kube-api-access-";
  std::string hex = core::random_hex(5);
  for (size_t i = 0; i < hex.size(); i += 2)
    name += kAlphabet[std::stoi(hex.substr(i, 2), nullptr, 16) % 27];
  json sources = json::array(
      {{{"serviceAccountToken", {{"expirationSeconds", 3607}, {"path", "token"}}}},
       {{"configMap",
         {{"name", "kube-root-ca.crt"}, {"items", {{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}},
       {{"downwardAPI",
         {{"items",
           {{{"path", "namespace"},
             {"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}}}}}}}}});
  if (!spec["volumes"].is_array()) spec["volumes"] = json::array();
  spec["volumes"].push_back(
      {{"name", name}, {"projected", {{"defaultMode", 420}, {"sources", sources}}}});
  for (const char* group : {"initContainers", "containers"}) {
    if (!spec.contains(group) || !spec[group].is_array()) continue;
    for (auto& c : spec[group]) {
      if (!c["volumeMounts"].is_array()) c["volumeMounts"] = json::array();
      c["volumeMounts"].push_back({{"name", name}, {"readOnly", true}, {"mountPath", kPath}});
    }
  }
}

// Priority: a pod's priorityClassName resolved to spec.priority and spec.preemptionPolicy (the
// global default class, if one is marked, for pods that name none); an unknown class, or a
// priority that differs from the class's, is refused with upstream's words.
std::optional<AdmissionDenied> priority(datastore::Backend& store, json& pod) {
  json& spec = pod["spec"];
  std::string name = spec.value("priorityClassName", "");
  json found;
  if (!name.empty()) {
    auto kv = store.get("/registry/priorityclasses/" + name);
    if (kv && *kv) found = json::parse((*kv)->value, nullptr, false);
    if (!found.is_object()) {
      return AdmissionDenied{403, "Forbidden",
                             fmt::format("pods \"{}\" is forbidden: no PriorityClass with name {} "
                                         "was found",
                                         pod["metadata"].value("name", ""), name)};
    }
  } else if (auto list = store.list(datastore::Range::prefix("/registry/priorityclasses/"),
                                    {.count = false})) {
    for (const auto& kv : list->kvs) {
      json pc = json::parse(kv.value, nullptr, false);
      if (pc.is_object() && pc.value("globalDefault", false)) found = pc;
    }
    if (found.is_object()) spec["priorityClassName"] = found["metadata"].value("name", "");
  }
  int64_t value = found.is_object() ? found.value("value", int64_t{0}) : 0;
  if (spec.contains("priority") && spec["priority"].is_number_integer() &&
      spec["priority"].get<int64_t>() != value) {
    return AdmissionDenied{
        403, "Forbidden",
        fmt::format("pods \"{}\" is forbidden: the integer value of priority ({}) must not be "
                    "provided in pod spec; priority admission controller computed {} from the "
                    "given PriorityClass name",
                    pod["metadata"].value("name", ""), spec["priority"].get<int64_t>(), value)};
  }
  spec["priority"] = value;
  if (found.is_object())
    spec["preemptionPolicy"] = found.value("preemptionPolicy", "PreemptLowerPriority");
  return std::nullopt;
}

}  // namespace

std::optional<AdmissionDenied> admit_pod(datastore::Backend& store, const std::string& ns,
                                         json& pod) {
  json& spec = pod["spec"];
  if (!spec.is_object()) spec = json::object();
  std::string sa = spec.value("serviceAccountName", spec.value("serviceAccount", "default"));
  spec["serviceAccountName"] = sa;
  spec["serviceAccount"] = sa;
  mount_service_account_token(store, ns, sa, spec);
  default_toleration_seconds(spec);
  return priority(store, pod);
}

}  // namespace k3s::apiserver
