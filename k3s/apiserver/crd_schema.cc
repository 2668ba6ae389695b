#include "k3s/apiserver/crd_schema.h"

#include <fmt/format.h>

#include <regex>

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

std::string type_of(const json& v) {
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  return "null";
}

bool preserves(const json& s) { return s.value("x-kubernetes-preserve-unknown-fields", false); }

void defaults(json& v, const json& s) {
  if (v.is_object() && s.contains("properties")) {
    for (const auto& [k, sub] : s["properties"].items()) {
      if (!v.contains(k) && sub.contains("default")) v[k] = sub["default"];
      if (v.contains(k)) defaults(v[k], sub);
    }
  }
  if (v.is_array() && s.contains("items")) {
    for (auto& e : v) defaults(e, s["items"]);
  }
}

void prune(json& v, const json& s, const std::string& path, std::vector<std::string>& out) {
  if (preserves(s)) return;
  if (v.is_object()) {
    if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
      for (auto& [k, e] : v.items()) prune(e, s["additionalProperties"], path + "." + k, out);
      return;
    }
    const json& props = s.value("properties", json::object());
    for (auto it = v.begin(); it != v.end();) {
      std::string here = path.empty() ? it.key() : path + "." + it.key();
      if (!props.contains(it.key())) {
        out.push_back(here);
        it = v.erase(it);
      } else {
        prune(it.value(), props[it.key()], here, out);
        ++it;
      }
    }
  } else if (v.is_array() && s.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i)
      prune(v[i], s["items"], path + "[" + std::to_string(i) + "]", out);
  }
}

void validate(const json& v, const json& s, const std::string& path,
              std::vector<std::string>& out) {
  auto invalid = [&](const std::string& why) {
    out.push_back(fmt::format("{}: Invalid value: {}: {}", path, v.dump(), why));
  };
  if (v.is_null()) {
    if (!s.value("nullable", false))
      invalid(
          fmt::format("{} in body must be of type {}: \"null\"", path, s.value("type", "object")));
    return;
  }
  std::string want = s.value("type", "");
  std::string have = type_of(v);
  if (s.value("x-kubernetes-int-or-string", false)) {
    if (have != "integer" && have != "string")
      invalid(fmt::format("{} in body must be of type integer or string: \"{}\"", path, have));
  } else if (!want.empty() && want != have && !(want == "number" && have == "integer")) {
    invalid(fmt::format("{} in body must be of type {}: \"{}\"", path, want, have));
    return;
  }
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) {
    std::string allowed;
    for (const auto& e : s["enum"]) allowed += (allowed.empty() ? "" : ", ") + e.dump();
    out.push_back(
        fmt::format("{}: Unsupported value: {}: supported values: {}", path, v.dump(), allowed));
  }
  if (v.is_number()) {
    double n = v.get<double>();
    if (s.contains("minimum") && n < s["minimum"].get<double>())
      invalid(fmt::format("{} in body should be greater than or equal to {}", path,
                          s["minimum"].dump()));
    if (s.contains("maximum") && n > s["maximum"].get<double>())
      invalid(
          fmt::format("{} in body should be less than or equal to {}", path, s["maximum"].dump()));
  }
  if (v.is_string()) {
    std::string text = v.get<std::string>();
    if (s.contains("minLength") && text.size() < s["minLength"].get<size_t>())
      invalid(
          fmt::format("{} in body should be at least {} chars long", path, s["minLength"].dump()));
    if (s.contains("maxLength") && text.size() > s["maxLength"].get<size_t>())
      invalid(fmt::format("{} in body may not be longer than {}", path, s["maxLength"].dump()));
    if (s.contains("pattern")) {
      try {
        if (!std::regex_search(text,
                               std::regex(s["pattern"].get<std::string>(), std::regex::ECMAScript)))
          invalid(
              fmt::format("{} in body should match '{}'", path, s["pattern"].get<std::string>()));
      } catch (const std::regex_error&) {
      }
    }
  }
  if (v.is_object()) {
    for (const auto& r : s.value("required", json::array())) {
      if (r.is_string() && !v.contains(r.get<std::string>()))
        out.push_back(fmt::format("{}{}: Required value", path.empty() ? "" : path + ".",
                                  r.get<std::string>()));
    }
    const json& props = s.value("properties", json::object());
    for (const auto& [k, e] : v.items()) {
      std::string here = path.empty() ? k : path + "." + k;
      if (props.contains(k)) {
        validate(e, props[k], here, out);
      } else if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
        validate(e, s["additionalProperties"], here, out);
      }
    }
  }
  if (v.is_array() && s.contains("items")) {
    for (size_t i = 0; i < v.size(); ++i)
      validate(v[i], s["items"], path + "[" + std::to_string(i) + "]", out);
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>())
      out.push_back(fmt::format("{}: Too many: {}: must have at most {} items", path, v.size(),
                                s["maxItems"].dump()));
  }
}

}  // namespace

SchemaCheck check_custom_resource(json& object, const json& schema) {
  SchemaCheck out;
  if (!schema.is_object() || !object.is_object()) return out;
  json body = object;
  for (const char* k : {"apiVersion", "kind", "metadata"}) body.erase(k);
  json s = schema;
  if (s.contains("properties")) {
    for (const char* k : {"apiVersion", "kind", "metadata"}) s["properties"].erase(k);
  }
  defaults(body, s);
  prune(body, s, "", out.pruned);
  validate(body, s, "", out.errors);
  for (const char* k : {"apiVersion", "kind", "metadata"}) {
    if (object.contains(k)) body[k] = object[k];
  }
  object = std::move(body);
  return out;
}

}  // namespace k3s::apiserver
