#include "core/base/time.h"
#include "core/serde/json.h"
#include "k3s/apiserver/apply.h"
#include "k3s/apiserver/defaults.h"
#include "k3s/apiserver/deletion.h"
#include "k3s/apiserver/rest_call.h"
#include "k3s/apiserver/service_ips.h"
#include "k3s/apiserver/strategic_merge.h"

namespace k3s::apiserver::rest_detail {

void Call::write_over(const KeyValue& old, json o, int code) {
  json prev = present(t_, old);
  json& md = o["metadata"];
  for (const char* k : {"uid", "creationTimestamp"}) {
    if (prev["metadata"].contains(k)) md[k] = prev["metadata"][k];
  }
  int64_t gen = prev["metadata"].value("generation", int64_t{0});
  if (gen) md["generation"] = gen;
  if (o.contains("spec") && o["spec"] != prev.value("spec", json())) {
    md["generation"] = gen + 1;
  }
  if (t_.kind == "Namespace" && prev.contains("status") && r_.sub != "status")
    o["status"] = prev["status"];
  if (std::string why = keep_deletion_marks(prev, o); !why.empty()) {
    return send_error(w_, 422, "Invalid",
                      fmt::format("{} \"{}\" is invalid: {}", t_.kind, md.value("name", ""), why));
  }
  if (is_service()) keep_service_allocations(prev, o);
  apply_defaults(t_, o);
  if (!accept_crd(o, prev.value("status", json())) || !check_schema(o) || !admit_write(o)) return;
  track_fields(prev, o);
  json cmp = o;
  cmp["metadata"]["resourceVersion"] = prev["metadata"]["resourceVersion"];
  if (cmp == prev) return send_json(w_, code, view(prev));  // no-op: the version stays
  if (dry_run()) return send_json(w_, code, view(o));
  if (deletion_complete(o)) {
    // The last finalizer is gone: the object goes.
    auto res = store_.remove(old.key, old.mod_revision);
    if (!res) return fail_store(res.error());
    if (!res->succeeded && unconditional_) {
      raced_ = true;
      return;
    }
    if (!res->succeeded) return conflict(md.value("name", ""));
    o["metadata"]["resourceVersion"] = std::to_string(res->revision);
    return send_json(w_, code, view(o));
  }
  auto res = store_.update(old.key, stored(o), old.mod_revision, old.lease);
  if (!res) return fail_store(res.error());
  if (!res->succeeded && unconditional_) {
    raced_ = true;  // retrying() tries again
    return;
  }
  if (!res->succeeded) return conflict(md.value("name", ""));
  send_json(w_, code, view(present(t_, *res->current)));
}

void Call::conflict(const std::string& name) {
  send_error(w_, 409, "Conflict",
             fmt::format("Operation cannot be fulfilled on {} \"{}\": the object has been "
                         "modified; please apply your changes to the latest version and try "
                         "again",
                         t_.qualified(), name),
             &r_, name);
}

void Call::replace() {
  auto parsed = body();
  if (!parsed) return;
  json o = std::move(*parsed);
  if (!conform_view(o) || (r_.sub != "scale" && !validate_fields(o))) return;
  auto old = store_.get(key(r_.name));
  if (!old) return fail_store(old.error());
  if (!*old) return not_found(r_.name);
  std::string want = o["metadata"].value("resourceVersion", "");
  if (!want.empty() && want != std::to_string((*old)->mod_revision)) return conflict(r_.name);
  unconditional_ = want.empty();
  write_over(**old, unview(present(t_, **old), std::move(o)));
}

ApplyRequest Call::updater() {
  std::string manager = q_["fieldManager"];
  if (manager.empty()) {
    std::string agent = req_.header("User-Agent").value_or("unknown");
    manager = agent.substr(0, agent.find('/'));
  }
  return {.kind = t_.custom ? "" : t_.kind,
          .api_version = t_.group_version(),
          .manager = manager,
          .now = core::system_now()};
}

void Call::track_fields(const json& prev, json& o) {
  if (applying_) return;
  json& md = o["metadata"];
  json before = prev.is_object() ? prev["metadata"].value("managedFields", json()) : json();
  if (md.contains("managedFields") && md["managedFields"] != before) return;
  md["managedFields"] = record_update(prev, o, updater());
  if (md["managedFields"].empty()) md.erase("managedFields");
}

void Call::apply() {
  applying_ = true;
  std::string manager = q_["fieldManager"];
  if (manager.empty()) {
    return send_error(w_, 422, "Invalid",
                      "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: "
                      "is required for apply patch");
  }
  auto config = core::parse_yaml(req_.body);
  if (!config || !config->is_object()) {
    return send_error(w_, 400, "BadRequest",
                      "error decoding YAML: " + (config ? std::string("the body is not an object")
                                                        : config.error().message()));
  }
  if (!conform_view(*config) || !validate_fields(*config)) return;
  if ((*config)["metadata"].value("name", r_.name) != r_.name) {
    return send_error(w_, 400, "BadRequest",
                      "the name of the object (" + (*config)["metadata"].value("name", "") +
                          ") does not match the name on the URL (" + r_.name + ")");
  }
  auto old = store_.get(key(r_.name));
  if (!old) return fail_store(old.error());
  ApplyRequest request{.kind = t_.custom ? "" : t_.kind,
                       .api_version = t_.group_version(),
                       .manager = manager,
                       .force = q_["force"] == "true",
                       .now = core::system_now()};
  json live = *old ? present(t_, **old) : json();
  std::vector<ApplyConflict> conflicts;
  auto applied = server_side_apply(live, *config, request, &conflicts);
  if (!applied && applied.error().code() == core::Errc::kConflict) {
    json causes = json::array();
    for (const auto& c : conflicts) {
      causes.push_back(
          {{"reason", "FieldManagerConflict"},
           {"message", fmt::format("conflict with \"{}\" using {}", c.manager, c.api_version)},
           {"field", c.field}});
    }
    json status = {{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", json::object()},
                   {"status", "Failure"},
                   {"message", applied.error().message()},
                   {"reason", "Conflict"},
                   {"details", {{"causes", causes}}},
                   {"code", 409}};
    return send_json(w_, 409, status);
  }
  if (!applied) return send_error(w_, 422, "Invalid", applied.error().message());
  if (!*old) {
    (*applied)["metadata"]["name"] = r_.name;
    return create_object(std::move(*applied));
  }
  std::string want = (*config)["metadata"].value("resourceVersion", "");
  if (!want.empty() && want != std::to_string((*old)->mod_revision)) return conflict(r_.name);
  unconditional_ = want.empty();
  write_over(**old, unview(live, std::move(*applied)));
}

void Call::patch() {
  std::string ct = req_.header("Content-Type").value_or("");
  if (ct.starts_with("application/apply-patch+yaml") && r_.sub != "scale") return apply();
  bool json_patch = ct.starts_with("application/json-patch+json");
  bool strategic = ct.starts_with("application/strategic-merge-patch+json");
  if (strategic && t_.custom) {
    return send_error(w_, 415, "UnsupportedMediaType",
                      "the body of the request was in an unknown format - accepted media types "
                      "include: application/json-patch+json, application/merge-patch+json, "
                      "application/apply-patch+yaml");
  }
  if (!json_patch && !strategic && !ct.starts_with("application/merge-patch+json")) {
    return send_error(w_, 415, "UnsupportedMediaType",
                      "the body of the request was in an unknown format - accepted media "
                      "types include: application/json-patch+json, "
                      "application/merge-patch+json, application/apply-patch+yaml, "
                      "application/strategic-merge-patch+json");
  }
  auto old = store_.get(key(r_.name));
  if (!old) return fail_store(old.error());
  if (!*old) return not_found(r_.name);
  json current = view(present(t_, **old));
  auto doc = core::parse_json(req_.body);
  if (!doc)
    return send_error(w_, 400, "BadRequest", "error decoding patch: " + doc.error().message());
  json patched;
  try {
    if (json_patch) {
      patched = current.patch(*doc);
    } else if (strategic) {
      auto merged = strategic_merge(current, *doc, current.value("kind", t_.kind));
      if (!merged) return send_error(w_, 422, "Invalid", merged.error().message());
      patched = std::move(*merged);
    } else {
      patched = current;
      patched.merge_patch(*doc);
    }
  } catch (const std::exception& e) {
    return send_error(w_, 422, "Invalid",
                      std::string("the patch could not be applied: ") + e.what());
  }
  if (!conform_view(patched) || (r_.sub != "scale" && !validate_fields(patched))) return;
  // Only a resourceVersion the patch itself sets is a precondition.
  std::string want = patched["metadata"].value("resourceVersion", "");
  if (want == current["metadata"].value("resourceVersion", "")) want.clear();
  if (!want.empty() && want != std::to_string((*old)->mod_revision)) return conflict(r_.name);
  unconditional_ = want.empty();
  write_over(**old, unview(present(t_, **old), std::move(patched)));
}

}  // namespace k3s::apiserver::rest_detail
