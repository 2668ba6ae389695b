// Reading Kubernetes objects held as JSON without exceptions: a field's string, object or
// array, or an empty one when the field is missing or of another type. Internal to the kubelet.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace k3s::agent::kubelet {

inline std::string str(const nlohmann::json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

inline const nlohmann::json& obj(const nlohmann::json& o, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto it = o.find(key);
  return it != o.end() && it->is_object() ? *it : kEmpty;
}

inline const nlohmann::json& arr(const nlohmann::json& o, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  auto it = o.find(key);
  return it != o.end() && it->is_array() ? *it : kEmpty;
}

}  // namespace k3s::agent::kubelet
