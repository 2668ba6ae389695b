#include "k3s/apiserver/strategic_merge.h"

#include <algorithm>
#include <map>
#include <vector>

namespace k3s::apiserver {
namespace {

using core::Errc;
using json = nlohmann::json;

// Upstream's patch metadata (the patchStrategy and patchMergeKey tags of the Go types): the
// type of a field's value and, for lists, whether they merge and by which key.
struct Field {
  const char* type = "";
  const char* key = "";  // merge key of a list of objects; "" for a merged primitive list
  bool merge = false;
};
using Fields = std::map<std::string, Field>;

const std::map<std::string, Fields>& types() {
  static const Field meta{"ObjectMeta"}, conditions{"", "type", true};
  static const Fields workload = {
      {"metadata", meta}, {"spec", {"TemplateSpec"}}, {"status", {"ConditionsStatus"}}};
  static const std::map<std::string, Fields> t = {
      {"ObjectMeta", {{"finalizers", {"", "", true}}, {"ownerReferences", {"", "uid", true}}}},
      {"PodSpec",
       {{"containers", {"Container", "name", true}},
        {"initContainers", {"Container", "name", true}},
        {"ephemeralContainers", {"Container", "name", true}},
        {"volumes", {"", "name", true}},
        {"imagePullSecrets", {"", "name", true}},
        {"hostAliases", {"", "ip", true}},
        {"resourceClaims", {"", "name", true}},
        {"schedulingGates", {"", "name", true}},
        {"topologySpreadConstraints", {"", "topologyKey", true}}}},
      {"Container",
       {{"ports", {"", "containerPort", true}},
        {"env", {"", "name", true}},
        {"volumeMounts", {"", "mountPath", true}},
        {"volumeDevices", {"", "devicePath", true}}}},
      {"PodTemplateSpec", {{"metadata", meta}, {"spec", {"PodSpec"}}}},
      {"TemplateSpec", {{"template", {"PodTemplateSpec"}}}},
      {"ConditionsStatus", {{"conditions", conditions}}},
      {"Pod", {{"metadata", meta}, {"spec", {"PodSpec"}}, {"status", {"PodStatus"}}}},
      {"PodStatus",
       {{"conditions", conditions}, {"podIPs", {"", "ip", true}}, {"hostIPs", {"", "ip", true}}}},
      {"PodTemplate", {{"metadata", meta}, {"template", {"PodTemplateSpec"}}}},
      {"Deployment",
       {{"metadata", meta}, {"spec", {"DeploymentSpec"}}, {"status", {"ConditionsStatus"}}}},
      {"DeploymentSpec", {{"template", {"PodTemplateSpec"}}}},
      {"ReplicaSet", workload},
      {"ReplicationController", workload},
      {"StatefulSet", workload},
      {"DaemonSet", workload},
      {"Job", workload},
      {"CronJob", {{"metadata", meta}, {"spec", {"CronJobSpec"}}}},
      {"CronJobSpec", {{"jobTemplate", {"JobTemplateSpec"}}}},
      {"JobTemplateSpec", {{"metadata", meta}, {"spec", {"TemplateSpec"}}}},
      {"Service",
       {{"metadata", meta}, {"spec", {"ServiceSpec"}}, {"status", {"ConditionsStatus"}}}},
      {"ServiceSpec", {{"ports", {"", "port", true}}}},
      {"Node", {{"metadata", meta}, {"spec", {"NodeSpec"}}, {"status", {"NodeStatus"}}}},
      {"NodeSpec", {{"podCIDRs", {"", "", true}}}},
      {"NodeStatus", {{"conditions", conditions}, {"addresses", {"", "type", true}}}},
      {"Namespace", {{"metadata", meta}, {"status", {"ConditionsStatus"}}}},
      {"PersistentVolumeClaim", {{"metadata", meta}, {"status", {"ConditionsStatus"}}}},
  };
  return t;
}

// Every kind's metadata is an ObjectMeta, including kinds without other patch metadata.
Field field_of(const std::string& type, const std::string& name) {
  auto t = types().find(type);
  if (t != types().end()) {
    if (auto f = t->second.find(name); f != t->second.end()) return f->second;
  }
  if (name == "metadata" && !type.empty()) return {"ObjectMeta"};
  return {};
}

bool directive(const std::string& key) { return !key.empty() && key[0] == '$'; }

bool deletes(const json& v) {
  return v.is_object() && v.contains("$patch") && v["$patch"] == "delete";
}

// A patch value stored as it is: directives removed, elements marked for deletion dropped.
json strip(const json& v) {
  if (v.is_object()) {
    json out = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!directive(it.key()) && !it.value().is_null()) out[it.key()] = strip(it.value());
    }
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& e : v) {
      bool only_directives =
          e.is_object() && std::all_of(e.items().begin(), e.items().end(),
                                       [](const auto& kv) { return directive(kv.key()); });
      if (!deletes(e) && !(only_directives && !e.empty())) out.push_back(strip(e));
    }
    return out;
  }
  return v;
}

