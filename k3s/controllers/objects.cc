#include "k3s/controllers/objects.h"

#include <algorithm>
#include <cmath>

#include "core/base/time.h"
#include "k3s/apiserver/admission.h"

namespace k3s::controllers {

using json = nlohmann::json;

bool pod_terminal(const json& pod) {
  std::string phase = pod.value("status", json::object()).value("phase", "");
  return phase == "Succeeded" || phase == "Failed";
}

bool pod_active(const json& pod) {
  return !pod_terminal(pod) && !pod.value("metadata", json::object()).contains("deletionTimestamp");
}

// The Ready condition, or null.
static json ready_condition(const json& pod) {
  auto status = pod.find("status");
  if (status == pod.end() || !status->is_object() || !status->contains("conditions"))
    return nullptr;
  for (const auto& c : (*status)["conditions"]) {
    if (c.is_object() && c.value("type", "") == "Ready") return c;
  }
  return nullptr;
}

bool pod_ready(const json& pod) {
  json c = ready_condition(pod);
  return c.is_object() && c.value("status", "") == "True";
}

bool pod_available(const json& pod, int64_t min_ready_seconds, int64_t now) {
  if (!pod_ready(pod)) return false;
  if (min_ready_seconds <= 0) return true;
  json c = ready_condition(pod);
  auto since = core::parse_rfc3339(c.value("lastTransitionTime", ""));
  return since && *since + min_ready_seconds <= now;
}

bool requirement_matches(const json& r, const json& labels) {
  std::string key = r.value("key", "");
  std::string op = r.value("operator", "");
  json values = r.value("values", json::array());
  bool has = labels.is_object() && labels.contains(key);
  std::string value = has && labels[key].is_string() ? labels[key].get<std::string>() : "";
  auto listed = [&] { return std::find(values.begin(), values.end(), value) != values.end(); };
  if (op == "In") return has && listed();
  if (op == "NotIn") return !has || !listed();
  if (op == "Exists") return has;
  if (op == "DoesNotExist") return !has;
  if ((op == "Gt" || op == "Lt") && has && values.size() == 1) {
    try {
      long long have = std::stoll(value), bound = std::stoll(values[0].get<std::string>());
      return op == "Gt" ? have > bound : have < bound;
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

bool selector_matches(const json& selector, const json& labels) {
  if (!selector.is_object()) return false;
  json match = selector.value("matchLabels", json::object());
  for (const auto& [k, v] : match.items()) {
    if (!labels.is_object() || !labels.contains(k) || labels[k] != v) return false;
  }
  for (const auto& r : selector.value("matchExpressions", json::array())) {
    if (!requirement_matches(r, labels)) return false;
  }
  return true;
}

json matching_toleration(const json& tolerations, const json& taint) {
  if (!tolerations.is_array()) return nullptr;
  for (const auto& t : tolerations) {
    std::string effect = t.value("effect", "");
    if (!effect.empty() && effect != taint.value("effect", "")) continue;
    std::string op = t.value("operator", "Equal");
    std::string key = t.value("key", "");
    if (key.empty() ? op == "Exists"
                    : key == taint.value("key", "") &&
                          (op == "Exists" || t.value("value", "") == taint.value("value", "")))
      return t;
  }
  return nullptr;
}

json labels_of(const json& o) {
  return o.value("metadata", json::object()).value("labels", json::object());
}

int64_t quantity_milli(const json& q) {
  std::string text = q.is_string() ? q.get<std::string>() : q.is_number() ? q.dump() : "";
  auto v = apiserver::parse_quantity(text);
  return v ? static_cast<int64_t>(std::llround(*v * 1000)) : 0;
}

int64_t quantity_value(const json& q) {
  std::string text = q.is_string() ? q.get<std::string>() : q.is_number() ? q.dump() : "";
  auto v = apiserver::parse_quantity(text);
  return v ? static_cast<int64_t>(std::ceil(*v)) : 0;
}

std::string template_hash(const json& pod_template, int64_t collision_count) {
  uint32_t h = 2166136261u;
  auto feed = [&](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
  };
  feed(pod_template.dump());
  if (collision_count > 0) feed(std::to_string(collision_count));
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (char c : std::to_string(h)) out += kAlphabet[static_cast<unsigned char>(c) % 27];
  return out;
}

int64_t scaled_value(const json& value, int64_t total, bool round_up) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (!value.is_string()) return 0;
  std::string s = value.get<std::string>();
  if (!s.ends_with('%')) {
    try {
      return std::stoll(s);
    } catch (const std::exception&) {
      return 0;
    }
  }
  double pct = std::atof(s.substr(0, s.size() - 1).c_str());
  double v = pct * static_cast<double>(total) / 100.0;
  return static_cast<int64_t>(round_up ? std::ceil(v) : std::floor(v));
}

std::string now_rfc3339() { return core::format_rfc3339(core::system_now()); }

}  // namespace k3s::controllers
