#include "k3s/apiserver/admission.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>
#include <vector>

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

std::vector<json> list(datastore::Backend& store, const std::string& prefix) {
  std::vector<json> out;
  if (auto r = store.list(datastore::Range::prefix(prefix), {})) {
    for (const auto& kv : r->kvs) {
      json o = json::parse(kv.value, nullptr, false);
      if (o.is_object()) out.push_back(std::move(o));
    }
  }
  return out;
}

// "500m" for fractional cpu, "1" for whole; bytes with the largest exact binary suffix.
std::string format_quantity(const std::string& resource, double v) {
  if (resource.find("cpu") != std::string::npos) {
    if (std::fabs(v - std::round(v)) < 1e-9)
      return fmt::format("{}", static_cast<int64_t>(std::round(v)));
    return fmt::format("{}m", static_cast<int64_t>(std::round(v * 1000)));
  }
  if (resource.find("memory") != std::string::npos ||
      resource.find("storage") != std::string::npos) {
    auto n = static_cast<int64_t>(std::round(v));
    for (auto [suffix, scale] :
         {std::pair{"Gi", int64_t{1} << 30}, {"Mi", int64_t{1} << 20}, {"Ki", int64_t{1} << 10}}) {
      if (n != 0 && n % scale == 0) return fmt::format("{}{}", n / scale, suffix);
    }
    return fmt::format("{}", n);
  }
  return fmt::format("{}", static_cast<int64_t>(std::round(v)));
}

