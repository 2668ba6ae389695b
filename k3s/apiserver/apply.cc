#include "k3s/apiserver/apply.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/base/time.h"
#include "k3s/apiserver/strategic_merge.h"

namespace k3s::apiserver {
namespace {

using core::Errc;
using json = nlohmann::json;
using Path = std::vector<std::string>;
using PathSet = std::set<Path>;

// Fields the server sets, never owned by a manager.
bool server_field(const Path& at, const std::string& key) {
  if (at.empty()) return key == "apiVersion" || key == "kind" || key == "status";
  if (at.size() == 1 && at[0] == "f:metadata") {
    return key == "name" || key == "namespace" || key == "uid" || key == "resourceVersion" ||
           key == "generation" || key == "creationTimestamp" || key == "managedFields" ||
           key == "selfLink" || key == "deletionTimestamp";
  }
  return false;
}

void collect(const json& v, const std::string& type, Path& at, PathSet& out) {
  for (const auto& [k, child] : v.items()) {
    if (server_field(at, k)) continue;
    PatchField f = patch_field(type, k);
    at.push_back("f:" + k);
    if (child.is_object() && !child.empty()) {
      collect(child, f.type, at, out);
    } else if (child.is_array() && f.merge && !f.key.empty()) {
      for (const auto& item : child) {
        if (!item.is_object() || !item.contains(f.key)) continue;
        at.push_back("k:" + json{{f.key, item[f.key]}}.dump());
        at.push_back(".");
        out.insert(at);
        at.pop_back();
        collect(item, f.type, at, out);
        at.pop_back();
      }
    } else if (child.is_array() && f.merge) {
      for (const auto& item : child) {
        at.push_back("v:" + item.dump());
        out.insert(at);
        at.pop_back();
      }
    } else {
      out.insert(at);
    }
    at.pop_back();
  }
}

json to_fields(const PathSet& paths) {
  json out = json::object();
  for (const auto& p : paths) {
    json* node = &out;
    for (const auto& seg : p) {
      if (!node->contains(seg)) (*node)[seg] = json::object();
      node = &(*node)[seg];
    }
  }
  return out;
}

void from_fields(const json& fields, Path& at, PathSet& out) {
  if (!fields.is_object()) return;
  for (const auto& [k, child] : fields.items()) {
    at.push_back(k);
    if (child.is_object() && !child.empty()) {
      from_fields(child, at, out);
    } else {
      out.insert(at);
    }
    at.pop_back();
  }
}

// The value a path names in an object, or nullptr.
json* value_at(json& v, const Path& p, size_t n) {
  json* cur = &v;
  for (size_t i = 0; i < n && cur; ++i) {
    const std::string& seg = p[i];
    if (seg == ".") continue;
    std::string body = seg.substr(2);
    if (seg.starts_with("f:")) {
      cur = cur->is_object() && cur->contains(body) ? &(*cur)[body] : nullptr;
    } else if (seg.starts_with("k:")) {
      json key = json::parse(body, nullptr, false);
      json* found = nullptr;
      if (cur->is_array()) {
        for (auto& item : *cur) {
          bool all = item.is_object() && key.is_object();
          for (const auto& [kk, kv] : key.items()) all = all && item.value(kk, json()) == kv;
          if (all) found = &item;
        }
      }
      cur = found;
    } else if (seg.starts_with("v:")) {
      json want = json::parse(body, nullptr, false);
      auto it = cur->is_array() ? std::find(cur->begin(), cur->end(), want) : cur->end();
      cur = cur->is_array() && it != cur->end() ? &*it : nullptr;
    } else {
      cur = nullptr;
    }
  }
  return cur;
}

// Removes what a path names; missing parts are fine.
void remove_at(json& v, const Path& p) {
  bool item = p.back() == "." || p.back().starts_with("v:");
  size_t parent_len = p.back() == "." ? p.size() - 2 : p.size() - 1;
  json* parent = value_at(v, p, parent_len);
  if (!parent) return;
  if (!item && p.back().starts_with("f:")) {
    if (parent->is_object()) parent->erase(p.back().substr(2));
    return;
  }
  json* target = value_at(v, p, p.size());
  if (!target || !parent->is_array()) return;
  for (auto it = parent->begin(); it != parent->end(); ++it) {
    if (&*it == target) {
      parent->erase(it);
      return;
    }
  }
}

// ".spec.containers[name=\"web\"].image", as upstream prints paths.
std::string path_text(const Path& p) {
  std::string out;
  for (const auto& seg : p) {
    if (seg == ".") continue;
    if (seg.starts_with("f:")) out += "." + seg.substr(2);
    if (seg.starts_with("v:")) out += "[" + seg.substr(2) + "]";
    if (seg.starts_with("k:")) {
      json key = json::parse(seg.substr(2), nullptr, false);
      std::string parts;
      for (const auto& [k, v] : key.items())
        parts += (parts.empty() ? "" : ",") + k + "=" + v.dump();
      out += "[" + parts + "]";
    }
  }
  return out;
}

PathSet fields_of(const json& entry) {
  PathSet out;
  Path at;
  from_fields(entry.value("fieldsV1", json::object()), at, out);
  return out;
}

}  // namespace

std::string conflict_message(const std::vector<ApplyConflict>& conflicts) {
  if (conflicts.size() == 1) {
    const auto& c = conflicts[0];
    return fmt::format("Apply failed with 1 conflict: conflict with \"{}\" using {}: {}", c.manager,
                       c.api_version, c.field);
  }
  std::string out = fmt::format("Apply failed with {} conflicts: ", conflicts.size());
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> by_manager;
  for (const auto& c : conflicts) by_manager[{c.manager, c.api_version}].push_back(c.field);
  for (const auto& [who, fields] : by_manager) {
    out += fmt::format("conflicts with \"{}\" using {}:\n", who.first, who.second);
    for (const auto& f : fields) out += "- " + f + "\n";
  }
  return out;
}

core::Result<json> server_side_apply(const json& live, const json& config, const ApplyRequest& req,
                                     std::vector<ApplyConflict>* conflicts) {
  if (!config.is_object())
    return core::fail(Errc::kInvalid, "the applied configuration must be an object");
  PathSet applied;
  Path at;
  collect(config, req.kind, at, applied);

  json object = live.is_object() ? live : json::object();
  if (!object["metadata"].is_object()) object["metadata"] = json::object();
  json managed = object["metadata"].value("managedFields", json::array());
  if (!managed.is_array()) managed = json::array();
  PathSet previous;
  json others = json::array();
  for (const auto& e : managed) {
    if (e.value("manager", "") == req.manager && e.value("operation", "") == "Apply") {
      previous = fields_of(e);
    } else {
      others.push_back(e);
    }
  }

  // Conflicts: fields another manager owns that this apply sets to a different value.
  json config_copy = config;
  std::vector<ApplyConflict> found;
  std::vector<PathSet> other_sets;
  for (auto& e : others) {
    PathSet theirs = fields_of(e);
    for (const auto& p : applied) {
      if (p.back() == "." || !theirs.count(p)) continue;
      json* have = value_at(object, p, p.size());
      json* want = value_at(config_copy, p, p.size());
      if (have && want && *have == *want) continue;
      found.push_back({e.value("manager", ""), e.value("apiVersion", ""), path_text(p)});
      if (req.force) theirs.erase(p);
    }
    other_sets.push_back(std::move(theirs));
  }
  if (!found.empty() && !req.force) {
    if (conflicts) *conflicts = found;
    return core::fail(Errc::kConflict, conflict_message(found));
  }

  // Fields this manager applied before and dropped now go, unless someone else owns them.
  std::vector<Path> dropped;
  for (const auto& p : previous) {
    if (applied.count(p)) continue;
    bool owned = std::any_of(other_sets.begin(), other_sets.end(),
                             [&](const PathSet& s) { return s.count(p) > 0; });
    if (!owned) dropped.push_back(p);
  }
  std::sort(dropped.begin(), dropped.end(),
            [](const Path& a, const Path& b) { return a.size() > b.size(); });
  for (const auto& p : dropped) remove_at(object, p);

  json merged = K3A_TRY(strategic_merge(object, config, req.kind));
  json entries = json::array();
  for (size_t i = 0; i < others.size(); ++i) {
    if (other_sets[i].empty()) continue;
    json e = others[i];
    e["fieldsV1"] = to_fields(other_sets[i]);
    entries.push_back(e);
  }
  std::string when = core::format_rfc3339(req.now);
  for (const auto& e : managed) {  // an unchanged set keeps its time
    if (e.value("manager", "") == req.manager && e.value("operation", "") == "Apply" &&
        previous == applied) {
      when = e.value("time", when);
    }
  }
  entries.push_back({{"manager", req.manager},
                     {"operation", "Apply"},
                     {"apiVersion", req.api_version},
                     {"time", when},
                     {"fieldsType", "FieldsV1"},
                     {"fieldsV1", to_fields(applied)}});
  merged["metadata"]["managedFields"] = entries;
  return merged;
}

json record_update(const json& before, const json& after, const ApplyRequest& req) {
  json managed = json::array();
  if (before.is_object() && before.contains("metadata"))
    managed = before["metadata"].value("managedFields", json::array());
  PathSet now, was;
  Path at;
  collect(after, req.kind, at, now);
  if (before.is_object()) collect(before, req.kind, at, was);
  json a = after, b = before.is_object() ? before : json::object();
  PathSet changed, gone;
  for (const auto& p : now) {
    json* old_value = value_at(b, p, p.size());
    json* new_value = value_at(a, p, p.size());
    if (!old_value || !new_value || *old_value != *new_value) changed.insert(p);
  }
  for (const auto& p : was) {
    if (!now.count(p)) gone.insert(p);
  }
  if (changed.empty() && gone.empty()) return managed;
  json entries = json::array();
  PathSet mine;
  for (const auto& e : managed) {
    PathSet set = fields_of(e);
    bool own = e.value("manager", "") == req.manager && e.value("operation", "") == "Update";
    for (const auto& p : gone) set.erase(p);
    if (own) {
      mine = set;
      continue;
    }
    for (const auto& p : changed) set.erase(p);
    if (set.empty()) continue;
    json kept = e;
    kept["fieldsV1"] = to_fields(set);
    entries.push_back(kept);
  }
  mine.insert(changed.begin(), changed.end());
  if (!mine.empty()) {
    entries.push_back({{"manager", req.manager},
                       {"operation", "Update"},
                       {"apiVersion", req.api_version},
                       {"time", core::format_rfc3339(req.now)},
                       {"fieldsType", "FieldsV1"},
                       {"fieldsV1", to_fields(mine)}});
  }
  return entries;
}

}  // namespace k3s::apiserver
