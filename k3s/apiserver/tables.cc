#include "k3s/apiserver/tables.h"

#include <fmt/core.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "k3s/apiserver/scale.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

struct Column {
  std::string name;
  std::string type;  // "string", "integer", "date" ...
  int priority;      // 1: -o wide only
  std::function<json(const json&, int64_t)> cell;
};

// A value at a dotted path, or null.
const json& at(const json& o, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* cur = &o;
  for (const char* k : path) {
    if (!cur->is_object() || !cur->contains(k)) return kNull;
    cur = &(*cur)[k];
  }
  return *cur;
}
std::string str(const json& v, const char* fallback = "<none>") {
  if (v.is_string() && !v.get<std::string>().empty()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return fallback;
}
int64_t num(const json& v) { return v.is_number() ? v.get<int64_t>() : 0; }

std::string age(const json& o, int64_t now, const char* field = "creationTimestamp") {
  auto t = core::parse_rfc3339(str(at(o, {"metadata", field}), ""));
  return t ? human_age(now - *t) : "<unknown>";
}

std::string join(const json& list, const std::function<std::string(const json&)>& f) {
  std::string out;
  if (!list.is_array()) return "<none>";
  for (const auto& e : list) out += (out.empty() ? "" : ",") + f(e);
  return out.empty() ? "<none>" : out;
}

std::string selector(const json& sel) {
  std::string text = format_label_selector(sel);
  return text.empty() ? "<none>" : text;
}

std::string pod_status(const json& p) {
  if (!at(p, {"metadata", "deletionTimestamp"}).is_null()) return "Terminating";
  std::string reason = str(at(p, {"status", "reason"}), "");
  std::string phase = str(at(p, {"status", "phase"}), "Pending");
  const json& cs = at(p, {"status", "containerStatuses"});
  if (cs.is_array()) {
    for (const auto& c : cs) {
      std::string waiting = str(at(c, {"state", "waiting", "reason"}), "");
      std::string terminated = str(at(c, {"state", "terminated", "reason"}), "");
      if (!waiting.empty()) return waiting;
      if (!terminated.empty() && phase != "Succeeded") return terminated;
    }
  }
  return reason.empty() ? phase : reason;
}

std::string ports(const json& svc) {
  return join(at(svc, {"spec", "ports"}), [](const json& p) {
    std::string s = str(at(p, {"port"}), "");
    if (at(p, {"nodePort"}).is_number()) s += ":" + at(p, {"nodePort"}).dump();
    return s + "/" + str(at(p, {"protocol"}), "TCP");
  });
}

std::string node_address(const json& n, const char* type) {
  std::string ip = "<none>";
  const json& a = at(n, {"status", "addresses"});
  if (a.is_array()) {
    for (const auto& e : a) {
      if (at(e, {"type"}) == type) ip = str(at(e, {"address"}));
    }
  }
  return ip;
}

std::string containers(const json& o, const char* field) {
  return join(at(o, {"spec", "template", "spec", "containers"}),
              [&](const json& c) { return str(at(c, {field}), ""); });
}

// A CRD printer column's JSONPath (".spec.replicas", ".status.conditions[0].type",
// ".status.conditions[?(@.type==\"Ready\")].status"); null when it selects nothing.
json json_path(const json& o, const std::string& path) {
  const json* cur = &o;
  size_t i = 0;
  while (cur && i < path.size()) {
    if (path[i] == '.') {
      size_t end = path.find_first_of(".[", i + 1);
      std::string key = path.substr(i + 1, end == std::string::npos ? end : end - i - 1);
      cur = cur->is_object() && cur->contains(key) ? &(*cur)[key] : nullptr;
      i = end == std::string::npos ? path.size() : end;
    } else if (path[i] == '[') {
      size_t end = path.find(']', i);
      if (end == std::string::npos || !cur->is_array()) return nullptr;
      std::string inner = path.substr(i + 1, end - i - 1);
      const json* next = nullptr;
      if (inner.starts_with("?(@.") && inner.ends_with(")") &&
          inner.find("==") != std::string::npos) {
        size_t eq = inner.find("==");
        std::string field = inner.substr(4, eq - 4);
        std::string want = inner.substr(eq + 2, inner.size() - eq - 3);
        if (want.size() >= 2 && (want[0] == '"' || want[0] == '\''))
          want = want.substr(1, want.size() - 2);
        for (const auto& e : *cur) {
          if (e.is_object() && e.contains(field) && str(e[field], "") == want) {
            next = &e;
            break;
          }
        }
      } else if (auto n = core::parse_u64(inner); n && *n < cur->size()) {
        next = &(*cur)[*n];
      }
      cur = next;
      i = end + 1;
    } else {
      return nullptr;
    }
  }
  return cur ? *cur : json();
}

// A custom resource's columns: Name, then its printer columns (Age when it has none).
std::vector<Column> custom_columns(const ResourceType& t) {
  std::vector<Column> cols = {{"Name", "string", 0, [](const json& o, int64_t) {
                                 return str(at(o, {"metadata", "name"}));
                               }}};
  if (t.columns.empty()) {
    cols.push_back(
        {"Age", "string", 0, [](const json& o, int64_t now) { return json(age(o, now)); }});
  }
  for (const auto& pc : t.columns) {
    cols.push_back({pc.name, pc.type, pc.priority, [pc](const json& o, int64_t now) -> json {
                      json v = json_path(o, pc.json_path);
                      if (pc.type == "date" && v.is_string()) {
                        auto t = core::parse_rfc3339(v.get<std::string>());
                        return t ? json(human_age(now - *t)) : v;
                      }
                      return v;
                    }});
  }
  return cols;
}

std::vector<Column> columns(const std::string& kind) {
  // The -o wide columns of workloads with a pod template.
  const Column wide[] = {
      {"Containers", "string", 1,
       [](const json& d, int64_t) { return json(containers(d, "name")); }},
      {"Images", "string", 1, [](const json& d, int64_t) { return json(containers(d, "image")); }},
      {"Selector", "string", 1, [](const json& d, int64_t) {
         return json(selector(at(d, {"spec", "selector"})));
       }}};
  auto name = Column{"Name", "string", 0, [](const json& o, int64_t) {
                       return str(at(o, {"metadata", "name"}));
                     }};
  auto age_col = Column{"Age", "string", 0, [](const json& o, int64_t now) { return age(o, now); }};
  auto s = [](const char* n, std::function<json(const json&, int64_t)> f, int prio = 0) {
    return Column{n, "string", prio, std::move(f)};
  };
  auto i = [](const char* n, std::initializer_list<const char*> path) {
    std::vector<const char*> p(path);
    return Column{n, "integer", 0, [p](const json& o, int64_t) {
                    const json* cur = &o;
                    for (const char* k : p) {
                      cur = cur->is_object() && cur->contains(k) ? &(*cur)[k] : nullptr;
                      if (!cur) break;
                    }
                    return cur && cur->is_number() ? *cur : json(0);
                  }};
  };
  if (kind == "Pod") {
    return {name,
            s("Ready",
              [](const json& p, int64_t) {
                int64_t total = at(p, {"spec", "containers"}).is_array()
                                    ? at(p, {"spec", "containers"}).size()
                                    : 0,
                        ready = 0;
                const json& cs = at(p, {"status", "containerStatuses"});
                if (cs.is_array())
                  for (const auto& c : cs) ready += at(c, {"ready"}) == true;
                return fmt::format("{}/{}", ready, total);
              }),
            s("Status", [](const json& p, int64_t) { return pod_status(p); }),
            // "3 (5m ago)": the count, and how long since the latest container ended.
            s("Restarts",
              [](const json& p, int64_t now) {
                int64_t n = 0, last = 0;
                const json& cs = at(p, {"status", "containerStatuses"});
                if (cs.is_array()) {
                  for (const auto& c : cs) {
                    n += num(at(c, {"restartCount"}));
                    const json& end = at(c, {"lastState", "terminated", "finishedAt"});
                    if (auto t = end.is_string() ? core::parse_rfc3339(end.get<std::string>())
                                                 : core::Result<int64_t>(0)) {
                      last = std::max(last, *t);
                    }
                  }
                }
                return last ? fmt::format("{} ({} ago)", n, human_age(now - last))
                            : std::to_string(n);
              }),
            age_col,
            s(
                "IP",
                [](const json& p, int64_t) {
                  return str(at(p, {"status", "podIP"}));
                },
                1),
            s(
                "Node",
                [](const json& p, int64_t) {
                  return str(at(p, {"spec", "nodeName"}));
                },
                1),
            s(
                "Nominated Node",
                [](const json& p, int64_t) {
                  return str(at(p, {"status", "nominatedNodeName"}));
                },
                1),
            s(
                "Readiness Gates", [](const json&, int64_t) { return std::string("<none>"); }, 1)};
  }
  if (kind == "Node") {
    return {
        name,
        s("Status",
          [](const json& n, int64_t) {
            std::string st = "Unknown";
            const json& conds = at(n, {"status", "conditions"});
            if (conds.is_array()) {
              for (const auto& c : conds) {
                if (at(c, {"type"}) == "Ready")
                  st = at(c, {"status"}) == "True" ? "Ready" : "NotReady";
              }
            }
            if (at(n, {"spec", "unschedulable"}) == true) st += ",SchedulingDisabled";
            return st;
          }),
        s("Roles",
          [](const json& n, int64_t) {
            std::string roles;
            const json& labels = at(n, {"metadata", "labels"});
            if (labels.is_object()) {
              for (const auto& [k, v] : labels.items()) {
                if (k.starts_with("node-role.kubernetes.io/"))
                  roles += (roles.empty() ? "" : ",") + k.substr(24);
              }
            }
            return roles.empty() ? std::string("<none>") : roles;
          }),
        age_col,
        s("Version",
          [](const json& n, int64_t) {
            return str(at(n, {"status", "nodeInfo", "kubeletVersion"}), "");
          }),
        s(
            "Internal-IP", [](const json& n, int64_t) { return node_address(n, "InternalIP"); }, 1),
        s(
            "External-IP", [](const json& n, int64_t) { return node_address(n, "ExternalIP"); }, 1),
        s(
            "OS-Image",
            [](const json& n, int64_t) {
              return str(at(n, {"status", "nodeInfo", "osImage"}), "<unknown>");
            },
            1),
        s(
            "Kernel-Version",
            [](const json& n, int64_t) {
              return str(at(n, {"status", "nodeInfo", "kernelVersion"}), "<unknown>");
            },
            1),
        s(
            "Container-Runtime",
            [](const json& n, int64_t) {
              return str(at(n, {"status", "nodeInfo", "containerRuntimeVersion"}), "<unknown>");
            },
            1)};
  }
  if (kind == "Namespace") {
    return {name,
            s("Status",
              [](const json& o, int64_t) {
                return str(at(o, {"status", "phase"}), "");
              }),
            age_col};
  }
  if (kind == "Deployment") {
    return {name,
            s("Ready",
              [](const json& d, int64_t) {
                return fmt::format("{}/{}", num(at(d, {"status", "readyReplicas"})),
                                   num(at(d, {"spec", "replicas"})));
              }),
            i("Up-to-date", {"status", "updatedReplicas"}),
            i("Available", {"status", "availableReplicas"}),
            age_col,
            wide[0],
            wide[1],
            wide[2]};
  }
  if (kind == "ReplicaSet") {
    return {name,
            i("Desired", {"spec", "replicas"}),
            i("Current", {"status", "replicas"}),
            i("Ready", {"status", "readyReplicas"}),
            age_col,
            wide[0],
            wide[1],
            wide[2]};
  }
  if (kind == "StatefulSet") {
    return {name,
            s("Ready",
              [](const json& d, int64_t) {
                return fmt::format("{}/{}", num(at(d, {"status", "readyReplicas"})),
                                   num(at(d, {"spec", "replicas"})));
              }),
            age_col};
  }
  if (kind == "DaemonSet") {
    return {name,
            i("Desired", {"status", "desiredNumberScheduled"}),
            i("Current", {"status", "currentNumberScheduled"}),
            i("Ready", {"status", "numberReady"}),
            i("Up-to-date", {"status", "updatedNumberScheduled"}),
            i("Available", {"status", "numberAvailable"}),
            s("Node Selector",
              [](const json& d, int64_t) {
                return selector(at(d, {"spec", "template", "spec", "nodeSelector"}));
              }),
            age_col};
  }
  if (kind == "Service") {
    return {
        name,
        s("Type",
          [](const json& o, int64_t) {
            return str(at(o, {"spec", "type"}), "ClusterIP");
          }),
        s("Cluster-IP",
          [](const json& o, int64_t) {
            return str(at(o, {"spec", "clusterIP"}));
          }),
        s("External-IP",
          [](const json& o, int64_t) {
            std::string ips = join(at(o, {"status", "loadBalancer", "ingress"}),
                                   [](const json& e) { return str(at(e, {"ip"}), ""); });
            if (ips == "<none>")
              ips = join(at(o, {"spec", "externalIPs"}), [](const json& e) { return str(e, ""); });
            if (ips == "<none>" && at(o, {"spec", "type"}) == "LoadBalancer")
              return std::string("<pending>");
            return ips;
          }),
        s("Port(s)", [](const json& o, int64_t) { return ports(o); }),
        age_col,
        s(
            "Selector",
            [](const json& o, int64_t) {
              return selector(at(o, {"spec", "selector"}));
            },
            1)};
  }
  if (kind == "Secret") {
    return {name, s("Type", [](const json& o, int64_t) { return str(at(o, {"type"}), ""); }),
            Column{"Data", "integer", 0,
                   [](const json& o, int64_t) {
                     return json(at(o, {"data"}).is_object() ? at(o, {"data"}).size() : 0);
                   }},
            age_col};
  }
  if (kind == "ConfigMap") {
    return {name,
            Column{"Data", "integer", 0,
                   [](const json& o, int64_t) {
                     size_t n = at(o, {"data"}).is_object() ? at(o, {"data"}).size() : 0;
                     n += at(o, {"binaryData"}).is_object() ? at(o, {"binaryData"}).size() : 0;
                     return json(n);
                   }},
            age_col};
  }
  if (kind == "ServiceAccount") {
    return {name,
            Column{"Secrets", "integer", 0,
                   [](const json& o, int64_t) {
                     return json(at(o, {"secrets"}).is_array() ? at(o, {"secrets"}).size() : 0);
                   }},
            age_col};
  }
  if (kind == "Job") {
    return {name,
            s("Status",
              [](const json& j, int64_t) {
                const json& conds = at(j, {"status", "conditions"});
                if (conds.is_array()) {
                  for (const auto& c : conds) {
                    if (at(c, {"status"}) != "True") continue;
                    if (at(c, {"type"}) == "Complete") return std::string("Complete");
                    if (at(c, {"type"}) == "Failed") return std::string("Failed");
                    if (at(c, {"type"}) == "Suspended") return std::string("Suspended");
                  }
                }
                return std::string("Running");
              }),
            s("Completions",
              [](const json& j, int64_t) {
                const json& c = at(j, {"spec", "completions"});
                return fmt::format("{}/{}", num(at(j, {"status", "succeeded"})),
                                   c.is_number() ? c.dump() : "1");
              }),
            s("Duration",
              [](const json& j, int64_t now) {
                auto start = core::parse_rfc3339(str(at(j, {"status", "startTime"}), ""));
                if (!start) return std::string("");
                auto end = core::parse_rfc3339(str(at(j, {"status", "completionTime"}), ""));
                return human_age((end ? *end : now) - *start);
              }),
            age_col};
  }
  if (kind == "CronJob") {
    return {name,
            s("Schedule",
              [](const json& o, int64_t) {
                return str(at(o, {"spec", "schedule"}), "");
              }),
            s("Timezone",
              [](const json& o, int64_t) {
                return str(at(o, {"spec", "timeZone"}));
              }),
            s("Suspend",
              [](const json& o, int64_t) {
                return std::string(at(o, {"spec", "suspend"}) == true ? "True" : "False");
              }),
            Column{"Active", "integer", 0,
                   [](const json& o, int64_t) {
                     return json(at(o, {"status", "active"}).is_array()
                                     ? at(o, {"status", "active"}).size()
                                     : 0);
                   }},
            s("Last Schedule",
              [](const json& o, int64_t now) {
                auto t = core::parse_rfc3339(str(at(o, {"status", "lastScheduleTime"}), ""));
                return t ? human_age(now - *t) : std::string("<none>");
              }),
            age_col};
  }
  if (kind == "Event") {
    return {s("Last Seen",
              [](const json& e, int64_t now) {
                for (const char* f : {"lastTimestamp", "eventTime"}) {
                  auto t = core::parse_rfc3339(str(at(e, {f}), ""));
                  if (t) return human_age(now - *t);
                }
                return age(e, now);
              }),
            s("Type", [](const json& e, int64_t) { return str(at(e, {"type"}), ""); }),
            s("Reason", [](const json& e, int64_t) { return str(at(e, {"reason"}), ""); }),
            s("Object",
              [](const json& e, int64_t) {
                std::string k = str(at(e, {"involvedObject", "kind"}), "");
                for (auto& c : k) c = static_cast<char>(std::tolower(c));
                return k + "/" + str(at(e, {"involvedObject", "name"}), "");
              }),
            s("Message", [](const json& e, int64_t) { return str(at(e, {"message"}), ""); })};
  }
  if (kind == "CustomResourceDefinition") {
    return {name, s("Created At", [](const json& o, int64_t) {
              return str(at(o, {"metadata", "creationTimestamp"}), "");
            })};
  }
  return {name, age_col};
}

}  // namespace

