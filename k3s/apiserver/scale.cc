#include "k3s/apiserver/scale.h"

#include "core/base/strings.h"

namespace k3s::apiserver {

using json = nlohmann::json;

std::string format_label_selector(const json& selector) {
  if (!selector.is_object()) return "";
  bool typed = selector.contains("matchLabels") || selector.contains("matchExpressions");
  const json& labels = typed ? selector.value("matchLabels", json::object()) : selector;
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ",") + part; };
  for (const auto& [k, v] : labels.items()) {
    if (v.is_string()) add(k + "=" + v.get<std::string>());
  }
  if (!typed || !selector.contains("matchExpressions")) return out;
  for (const auto& e : selector["matchExpressions"]) {
    std::string key = e.value("key", ""), op = e.value("operator", "");
    std::string values;
    for (const auto& v : e.value("values", json::array())) {
      if (v.is_string()) values += (values.empty() ? "" : ",") + v.get<std::string>();
    }
    if (op == "In") add(key + " in (" + values + ")");
    if (op == "NotIn") add(key + " notin (" + values + ")");
    if (op == "Exists") add(key);
    if (op == "DoesNotExist") add("!" + key);
  }
  return out;
}

namespace {

// The value at a simple JSONPath (".spec.replicas"), or null.
json at_path(const json& o, const std::string& path) {
  const json* cur = &o;
  for (auto part : core::split(path, '.')) {
    if (part.empty()) continue;
    std::string k(part);
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return *cur;
}

}  // namespace

json to_scale(const ResourceType& type, const json& object) {
  const json& md = object.value("metadata", json::object());
  json meta = json::object();
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (md.contains(k)) meta[k] = md[k];
  }
  json spec_replicas = at_path(object, type.scale.spec_replicas);
  json status_replicas = at_path(object, type.scale.status_replicas);
  json selector = type.scale.selector.empty()
                      ? json(format_label_selector(at_path(object, ".spec.selector")))
                      : at_path(object, type.scale.selector);
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata", meta},
          {"spec",
           {{"replicas", spec_replicas.is_number() ? spec_replicas : json(type.custom ? 0 : 1)}}},
          {"status",
           {{"replicas", status_replicas.is_number() ? status_replicas : json(0)},
            {"selector", selector.is_string() ? selector : json("")}}}};
}

json from_scale(const ResourceType& type, json object, int64_t replicas) {
  json* cur = &object;
  for (auto part : core::split(type.scale.spec_replicas, '.')) {
    if (part.empty()) continue;
    json& next = (*cur)[std::string(part)];
    cur = &next;
  }
  *cur = replicas;
  return object;
}

}  // namespace k3s::apiserver
