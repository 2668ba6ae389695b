#include "k3s/apiserver/scale.h"

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

json to_scale(const json& object) {
  const json& md = object.value("metadata", json::object());
  json meta = json::object();
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (md.contains(k)) meta[k] = md[k];
  }
  const json& spec = object.value("spec", json::object());
  const json& status = object.value("status", json::object());
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata", meta},
          {"spec", {{"replicas", spec.value("replicas", 1)}}},
          {"status",
           {{"replicas", status.value("replicas", 0)},
            {"selector", format_label_selector(spec.value("selector", json()))}}}};
}

}  // namespace k3s::apiserver