core::Result<json> merge_map(const json& original, const json& patch, const std::string& type,
                             const std::string& where);

// Puts the elements named by a $setElementOrder list first, in its order; the others follow in
// their current order.
json reorder(const json& list, const json& order, const std::string& key) {
  std::vector<bool> taken(list.size());
  json out = json::array();
  for (const auto& o : order) {
    for (size_t i = 0; i < list.size(); ++i) {
      bool same = key.empty() ? list[i] == o
                              : list[i].is_object() && o.is_object() && o.contains(key) &&
                                    list[i].value(key, json()) == o[key];
      if (!taken[i] && same) {
        taken[i] = true;
        out.push_back(list[i]);
        break;
      }
    }
  }
  for (size_t i = 0; i < list.size(); ++i) {
    if (!taken[i]) out.push_back(list[i]);
  }
  return out;
}

core::Result<json> merge_list(const json& original, const json& patch, const Field& f,
                              const std::string& where) {
  for (const auto& e : patch) {
    if (e.is_object() && e.value("$patch", "") == "replace") return strip(patch);
  }
  json out = original;
  if (std::string(f.key).empty()) {  // a merged primitive list: the union, in order
    for (const auto& e : patch) {
      if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
    }
    return out;
  }
  for (const auto& e : patch) {
    if (!e.is_object() || !e.contains(f.key)) {
      return core::failf(Errc::kInvalid, "{}: map: {} does not contain declared merge key: {}",
                         where, e.dump(), f.key);
    }
    auto at = std::find_if(out.begin(), out.end(), [&](const json& o) {
      return o.is_object() && o.contains(f.key) && o[f.key] == e[f.key];
    });
    if (deletes(e)) {
      if (at != out.end()) out.erase(at);
      continue;
    }
    std::string here = where + "[" + f.key + "=" + e[f.key].dump() + "]";
    if (at != out.end()) {
      *at = K3A_TRY(merge_map(*at, e, f.type, here));
    } else {
      out.push_back(K3A_TRY(merge_map(json(), e, f.type, here)));
    }
  }
  return out;
}

core::Result<json> merge_map(const json& original, const json& patch, const std::string& type,
                             const std::string& where) {
  if (patch.contains("$patch")) {
    const json& p = patch["$patch"];
    if (p == "replace") return strip(patch);
    if (p != "merge" && p != "delete") {
      return core::failf(Errc::kInvalid, "{}: unknown patch type: {}", where, p.dump());
    }
  }
  json out = original.is_object() ? original : json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (k.starts_with("$deleteFromPrimitiveList/")) {
      std::string list = k.substr(25);
      if (!v.is_array())
        return core::failf(Errc::kInvalid, "{}.{}: the values to delete must be a list", where, k);
      if (out.contains(list) && out[list].is_array()) {
        json kept = json::array();
        for (const auto& e : out[list]) {
          if (std::find(v.begin(), v.end(), e) == v.end()) kept.push_back(e);
        }
        out[list] = kept;
      }
      continue;
    }
    if (directive(k)) continue;
    Field f = field_of(type, k);
    if (v.is_null() || deletes(v)) {
      out.erase(k);
    } else if (v.is_object()) {
      out[k] = K3A_TRY(merge_map(out.value(k, json()), v, f.type, where + "." + k));
    } else if (v.is_array() && f.merge && out.contains(k) && out[k].is_array()) {
      out[k] = K3A_TRY(merge_list(out[k], v, f, where + "." + k));
    } else {
      out[k] = strip(v);
    }
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (!it.key().starts_with("$setElementOrder/")) continue;
    std::string list = it.key().substr(17);
    if (!it.value().is_array())
      return core::failf(Errc::kInvalid, "{}.{}: the order must be a list", where, it.key());
    if (out.contains(list) && out[list].is_array())
      out[list] = reorder(out[list], it.value(), field_of(type, list).key);
  }
  if (patch.contains("$retainKeys")) {
    const json& keep = patch["$retainKeys"];
    if (!keep.is_array())
      return core::failf(Errc::kInvalid, "{}.$retainKeys: must be a list of field names", where);
    for (auto it = out.begin(); it != out.end();) {
      if (std::find(keep.begin(), keep.end(), it.key()) == keep.end()) {
        it = out.erase(it);
      } else {
        ++it;
      }
    }
  }
  return out;
}

}  // namespace

PatchField patch_field(const std::string& type, const std::string& name) {
  Field f = field_of(type, name);
  return {f.type, f.key, f.merge};
}

core::Result<json> strategic_merge(const json& original, const json& patch,
                                   const std::string& kind) {
  if (!patch.is_object()) {
    return core::fail(Errc::kInvalid, "a strategic merge patch must be a JSON object");
  }
  return merge_map(original, patch, kind, "");
}

}  // namespace k3s::apiserver
