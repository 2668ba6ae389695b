#include "k3s/apiserver/catalog.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

std::vector<std::string> strings(const json& o, const char* key) {
  std::vector<std::string> out;
  for (const auto& v : o.value(key, json::array())) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

void add_crd(const json& crd, ResourceTypes& out) {
  const json& spec = crd.value("spec", json::object());
  const json& names = spec.value("names", json::object());
  for (const auto& v : spec.value("versions", json::array())) {
    if (!v.value("served", true)) continue;
    ResourceType t;
    t.group = spec.value("group", "");
    t.version = v.value("name", "");
    t.resource = names.value("plural", "");
    t.kind = names.value("kind", "");
    t.singular = names.value("singular", "");
    if (t.singular.empty()) {
      for (char c : t.kind) t.singular += static_cast<char>(std::tolower(c));
    }
    t.namespaced = spec.value("scope", "Namespaced") == "Namespaced";
    t.short_names = strings(names, "shortNames");
    t.categories = strings(names, "categories");
    t.custom = true;
    const json& subs = v.value("subresources", json::object());
    if (subs.contains("scale")) {
      t.subresources.push_back("scale");
      const json& scale = subs["scale"];
      t.scale.spec_replicas = scale.value("specReplicasPath", ".spec.replicas");
      t.scale.status_replicas = scale.value("statusReplicasPath", ".status.replicas");
      t.scale.selector = scale.value("labelSelectorPath", "");
    }
    if (subs.contains("status")) t.subresources.push_back("status");
    if (v.contains("schema") && v["schema"].contains("openAPIV3Schema"))
      t.schema = std::make_shared<const json>(v["schema"]["openAPIV3Schema"]);
    for (const auto& c : v.value("additionalPrinterColumns", json::array())) {
      t.columns.push_back({c.value("name", ""), c.value("type", "string"), c.value("jsonPath", ""),
                           c.value("description", ""), c.value("priority", 0)});
    }
    if (!t.group.empty() && !t.version.empty() && !t.resource.empty() && !t.kind.empty())
      out.push_back(std::move(t));
  }
}

}  // namespace

std::shared_ptr<const ResourceTypes> Catalog::types() const {
  std::lock_guard lock(mu_);
  uint64_t generation = generation_.load();
  if (current_ && built_ == generation) return current_;
  auto types = std::make_shared<ResourceTypes>(builtin_resources());
  auto crds = store_.list(
      datastore::Range::prefix("/registry/apiextensions.k8s.io/customresourcedefinitions/"), {});
  if (crds) {
    for (const auto& kv : crds->kvs) {
      json crd = json::parse(kv.value, nullptr, false);
      if (crd.is_object()) add_crd(crd, *types);
    }
  }
  current_ = types;
  built_ = crds ? generation : 0;  // a failed read is retried on the next request
  return current_;
}

std::string crd_problem(const json& crd) {
  const json& spec = crd.value("spec", json::object());
  const json& names = spec.value("names", json::object());
  std::string name = crd["metadata"].value("name", "");
  std::string want = names.value("plural", "") + "." + spec.value("group", "");
  auto invalid = [&](const std::string& field, const std::string& value, const std::string& why) {
    return fmt::format(
        "CustomResourceDefinition.apiextensions.k8s.io \"{}\" is invalid: {}: Invalid value: "
        "\"{}\": {}",
        name, field, value, why);
  };
  if (name != want)
    return invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group");
  if (names.value("kind", "").empty()) return invalid("spec.names.kind", "", "must not be empty");
  const json& versions = spec.value("versions", json::array());
  int storage = 0;
  for (const auto& v : versions) storage += v.value("storage", false) ? 1 : 0;
  if (versions.empty() || storage != 1) {
    return invalid("spec.versions", std::to_string(storage),
                   "must have exactly one version marked as storage version");
  }
  return "";
}

json crd_status(const json& crd, const json& previous, const std::string& now) {
  const json& spec = crd.value("spec", json::object());
  json names = spec.value("names", json::object());
  if (!names.contains("singular")) {
    std::string s;
    for (char c : names.value("kind", "")) s += static_cast<char>(std::tolower(c));
    names["singular"] = s;
  }
  if (!names.contains("listKind")) names["listKind"] = names.value("kind", "") + "List";
  json stored =
      previous.is_object() ? previous.value("storedVersions", json::array()) : json::array();
  for (const auto& v : spec.value("versions", json::array())) {
    if (v.value("storage", false) &&
        std::find(stored.begin(), stored.end(), v["name"]) == stored.end())
      stored.push_back(v["name"]);
  }
  auto condition = [&](const char* type, const char* reason, const char* message) {
    return json{{"type", type},
                {"status", "True"},
                {"lastTransitionTime", now},
                {"reason", reason},
                {"message", message}};
  };
  return {
      {"acceptedNames", names},
      {"storedVersions", stored},
      {"conditions",
       {condition("NamesAccepted", "NoConflicts", "no conflicts found"),
        condition("Established", "InitialNamesAccepted", "the initial names have been accepted")}}};
}

}  // namespace k3s::apiserver