std::string human_age(int64_t s) {
  if (s < -1) return "<invalid>";
  if (s < 0) return "0s";
  if (s < 120) return fmt::format("{}s", s);
  int64_t m = s / 60, h = s / 3600, d = h / 24, y = d / 365;
  if (m < 10) return s % 60 == 0 ? fmt::format("{}m", m) : fmt::format("{}m{}s", m, s % 60);
  if (m < 180) return fmt::format("{}m", m);
  if (h < 8) return m % 60 == 0 ? fmt::format("{}h", h) : fmt::format("{}h{}m", h, m % 60);
  if (h < 48) return fmt::format("{}h", h);
  if (h < 192) return h % 24 == 0 ? fmt::format("{}d", d) : fmt::format("{}d{}h", d, h % 24);
  if (d < 730) return fmt::format("{}d", d);
  if (y < 8) return d % 365 == 0 ? fmt::format("{}y", y) : fmt::format("{}y{}d", y, d % 365);
  return fmt::format("{}y", y);
}

json make_table(const ResourceType& type, const std::vector<json>& objects, const std::string& rv,
                const std::string& cont, int64_t now, bool with_columns) {
  std::vector<Column> cols = type.custom ? custom_columns(type) : columns(type.kind);
  json defs = json::array();
  if (with_columns) {
    for (const auto& c : cols) {
      defs.push_back({{"name", c.name},
                      {"type", c.type},
                      {"format", c.name == "Name" ? "name" : ""},
                      {"description", ""},
                      {"priority", c.priority}});
    }
  }
  json rows = json::array();
  for (const auto& o : objects) {
    json cells = json::array();
    for (const auto& c : cols) cells.push_back(c.cell(o, now));
    rows.push_back({{"cells", cells},
                    {"object",
                     {{"kind", "PartialObjectMetadata"},
                      {"apiVersion", "meta.k8s.io/v1"},
                      {"metadata", o.contains("metadata") ? o["metadata"] : json::object()}}}});
  }
  json meta = {{"resourceVersion", rv}};
  if (!cont.empty()) meta["continue"] = cont;
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", meta},
          {"columnDefinitions", defs},
          {"rows", rows}};
}

}  // namespace k3s::apiserver