// A quantity as written: YAML may give a number where the API expects a string.
std::string qstr(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::vector<json*> containers(json& pod) {
  std::vector<json*> out;
  for (const char* list : {"containers", "initContainers"}) {
    if (!pod["spec"].contains(list) || !pod["spec"][list].is_array()) continue;
    for (auto& c : pod["spec"][list]) out.push_back(&c);
  }
  return out;
}

// Sum of a pod's container requests or limits of one resource.
double pod_total(json pod, const std::string& kind, const std::string& resource) {
  double total = 0;
  for (json* c : containers(pod)) {
    json v =
        c->value("resources", json::object()).value(kind, json::object()).value(resource, json());
    if (!v.is_null()) total += parse_quantity(qstr(v)).value_or(0);
  }
  return total;
}

// The API's own defaulting of a container's resources: what it limits but does not request,
// it requests as much as it limits.
void request_limits(json& pod) {
  for (json* c : containers(pod)) {
    json& res = (*c)["resources"];
    if (!res.is_object()) res = json::object();  // upstream defaults it to {}
    if (!res.contains("limits") || !res["limits"].is_object()) continue;
    for (const auto& [r, v] : res["limits"].items()) {
      if (!res["requests"].is_object() || !res["requests"].contains(r)) res["requests"][r] = v;
    }
  }
}

std::optional<AdmissionDenied> limit_ranger(datastore::Backend& store, const std::string& ns,
                                            json& pod) {
  request_limits(pod);
  std::vector<std::string> problems;
  for (const auto& lr : list(store, "/registry/limitranges/" + ns + "/")) {
    json limits = lr.value("spec", json::object()).value("limits", json::array());
    for (const auto& item : limits) {
      if (item.value("type", "") != "Container") continue;
      for (json* c : containers(pod)) {
        json& res = (*c)["resources"];
        if (!res.is_object()) res = json::object();
        json defaults = item.value("default", json::object());
        json default_requests = item.value("defaultRequest", json::object());
        json maxima = item.value("max", json::object());
        json minima = item.value("min", json::object());
        for (const auto& [r, v] : defaults.items()) {
          if (!res["limits"].contains(r)) res["limits"][r] = v;
          // Without a defaultRequest, the default limit is the default request too.
          if (!default_requests.contains(r) && !res["requests"].contains(r)) res["requests"][r] = v;
        }
        for (const auto& [r, v] : default_requests.items()) {
          if (!res["requests"].contains(r)) res["requests"][r] = v;
        }
        for (const auto& [r, v] : maxima.items()) {
          auto max = parse_quantity(qstr(v));
          auto limit =
              res["limits"].contains(r) ? parse_quantity(qstr(res["limits"][r])) : std::nullopt;
          if (max && limit && *limit > *max) {
            problems.push_back(fmt::format("maximum {} usage per Container is {}, but limit is {}",
                                           r, qstr(v), qstr(res["limits"][r])));
          }
        }
        for (const auto& [r, v] : minima.items()) {
          auto min = parse_quantity(qstr(v));
          auto request =
              res["requests"].contains(r) ? parse_quantity(qstr(res["requests"][r])) : std::nullopt;
          if (min && request && *request < *min) {
            problems.push_back(
                fmt::format("minimum {} usage per Container is {}, but request is {}", r, qstr(v),
                            qstr(res["requests"][r])));
          }
        }
        if (res["limits"].is_null()) res.erase("limits");
        if (res["requests"].is_null()) res.erase("requests");
      }
    }
  }
  if (problems.empty()) return std::nullopt;
  std::string name = pod["metadata"].value("name", "");
  std::string joined;
  for (const auto& p : problems) joined += (joined.empty() ? "" : ", ") + p;
  return AdmissionDenied{403, "Forbidden",
                         fmt::format("pods \"{}\" is forbidden: [{}]", name, joined)};
}

// The object type a quota's object-count resource counts ("pods", "count/deployments.apps"),
// or null when `resource` is not a count.
const ResourceType* counted_type(const std::string& resource) {
  static const std::set<std::string> plain = {"pods",
                                              "services",
                                              "configmaps",
                                              "secrets",
                                              "persistentvolumeclaims",
                                              "replicationcontrollers",
                                              "resourcequotas"};
  std::string counted = plain.count(resource)            ? resource
                        : resource.starts_with("count/") ? resource.substr(6)
                                                         : "";
  if (counted.empty()) return nullptr;
  for (const auto& t : builtin_resources()) {
    if (t.qualified() == counted) return &t;
  }
  return nullptr;
}

// The cpu or memory requests or limits a quota resource ("requests.cpu", "memory", ...) sums,
// as {kind, resource}; empty when it is not one.
std::pair<std::string, std::string> compute_resource(const std::string& resource) {
  if (resource == "cpu" || resource == "memory") return {"requests", resource};
  for (const char* kind : {"requests", "limits"}) {
    for (const char* what : {"cpu", "memory"}) {
      if (resource == std::string(kind) + "." + what) return {kind, what};
    }
  }
  return {};
}

// How much of `resource` the namespace uses, as `objects` lists them; nullopt for resources
// not tracked.
std::optional<double> used_in(const ObjectLister& objects, const std::string& ns,
                              const std::string& resource) {
  if (const ResourceType* t = counted_type(resource)) {
    double n = 0;
    for (const auto& o : objects(t->key_prefix() + ns + "/")) {
      std::string phase = o.value("status", json::object()).value("phase", "");
      n += !(t->resource == "pods" && (phase == "Succeeded" || phase == "Failed"));
    }
    return n;
  }
  auto [kind, what] = compute_resource(resource);
  if (kind.empty()) return std::nullopt;
  double total = 0;
  for (const auto& p : objects("/registry/pods/" + ns + "/")) {
    std::string phase = p.value("status", json::object()).value("phase", "");
    if (phase != "Succeeded" && phase != "Failed") total += pod_total(p, kind, what);
  }
  return total;
}

// How much of a quota's resource a new object of `type` asks for; nullopt when the resource
// does not apply to it.
std::optional<double> requested_by(const ResourceType& type, const json& object,
                                   const std::string& resource) {
  if (const ResourceType* t = counted_type(resource)) {
    if (t->qualified() != type.qualified()) return std::nullopt;
    return 1.0;
  }
  auto [kind, what] = compute_resource(resource);
  if (kind.empty() || type.resource != "pods" || !type.group.empty()) return std::nullopt;
  return pod_total(object, kind, what);
}

std::optional<AdmissionDenied> resource_quota(datastore::Backend& store, const ResourceType& type,
                                              const std::string& ns, const json& object) {
  std::string name = object["metadata"].value("name", "");
  std::string what = type.group.empty() ? type.resource : type.resource + "." + type.group;
  auto prefix = "/registry/resourcequotas/" + ns + "/";
  auto quotas = store.list(datastore::Range::prefix(prefix), {});
  if (!quotas) return std::nullopt;
  for (const auto& kv : quotas->kvs) {
    json q = json::parse(kv.value, nullptr, false);
    if (!q.is_object()) continue;
    std::string requested, used, limited;
    json status_used = json::object();
    json hard_limits = q.value("spec", json::object()).value("hard", json::object());
    ObjectLister objects = [&](const std::string& p) { return list(store, p); };
    for (const auto& [resource, hard_text] : hard_limits.items()) {
      auto hard = parse_quantity(qstr(hard_text));
      auto asked = requested_by(type, object, resource);
      if (!hard || !asked) continue;
      double in_use = used_in(objects, ns, resource).value_or(0);
      status_used[resource] = format_quantity(resource, in_use + *asked);
      if (in_use + *asked <= *hard + 1e-9) continue;
      auto add = [](std::string& s, const std::string& part) {
        s += (s.empty() ? "" : ",") + part;
      };
      add(requested, resource + "=" + format_quantity(resource, *asked));
      add(used, resource + "=" + format_quantity(resource, in_use));
      add(limited, resource + "=" + qstr(hard_text));
    }
    if (!limited.empty()) {
      return AdmissionDenied{
          403, "Forbidden",
          fmt::format("{} \"{}\" is forbidden: exceeded quota: {}, requested: {}, used: {}, "
                      "limited: {}",
                      what, name, q["metadata"].value("name", ""), requested, used, limited)};
    }
    if (!status_used.empty()) {  // best effort, as the quota controller would
      q["status"]["hard"] = q["spec"]["hard"];
      for (const auto& [r, v] : status_used.items()) q["status"]["used"][r] = v;
      (void)store.update(kv.key, q.dump(), kv.mod_revision);
    }
  }
  return std::nullopt;
}

}  // namespace

