#include "k3s/apiserver/discovery.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "k3s/apiserver/resources.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

json verbs_of(const ResourceType& t) {
  if (t.resource == "bindings") return {"create"};
  if (t.resource == "componentstatuses") return {"get", "list"};
  return {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
}

json sub_kind(const ResourceType& t, const std::string& sub) {
  if (sub == "scale") return {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}};
  if (sub == "binding") return {{"group", ""}, {"version", "v1"}, {"kind", "Binding"}};
  return {{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
}

json sub_verbs(const std::string& sub) {
  if (sub == "finalize") return {"update"};
  if (sub == "binding") return {"create"};
  return {"get", "patch", "update"};
}

// Changes whenever the types served in a group version change, so kubectl refetches.
std::string gv_hash(const ResourceTypes& types, const std::string& gv_path) {
  std::string seen = gv_path;
  for (const auto& t : types) {
    std::string p = t.group.empty() ? "api/" + t.version : "apis/" + t.group + "/" + t.version;
    if (p != gv_path) continue;
    seen += "|" + t.resource + (t.schema ? t.schema->dump() : "");
    for (const auto& s : t.subresources) seen += "/" + s;
  }
  return fmt::format("{:016X}", std::hash<std::string>{}(seen));
}

}  // namespace

bool wants_aggregated(const std::string& accept) {
  return accept.find("as=APIGroupDiscoveryList") != std::string::npos &&
         accept.find("v=v2") != std::string::npos &&
         accept.find("g=apidiscovery.k8s.io") != std::string::npos;
}

json aggregated_discovery(const ResourceTypes& types, bool core) {
  json items = json::array();
  for (const auto& [group, versions] : api_groups(types)) {
    if (group.empty() != core) continue;
    json vs = json::array();
    for (const auto& v : versions) {
      json resources = json::array();
      for (const auto& t : types) {
        if (t.group != group || t.version != v) continue;
        json r = {{"resource", t.resource},
                  {"singularResource", t.singular},
                  {"scope", t.namespaced ? "Namespaced" : "Cluster"},
                  {"verbs", verbs_of(t)},
                  {"responseKind", {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}}};
        if (!t.short_names.empty()) r["shortNames"] = t.short_names;
        if (!t.categories.empty()) r["categories"] = t.categories;
        if (!t.subresources.empty()) {
          json subs = json::array();
          for (const auto& s : t.subresources) {
            subs.push_back(
                {{"subresource", s}, {"responseKind", sub_kind(t, s)}, {"verbs", sub_verbs(s)}});
          }
          r["subresources"] = subs;
        }
        resources.push_back(r);
      }
      vs.push_back({{"version", v}, {"freshness", "Current"}, {"resources", resources}});
    }
    items.push_back(
        {{"metadata", {{"name", group}, {"creationTimestamp", nullptr}}}, {"versions", vs}});
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", json::object()},
          {"items", items}};
}

json legacy_api_versions(const std::string& server_address) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address}}}}};
}

json legacy_group_list(const ResourceTypes& types) {
  json groups = json::array();
  for (const auto& [group, versions] : api_groups(types)) {
    if (group.empty()) continue;
    json vs = json::array();
    for (const auto& v : versions)
      vs.push_back({{"groupVersion", group + "/" + v}, {"version", v}});
    groups.push_back({{"name", group}, {"versions", vs}, {"preferredVersion", vs.front()}});
  }
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<json> resource_list(const ResourceTypes& types, const std::string& gv) {
  json resources = json::array();
  for (const auto& t : types) {
    if (t.group_version() != gv) continue;
    json r = {{"name", t.resource},
              {"singularName", t.singular},
              {"namespaced", t.namespaced},
              {"kind", t.kind},
              {"verbs", verbs_of(t)}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (!t.categories.empty()) r["categories"] = t.categories;
    resources.push_back(r);
    for (const auto& s : t.subresources) {
      json sk = sub_kind(t, s);
      json sub = {{"name", t.resource + "/" + s},
                  {"singularName", ""},
                  {"namespaced", t.namespaced},
                  {"kind", sk["kind"]},
                  {"verbs", sub_verbs(s)}};
      if (s == "scale") {
        sub["group"] = "autoscaling";
        sub["version"] = "v1";
      }
      resources.push_back(sub);
    }
  }
  if (resources.empty()) return std::nullopt;
  return json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", gv},
              {"resources", resources}};
}

json openapi_root(const ResourceTypes& types) {
  json paths = json::object();
  for (const auto& [group, versions] : api_groups(types)) {
    for (const auto& v : versions) {
      std::string p = group.empty() ? "api/" + v : "apis/" + group + "/" + v;
      paths[p] = {{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + gv_hash(types, p)}};
    }
  }
  return {{"paths", paths}};
}

std::optional<json> openapi_document(const ResourceTypes& types, const std::string& gv_path) {
  json paths = json::object();
  json schemas = json::object();
  const json patch_types = {{"application/json-patch+json", json::object()},
                            {"application/merge-patch+json", json::object()},
                            {"application/strategic-merge-patch+json", json::object()},
                            {"application/apply-patch+yaml", json::object()}};
  for (const auto& t : types) {
    std::string p = t.group.empty() ? "api/" + t.version : "apis/" + t.group + "/" + t.version;
    if (p != gv_path) continue;
    json gvk = {{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
    if (t.schema) {
      // Named like upstream's CRD schemas: the reversed group, the version, the kind.
      std::string name;
      for (auto part : core::split(t.group, '.'))
        name = std::string(part) + (name.empty() ? "" : "." + name);
      json schema = *t.schema;
      schema["x-kubernetes-group-version-kind"] = json::array({gvk});
      schemas[name + "." + t.version + "." + t.kind] = schema;
    }
    std::string item =
        "/" + p + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.resource + "/{name}";
    paths[item] = {
        {"patch",
         {{"x-kubernetes-group-version-kind",
           {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}},
          {"parameters",
           {{{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}}}},
          {"requestBody", {{"content", patch_types}}},
          {"responses", {{"200", {{"description", "OK"}}}}}}}};
  }
  if (paths.empty()) return std::nullopt;
  return json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.4+k3s1"}}},
              {"components", {{"schemas", schemas}}},
              {"paths", paths}};
}

}  // namespace k3s::apiserver
