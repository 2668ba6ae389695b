#include "k3s/apiserver/rbac.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/strings.h"
#include "core/serde/json.h"
#include "k3s/apiserver/rbac_policy.h"

namespace k3s::apiserver {

using json = nlohmann::json;

namespace {

bool has(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

std::vector<std::string> strings(const json& o, const char* key) {
  std::vector<std::string> out;
  if (o.is_object() && o.contains(key) && o[key].is_array()) {
    for (const auto& v : o[key]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// A LabelSelector (matchLabels, matchExpressions) against an object's labels.
bool selects(const json& selector, const json& labels) {
  auto label = [&](const std::string& k) -> std::optional<std::string> {
    if (labels.is_object() && labels.contains(k) && labels[k].is_string())
      return labels[k].get<std::string>();
    return std::nullopt;
  };
  if (selector.contains("matchLabels")) {
    for (const auto& [k, v] : selector["matchLabels"].items()) {
      if (label(k) != v.get<std::string>()) return false;
    }
  }
  for (const auto& e : selector.value("matchExpressions", json::array())) {
    auto have = label(e.value("key", ""));
    auto values = strings(e, "values");
    std::string op = e.value("operator", "");
    if ((op == "In" && !(have && has(values, *have))) ||
        (op == "NotIn" && have && has(values, *have)) || (op == "Exists" && !have) ||
        (op == "DoesNotExist" && have)) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct Authorizer::Snapshot {
  struct Rule {
    std::vector<std::string> verbs, groups, resources, names, urls;
  };
  struct Subject {
    std::string kind, name, ns;
  };
  struct Binding {
    std::string kind, name, ns;  // ns "" for ClusterRoleBindings
    std::string role_kind, role_name;
    std::vector<Subject> subjects;
  };
  std::map<std::string, std::vector<Rule>> cluster_roles;  // aggregation resolved
  std::map<std::string, std::vector<Rule>> roles;          // "ns/name"
  std::vector<Binding> bindings;
  uint64_t generation = 0;
};

namespace {

using Snapshot = Authorizer::Snapshot;

std::vector<Snapshot::Rule> rules_of(const json& role) {
  std::vector<Snapshot::Rule> out;
  for (const auto& r : role.value("rules", json::array())) {
    out.push_back({strings(r, "verbs"), strings(r, "apiGroups"), strings(r, "resources"),
                   strings(r, "resourceNames"), strings(r, "nonResourceURLs")});
  }
  return out;
}

bool resource_matches(const Snapshot::Rule& rule, const Attributes& a) {
  std::string combined = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  for (const auto& r : rule.resources) {
    if (r == "*" || r == combined) return true;
    if (!a.subresource.empty() && r == "*/" + a.subresource) return true;
  }
  return false;
}

bool url_matches(const Snapshot::Rule& rule, const std::string& path) {
  for (const auto& u : rule.urls) {
    if (u == "*" || u == path) return true;
    if (u.ends_with("*") && path.starts_with(u.substr(0, u.size() - 1))) return true;
  }
  return false;
}

bool allows(const Snapshot::Rule& rule, const Attributes& a) {
  if (!has(rule.verbs, a.verb) && !has(rule.verbs, "*")) return false;
  if (!a.resource_request) return url_matches(rule, a.path);
  if (!has(rule.groups, a.group) && !has(rule.groups, "*")) return false;
  if (!resource_matches(rule, a)) return false;
  return rule.names.empty() || has(rule.names, a.name);
}

bool binds(const Snapshot::Binding& b, const std::string& user,
           const std::vector<std::string>& groups) {
  for (const auto& s : b.subjects) {
    if (s.kind == "User" && s.name == user) return true;
    if (s.kind == "Group" && has(groups, s.name)) return true;
    if (s.kind == "ServiceAccount" && user == "system:serviceaccount:" + s.ns + ":" + s.name)
      return true;
  }
  return false;
}

}  // namespace

Attributes request_attributes(const std::string& method, const std::string& path,
                              const std::string& query) {
  Attributes a;
  a.verb = core::to_lower(method);
  a.path = path;
  std::vector<std::string> parts;
  for (auto p : core::split(path, '/')) {
    if (!p.empty()) parts.emplace_back(p);
  }
  size_t at = 0;
  if (parts.size() >= 2 && parts[0] == "api") {
    at = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    a.group = parts[1];
    at = 3;
  } else {
    return a;
  }
  if (parts.size() <= at) return a;  // discovery of a group version
  std::vector<std::string> rest(parts.begin() + static_cast<long>(at), parts.end());
  if (rest[0] == "namespaces" && rest.size() > 1) {
    a.ns = rest[1];
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") {
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  a.resource_request = true;
  a.resource = rest[0];
  if (rest.size() > 1) a.name = rest[1];
  if (rest.size() > 2) a.subresource = rest[2];
  bool watch = false;
  for (auto q : core::split(query, '&')) watch = watch || q == "watch=true" || q == "watch=1";
  if (method == "GET") a.verb = watch ? "watch" : a.name.empty() ? "list" : "get";
  if (method == "POST") a.verb = "create";
  if (method == "PUT") a.verb = "update";
  if (method == "PATCH") a.verb = "patch";
  if (method == "DELETE") a.verb = a.name.empty() ? "deletecollection" : "delete";
  return a;
}

std::string forbidden_message(const std::string& user, const Attributes& a) {
  if (!a.resource_request) {
    return fmt::format("forbidden: User \"{}\" cannot {} path \"{}\"", user, a.verb, a.path);
  }
  std::string what = a.group.empty() ? a.resource : a.resource + "." + a.group;
  if (!a.name.empty()) what += " \"" + a.name + "\"";
  std::string resource = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  std::string scope = a.ns.empty() ? "at the cluster scope" : "in the namespace \"" + a.ns + "\"";
  return fmt::format(
      "{} is forbidden: User \"{}\" cannot {} resource \"{}\" in API group \"{}\" {}", what, user,
      a.verb, resource, a.group, scope);
}

std::vector<json> default_rbac_objects() {
  auto docs = core::parse_yaml(rbac_policy::kDefaults);
  std::vector<json> out;
  if (!docs || !docs->is_array()) return out;  // the embedded file is checked by the tests
  for (auto& o : *docs) {
    o["apiVersion"] = "rbac.authorization.k8s.io/v1";
    o["metadata"]["labels"]["kubernetes.io/bootstrapping"] = "rbac-defaults";
    o["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"] = "true";
    out.push_back(o);
  }
  return out;
}

core::Result<void> aggregate_cluster_roles(datastore::Backend& store) {
  // A few passes settle chains such as view -> edit -> admin.
  for (int pass = 0; pass < 5; ++pass) {
    auto listed = K3A_TRY(store.list(datastore::Range::prefix("/registry/clusterroles/"), {}));
    std::map<std::string, std::pair<datastore::KeyValue, json>> roles;
    for (const auto& kv : listed.kvs) {
      json o = json::parse(kv.value, nullptr, false);
      if (o.is_object()) roles[o["metadata"].value("name", "")] = {kv, o};
    }
    bool changed = false;
    for (auto& [name, entry] : roles) {
      json& role = entry.second;
      if (!role.contains("aggregationRule") || !role["aggregationRule"].is_object()) continue;
      json rules = json::array();
      json selectors = role["aggregationRule"].value("clusterRoleSelectors", json::array());
      for (const auto& [other, other_entry] : roles) {
        if (other == name) continue;
        json labels = other_entry.second["metadata"].value("labels", json::object());
        bool matched = std::any_of(selectors.begin(), selectors.end(),
                                   [&](const json& sel) { return selects(sel, labels); });
        if (!matched) continue;
        for (const auto& r : other_entry.second.value("rules", json::array())) {
          if (std::find(rules.begin(), rules.end(), r) == rules.end()) rules.push_back(r);
        }
      }
      if (role.value("rules", json::array()) == rules) continue;
      role["rules"] = rules;
      auto w =
          K3A_TRY(store.update(entry.first.key, core::dump_json(role), entry.first.mod_revision));
      changed = changed || w.succeeded;
    }
    if (!changed) break;
  }
  return {};
}

namespace {

// The permissions a rule grants that the user does not hold, as upstream prints them.
std::vector<std::string> missing(const Authorizer& authz, const std::string& user,
                                 const std::vector<std::string>& groups, const json& rule,
                                 const std::string& ns) {
  std::vector<std::string> out;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : " ") + json(e).dump();
    return "[" + s + "]";
  };
  auto verbs = strings(rule, "verbs"), urls = strings(rule, "nonResourceURLs");
  auto groups_in = strings(rule, "apiGroups"), resources = strings(rule, "resources");
  auto names = strings(rule, "resourceNames");
  if (names.empty()) names.push_back("");
  bool ok = true;
  for (const auto& v : verbs) {
    for (const auto& u : urls)
      ok = ok && authz.authorize(user, groups, {.verb = v, .path = u}).allowed;
    for (const auto& g : groups_in) {
      for (const auto& r : resources) {
        std::string resource = r.substr(0, r.find('/'));
        std::string sub = r.find('/') == std::string::npos ? "" : r.substr(r.find('/') + 1);
        for (const auto& n : names) {
          Attributes a{.verb = v,
                       .resource_request = true,
                       .group = g,
                       .resource = resource,
                       .subresource = sub,
                       .ns = ns,
                       .name = n};
          ok = ok && authz.authorize(user, groups, a).allowed;
        }
      }
    }
  }
  if (ok) return out;
  std::string text = "{";
  if (!groups_in.empty()) text += "APIGroups:" + list(groups_in) + ", ";
  if (!resources.empty()) text += "Resources:" + list(resources) + ", ";
  if (!strings(rule, "resourceNames").empty())
    text += "ResourceNames:" + list(strings(rule, "resourceNames")) + ", ";
  if (!urls.empty()) text += "NonResourceURLs:" + list(urls) + ", ";
  text += "Verbs:" + list(verbs) + "}";
  out.push_back(text);
  return out;
}

}  // namespace

std::string escalation_problem(const Authorizer& authz, const std::string& user,
                               const std::vector<std::string>& groups, const Attributes& request,
                               const json& object, datastore::Backend& store) {
  if (has(groups, "system:masters")) return "";
  bool binding = request.resource == "rolebindings" || request.resource == "clusterrolebindings";
  json rules = json::array();
  std::string role_name = object.value("metadata", json::object()).value("name", "");
  if (binding) {
    const json& ref = object.value("roleRef", json::object());
    std::string kind = ref.value("kind", ""), name = ref.value("name", "");
    // Permission to `bind` the referenced role is enough.
    Attributes bind{.verb = "bind",
                    .resource_request = true,
                    .group = "rbac.authorization.k8s.io",
                    .resource = kind == "Role" ? "roles" : "clusterroles",
                    .ns = request.ns,
                    .name = name};
    if (authz.authorize(user, groups, bind).allowed) return "";
    std::string key = kind == "Role" ? "/registry/roles/" + request.ns + "/" + name
                                     : "/registry/clusterroles/" + name;
    auto kv = store.get(key);
    if (kv && *kv) rules = json::parse((*kv)->value, nullptr, false).value("rules", json::array());
  } else {
    Attributes escalate = request;
    escalate.verb = "escalate";
    escalate.name = role_name;
    if (authz.authorize(user, groups, escalate).allowed) return "";
    rules = object.value("rules", json::array());
  }
  std::vector<std::string> lacking;
  for (const auto& rule : rules) {
    for (auto& m : missing(authz, user, groups, rule, request.ns)) lacking.push_back(m);
  }
  if (lacking.empty()) return "";
  std::string quoted;
  for (const auto& g : groups) quoted += (quoted.empty() ? "" : " ") + json(g).dump();
  std::string what = request.resource + ".rbac.authorization.k8s.io \"" + role_name + "\"";
  std::string text = fmt::format(
      "{} is forbidden: user \"{}\" (groups=[{}]) is attempting to grant RBAC permissions not "
      "currently held:",
      what, user, quoted);
  for (const auto& l : lacking) text += "\n" + l;
  return text;
}

Authorizer::Authorizer(datastore::Backend& store) : store_(store) {}
Authorizer::~Authorizer() = default;

core::Result<std::shared_ptr<const Snapshot>> Authorizer::snapshot() const {
  std::lock_guard lock(mu_);
  uint64_t generation = generation_.load();
  if (current_ && current_->generation == generation) return current_;
  auto s = std::make_shared<Snapshot>();
  s->generation = generation;
  auto list = [this](const char* resource) -> core::Result<std::vector<json>> {
    auto res = K3A_TRY(
        store_.list(datastore::Range::prefix(std::string("/registry/") + resource + "/"), {}));
    std::vector<json> out;
    for (const auto& kv : res.kvs) {
      json o = json::parse(kv.value, nullptr, false);
      if (o.is_object()) out.push_back(std::move(o));
    }
    return out;
  };
  // ClusterRoles: aggregated ones take the rules of every ClusterRole their selectors match,
  // resolved depth-first (edit aggregates into admin after view aggregates into edit).
  std::map<std::string, json> by_name;
  for (auto& o : K3A_TRY(list("clusterroles"))) by_name[o["metadata"].value("name", "")] = o;
  std::function<std::vector<Snapshot::Rule>(const std::string&, std::set<std::string>&)> resolve =
      [&](const std::string& name, std::set<std::string>& seen) {
        std::vector<Snapshot::Rule> rules = rules_of(by_name[name]);
        const json& agg = by_name[name].value("aggregationRule", json::object());
        if (!seen.insert(name).second) return rules;
        for (const auto& sel : agg.value("clusterRoleSelectors", json::array())) {
          for (const auto& [other, role] : by_name) {
            if (other == name || !selects(sel, role["metadata"].value("labels", json::object())))
              continue;
            auto more = resolve(other, seen);
            rules.insert(rules.end(), more.begin(), more.end());
          }
        }
        return rules;
      };
  for (const auto& [name, role] : by_name) {
    std::set<std::string> seen;
    s->cluster_roles[name] = resolve(name, seen);
  }
  for (const auto& o : K3A_TRY(list("roles"))) {
    s->roles[o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "")] =
        rules_of(o);
  }
  for (const char* kind : {"clusterrolebindings", "rolebindings"}) {
    for (const auto& o : K3A_TRY(list(kind))) {
      Snapshot::Binding b{kind[0] == 'c' ? "ClusterRoleBinding" : "RoleBinding",
                          o["metadata"].value("name", ""),
                          o["metadata"].value("namespace", ""),
                          o["roleRef"].value("kind", ""),
                          o["roleRef"].value("name", ""),
                          {}};
      for (const auto& sub : o.value("subjects", json::array())) {
        b.subjects.push_back(
            {sub.value("kind", ""), sub.value("name", ""), sub.value("namespace", b.ns)});
      }
      s->bindings.push_back(std::move(b));
    }
  }
  current_ = s;
  return current_;
}

json Authorizer::rules_for(const std::string& user, const std::vector<std::string>& groups,
                           const std::string& ns) const {
  json resource_rules = json::array(), non_resource = json::array();
  auto add = [](json& list, const json& rule) {
    if (std::find(list.begin(), list.end(), rule) == list.end()) list.push_back(rule);
  };
  if (has(groups, "system:masters")) {
    add(resource_rules, {{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}});
    add(non_resource, {{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}});
  }
  auto snap = snapshot();
  if (!snap) return {{"resourceRules", resource_rules}, {"nonResourceRules", non_resource}};
  for (const auto& b : (*snap)->bindings) {
    if ((!b.ns.empty() && b.ns != ns) || !binds(b, user, groups)) continue;
    const auto& table = b.role_kind == "ClusterRole" ? (*snap)->cluster_roles : (*snap)->roles;
    auto it = table.find(b.role_kind == "ClusterRole" ? b.role_name : b.ns + "/" + b.role_name);
    if (it == table.end()) continue;
    for (const auto& r : it->second) {
      if (!r.urls.empty()) {
        add(non_resource, {{"verbs", r.verbs}, {"nonResourceURLs", r.urls}});
        continue;
      }
      json rule = {{"verbs", r.verbs}, {"apiGroups", r.groups}, {"resources", r.resources}};
      if (!r.names.empty()) rule["resourceNames"] = r.names;
      add(resource_rules, rule);
    }
  }
  return {{"resourceRules", resource_rules}, {"nonResourceRules", non_resource}};
}

Decision Authorizer::authorize(const std::string& user, const std::vector<std::string>& groups,
                               const Attributes& a) const {
  if (has(groups, "system:masters")) return {true, "system:masters"};
  auto snap = snapshot();
  if (!snap) return {false, "RBAC: " + snap.error().message()};
  static const std::vector<Snapshot::Rule> kNone;
  // The node authorizer's part: kubelets (system:nodes) may do what the system:node role
  // lists. Upstream narrows this to objects related to the node; here it is cluster-wide.
  if (has(groups, "system:nodes")) {
    if (auto it = (*snap)->cluster_roles.find("system:node"); it != (*snap)->cluster_roles.end()) {
      for (const auto& r : it->second) {
        if (allows(r, a)) return {true, "Node: allowed by ClusterRole \"system:node\""};
      }
    }
  }
  for (const auto& b : (*snap)->bindings) {
    if (!b.ns.empty() && (!a.resource_request || b.ns != a.ns)) continue;
    if (!binds(b, user, groups)) continue;
    const std::vector<Snapshot::Rule>* rules = &kNone;
    if (b.role_kind == "ClusterRole") {
      if (auto it = (*snap)->cluster_roles.find(b.role_name); it != (*snap)->cluster_roles.end())
        rules = &it->second;
    } else if (b.role_kind == "Role" && !b.ns.empty()) {
      if (auto it = (*snap)->roles.find(b.ns + "/" + b.role_name); it != (*snap)->roles.end())
        rules = &it->second;
    }
    for (const auto& r : *rules) {
      if (allows(r, a)) {
        return {true, fmt::format("RBAC: allowed by {} \"{}\" of {} \"{}\"", b.kind, b.name,
                                  b.role_kind, b.role_name)};
      }
    }
  }
  return {false, ""};
}

}  // namespace k3s::apiserver
