#include "core/serde/json.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <regex>

namespace core {
namespace {

Json scalar_to_json(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() != "?") return s;  // quoted or explicitly tagged: a string
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex int_re("[-+]?[0-9]+");
  static const std::regex float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, int_re)) {
    try {
      if (s[0] == '-') return std::stoll(s);
      return std::stoull(s);
    } catch (const std::exception&) {
      return s;
    }
  }
  if (std::regex_match(s, float_re)) {
    try {
      return std::stod(s);
    } catch (const std::exception&) {
      return s;
    }
  }
  return s;
}

Result<Json> node_to_json(const YAML::Node& node, int depth) {
  if (depth > 64) return fail(Errc::kInvalid, "yaml: nesting deeper than 64 levels");
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      Json arr = Json::array();
      for (const auto& item : node) arr.push_back(K3A_TRY(node_to_json(item, depth + 1)));
      return arr;
    }
    case YAML::NodeType::Map: {
      Json obj = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return fail(Errc::kInvalid, "yaml: mapping key is not a scalar");
        obj[kv.first.Scalar()] = K3A_TRY(node_to_json(kv.second, depth + 1));
      }
      return obj;
    }
  }
  return Json(nullptr);
}

}  // namespace

Result<Json> parse_json(std::string_view text) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return fail(Errc::kInvalid, std::string("json: ") + e.what());
  }
}

Result<Json> parse_yaml(std::string_view text) {
  auto docs = K3A_TRY(parse_yaml_all(text));
  if (docs.size() > 1) return fail(Errc::kInvalid, "yaml: expected one document, found several");
  return docs.empty() ? Json(nullptr) : std::move(docs[0]);
}

Result<std::vector<Json>> parse_yaml_all(std::string_view text) {
  std::vector<Json> out;
  try {
    for (const YAML::Node& doc : YAML::LoadAll(std::string(text))) {
      if (doc.IsNull()) continue;
      out.push_back(K3A_TRY(node_to_json(doc, 0)));
    }
  } catch (const YAML::Exception& e) {
    return fail(Errc::kInvalid, std::string("yaml: ") + e.what());
  }
  return out;
}

std::string dump_json(const Json& value) { return value.dump(); }

std::string dump_json_pretty(const Json& value) { return value.dump(2) + "\n"; }

}  // namespace core
