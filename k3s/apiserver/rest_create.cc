#include <algorithm>

#include "core/base/time.h"
#include "core/crypto/x509.h"
#include "k3s/apiserver/admission.h"
#include "k3s/apiserver/crd_schema.h"
#include "k3s/apiserver/defaults.h"
#include "k3s/apiserver/protobuf.h"
#include "k3s/apiserver/rest_call.h"
#include "k3s/apiserver/service_ips.h"

namespace k3s::apiserver::rest_detail {

bool Call::conform_view(json& o) {
  if (r_.sub != "scale") return conform(o, r_.name);
  if (o.value("kind", "Scale") != "Scale" || !o["metadata"].is_object() ||
      o["metadata"].value("name", r_.name) != r_.name) {
    send_error(w_, 400, "BadRequest", "the body must be an autoscaling/v1 Scale of " + r_.name);
    return false;
  }
  const json& replicas = o["spec"].is_object() ? o["spec"].value("replicas", json()) : json();
  if (!replicas.is_number_integer() || replicas.get<int64_t>() < 0) {
    send_error(w_, 422, "Invalid",
               fmt::format("Scale.autoscaling \"{}\" is invalid: spec.replicas: Invalid value: "
                           "{}: must be greater than or equal to 0",
                           r_.name, replicas.dump()));
    return false;
  }
  return true;
}

bool Call::conform(json& o, const std::string& name_in_path) {
  if (o.contains("kind") && o["kind"] != t_.kind) {
    send_error(w_, 400, "BadRequest",
               fmt::format("the object provided is unrecognized (must be of type {}): kind {} "
                           "does not match",
                           t_.kind, o["kind"].dump()));
    return false;
  }
  json& md = o["metadata"];
  if (md.is_null()) md = json::object();
  if (!md.is_object()) {
    send_error(
        w_, 400, "BadRequest",
        fmt::format("the object provided is malformed: metadata of {} must be an object", t_.kind));
    return false;
  }
  if (t_.namespaced) {
    std::string ns = md.value("namespace", r_.ns);
    if (ns != r_.ns) {
      send_error(w_, 400, "BadRequest",
                 "the namespace of the provided object does not match the namespace sent on the "
                 "request");
      return false;
    }
    md["namespace"] = r_.ns;
  } else {
    md.erase("namespace");
  }
  if (!name_in_path.empty()) {
    if (md.value("name", name_in_path) != name_in_path) {
      send_error(w_, 400, "BadRequest",
                 "the name of the object (" + md.value("name", std::string()) +
                     ") does not match the name on the URL (" + name_in_path + ")");
      return false;
    }
    md["name"] = name_in_path;
  }
  o["kind"] = t_.kind;
  o["apiVersion"] = t_.group_version();
  return true;
}

void Call::bind() {
  auto parsed = body();
  if (!parsed) return;
  std::string node = (*parsed).value("target", json::object()).value("name", "");
  if (node.empty()) {
    return send_error(
        w_, 422, "Invalid",
        fmt::format("Binding \"{}\" is invalid: target.name: Required value", r_.name));
  }
  auto old = store_.get(key(r_.name));
  if (!old) return fail_store(old.error());
  if (!*old) return not_found(r_.name);
  json pod = present(t_, **old);
  auto refuse = [&](const std::string& why) {
    send_error(
        w_, 409, "Conflict",
        fmt::format("Operation cannot be fulfilled on pods/binding \"{}\": {}", r_.name, why), &r_,
        r_.name);
  };
  if (pod["metadata"].contains("deletionTimestamp"))
    return refuse(fmt::format("pod {} is being deleted, cannot be assigned to a host", r_.name));
  std::string assigned = pod["spec"].value("nodeName", "");
  if (!assigned.empty())
    return refuse(fmt::format("pod {} is already assigned to node \"{}\"", r_.name, assigned));
  pod["spec"]["nodeName"] = node;
  json& conditions = pod["status"]["conditions"];
  if (!conditions.is_array()) conditions = json::array();
  conditions.erase(
      std::remove_if(conditions.begin(), conditions.end(),
                     [](const json& c) { return c.value("type", "") == "PodScheduled"; }),
      conditions.end());
  conditions.push_back({{"type", "PodScheduled"},
                        {"status", "True"},
                        {"lastProbeTime", nullptr},
                        {"lastTransitionTime", core::format_rfc3339(core::system_now())}});
  auto res = store_.update(key(r_.name), stored(pod), (*old)->mod_revision);
  if (!res) return fail_store(res.error());
  if (!res->succeeded) return conflict(r_.name);
  send_json(w_, 201,
            {{"kind", "Status"},
             {"apiVersion", "v1"},
             {"metadata", json::object()},
             {"status", "Success"},
             {"code", 201}});
}

void Call::create() {
  auto parsed = body();
  if (!parsed) return;
  json o = std::move(*parsed);
  if (!conform(o, "") || !validate_fields(o)) return;
  create_object(std::move(o));
}

void Call::create_object(json o) {
  if (!accept_crd(o, json()) || !check_schema(o)) return;
  track_fields(json(), o);
  json& md = o["metadata"];
  if (!md.contains("name") || md["name"].get<std::string>().empty()) {
    if (md.contains("generateName")) {
      md["name"] = md["generateName"].get<std::string>() + core::random_hex(3).substr(0, 5);
    } else {
      return send_error(w_, 422, "Invalid",
                        fmt::format("{} \"\" is invalid: metadata.name: Required value: name or "
                                    "generateName is required",
                                    t_.kind));
    }
  }
  std::string name = md["name"];
  if (std::string why = name_problem(t_, name); !why.empty()) {
    std::string detail = fmt::format("Invalid value: {}: {}", json(name).dump(), why);
    json status = {
        {"kind", "Status"},
        {"apiVersion", "v1"},
        {"metadata", json::object()},
        {"status", "Failure"},
        {"message",
         fmt::format("{} {} is invalid: metadata.name: {}", t_.kind, json(name).dump(), detail)},
        {"reason", "Invalid"},
        {"details",
         {{"name", name},
          {"kind", t_.kind},
          {"causes",
           {{{"reason", "FieldValueInvalid"}, {"message", detail}, {"field", "metadata.name"}}}}}},
        {"code", 422}};
    if (!t_.group.empty()) status["details"]["group"] = t_.group;
    return send_json(w_, 422, status);
  }
  if (!admit_write(o)) return;
  if (auto denied = admit_create(store_, t_, r_.ns, o)) {
    return send_error(w_, denied->code, denied->reason, denied->message);
  }
  if (is_service()) {
    if (auto why = allocate_service(store_, service_cidr_, o)) {
      return send_error(w_, 422, "Invalid", *why, &r_, name);
    }
  }
  md["uid"] = new_uid();
  md["creationTimestamp"] = core::format_rfc3339(core::system_now());
  if (o.contains("spec")) md["generation"] = 1;
  md.erase("resourceVersion");
  if (t_.kind == "Namespace") {
    // As upstream: a new namespace is Active and held by the namespace controller's finalizer.
    o.erase("status");
    o["spec"]["finalizers"] = {"kubernetes"};
  }
  apply_defaults(t_, o);
  if (dry_run()) {
    o["metadata"]["resourceVersion"] = "";
    return send_json(w_, 201, o);
  }
  // Events expire an hour after they are written (kube-apiserver's --event-ttl).
  int64_t ttl = t_.resource == "events" ? 3600 : 0;
  auto res = store_.create(key(name), stored(o), ttl);
  if (!res) return fail_store(res.error());
  if (!res->succeeded) {
    return send_error(w_, 409, "AlreadyExists", what(name) + " already exists", &r_, name);
  }
  send_json(w_, 201, present(t_, *res->current));
}

bool Call::report_unknown(const std::vector<std::string>& unknown) {
  std::string mode = q_.count("fieldValidation") ? q_["fieldValidation"] : "Warn";
  if (mode != "Strict" && mode != "Warn" && mode != "Ignore") {
    send_error(w_, 400, "BadRequest",
               "Invalid fieldValidation: " + mode + ", valid values are Strict, Warn and Ignore");
    return false;
  }
  if (mode == "Ignore" || unknown.empty()) return true;
  if (mode == "Warn") {
    for (const auto& f : unknown)
      w_.add_header("Warning", "299 - \"unknown field \\\"" + f + "\\\"\"");
    return true;
  }
  std::string list;
  for (const auto& f : unknown)
    list += (list.empty() ? "" : ", ") + ("unknown field \"" + f + "\"");
  send_error(w_, 400, "BadRequest",
             fmt::format("{} in version \"{}\" cannot be handled as a {}: strict decoding "
                         "error: {}",
                         t_.kind, t_.version, t_.kind, list));
  return false;
}

bool Call::validate_fields(const json& o) {
  return report_unknown(t_.custom ? std::vector<std::string>{} : unknown_fields(o, t_.kind));
}

bool Call::check_schema(json& o) {
  if (!t_.custom || !t_.schema) return true;
  SchemaCheck c = check_custom_resource(o, *t_.schema);
  if (!report_unknown(c.pruned)) return false;
  if (c.errors.empty()) return true;
  std::string name = o["metadata"].value("name", "");
  json causes = json::array();
  for (const auto& e : c.errors) {
    // "spec.size: Invalid value: ..." is the field, then the cause's message.
    size_t colon = e.find(": ");
    std::string field = e.substr(0, colon);
    std::string reason = e.find(": Required value") != std::string::npos ? "FieldValueRequired"
                         : e.find(": Unsupported value") != std::string::npos
                             ? "FieldValueNotSupported"
                             : "FieldValueInvalid";
    causes.push_back({{"reason", reason},
                      {"message", colon == std::string::npos ? e : e.substr(colon + 2)},
                      {"field", field}});
  }
  std::string list = c.errors.size() == 1 ? c.errors[0] : "[" + [&] {
    std::string joined;
    for (const auto& e : c.errors) joined += (joined.empty() ? "" : ", ") + e;
    return joined;
  }() + "]";
  json status = {
      {"kind", "Status"},
      {"apiVersion", "v1"},
      {"metadata", json::object()},
      {"status", "Failure"},
      {"message", fmt::format("{}.{} \"{}\" is invalid: {}", t_.kind, t_.group, name, list)},
      {"reason", "Invalid"},
      {"details", {{"name", name}, {"group", t_.group}, {"kind", t_.kind}, {"causes", causes}}},
      {"code", 422}};
  send_json(w_, 422, status);
  return false;
}

bool Call::admit_write(const json& o) {
  if (!r_.admit_write) return true;
  std::string why = r_.admit_write(o);
  if (why.empty()) return true;
  send_error(w_, 403, "Forbidden", why, &r_, o["metadata"].value("name", ""));
  return false;
}

bool Call::is_crd() const {
  return t_.group == "apiextensions.k8s.io" && t_.resource == "customresourcedefinitions";
}

bool Call::accept_crd(json& o, const json& previous_status) {
  if (!is_crd()) return true;
  if (std::string why = crd_problem(o); !why.empty()) {
    send_error(w_, 422, "Invalid", why);
    return false;
  }
  o["status"] = crd_status(o, previous_status, core::format_rfc3339(core::system_now()));
  return true;
}

}  // namespace k3s::apiserver::rest_detail