json quota_used(const ObjectLister& objects, const std::string& ns, const json& hard) {
  json used = json::object();
  if (!hard.is_object()) return used;
  for (const auto& [resource, limit] : hard.items()) {
    if (auto n = used_in(objects, ns, resource)) used[resource] = format_quantity(resource, *n);
  }
  return used;
}

std::optional<double> parse_quantity(const std::string& text) {
  static const std::map<std::string, double> suffixes = {{"", 1},
                                                         {"m", 1e-3},
                                                         {"k", 1e3},
                                                         {"M", 1e6},
                                                         {"G", 1e9},
                                                         {"T", 1e12},
                                                         {"P", 1e15},
                                                         {"E", 1e18},
                                                         {"Ki", 1024.0},
                                                         {"Mi", 1048576.0},
                                                         {"Gi", 1073741824.0},
                                                         {"Ti", 1099511627776.0},
                                                         {"Pi", 1125899906842624.0},
                                                         {"Ei", 1152921504606846976.0}};
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string suffix = text.substr(end);
  auto it = suffixes.find(suffix);
  if (it == suffixes.end()) return std::nullopt;
  return value * it->second;
}

std::optional<AdmissionDenied> admit_create(datastore::Backend& store, const ResourceType& type,
                                            const std::string& ns, json& object) {
  if (!type.namespaced || ns.empty()) return std::nullopt;
  auto kv = store.get("/registry/namespaces/" + ns);
  if (kv && !*kv)
    return AdmissionDenied{404, "NotFound", fmt::format("namespaces \"{}\" not found", ns)};
  if (kv && *kv) {
    json n = json::parse((*kv)->value, nullptr, false);
    if (n.is_object() && (n["status"].value("phase", "") == "Terminating" ||
                          n["metadata"].contains("deletionTimestamp"))) {
      return AdmissionDenied{403, "Forbidden",
                             fmt::format("{} \"{}\" is forbidden: unable to create new content in "
                                         "namespace {} because it is being terminated",
                                         type.resource, object["metadata"].value("name", ""), ns)};
    }
  }
  if (type.group.empty() && type.resource == "pods") {
    if (auto denied = admit_pod(store, ns, object)) return denied;
    if (auto denied = limit_ranger(store, ns, object)) return denied;
  }
  return resource_quota(store, type, ns, object);
}

}  // namespace k3s::apiserver
