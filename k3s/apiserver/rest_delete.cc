#include "core/base/time.h"
#include "k3s/apiserver/deletion.h"
#include "k3s/apiserver/rest_call.h"

namespace k3s::apiserver::rest_detail {

std::optional<DeleteOptions> Call::delete_options() {
  auto options = parse_delete_options(q_, req_.method == "DELETE" ? req_.body : "");
  if (!options) {
    send_error(w_, 400, "BadRequest", options.error().message());
    return std::nullopt;
  }
  return *options;
}

core::Result<json> Call::delete_one(const KeyValue& kv, const DeleteOptions& options) {
  json o = present(t_, kv);
  const json& md = o["metadata"];
  std::string name = md.value("name", "");
  auto precondition = [&](const char* what, const std::string& want, const std::string& have) {
    return core::failf(core::Errc::kConflict,
                       "Operation cannot be fulfilled on {} \"{}\": Precondition failed: {} in "
                       "precondition: {}, {} in object meta: {}",
                       t_.qualified(), name, what, want, what, have);
  };
  if (!options.precondition_uid.empty() && md.value("uid", "") != options.precondition_uid)
    return precondition("UID", options.precondition_uid, md.value("uid", ""));
  if (!options.precondition_resource_version.empty() &&
      options.precondition_resource_version != md.value("resourceVersion", ""))
    return precondition("ResourceVersion", options.precondition_resource_version,
                        md.value("resourceVersion", ""));
  DeletePlan plan = plan_delete(t_, std::move(o), options, core::system_now());
  if (dry_run() || (!plan.remove_now && !plan.changed)) return plan.object;
  auto res = plan.remove_now
                 ? store_.remove(kv.key, kv.mod_revision)
                 : store_.update(kv.key, stored(plan.object), kv.mod_revision, kv.lease);
  if (!res) return std::unexpected(res.error());
  if (!res->succeeded) {
    return core::failf(core::Errc::kConflict,
                       "Operation cannot be fulfilled on {} \"{}\": the object has been "
                       "modified; please apply your changes to the latest version and try again",
                       t_.qualified(), name);
  }
  plan.object["metadata"]["resourceVersion"] = std::to_string(res->revision);
  return plan.object;
}

void Call::remove() {
  auto options = delete_options();
  if (!options) return;
  bool preconditions =
      !options->precondition_uid.empty() || !options->precondition_resource_version.empty();
  core::Result<json> deleted;
  for (int attempt = 0; attempt < 10; ++attempt) {
    auto old = store_.get(key(r_.name));
    if (!old) return fail_store(old.error());
    if (!*old) return not_found(r_.name);
    deleted = delete_one(**old, *options);
    // Without preconditions, a concurrent write only means reading the object again.
    if (deleted || deleted.error().code() != core::Errc::kConflict || preconditions) break;
  }
  if (!deleted && deleted.error().code() == core::Errc::kConflict)
    return send_error(w_, 409, "Conflict", deleted.error().message(), &r_, r_.name);
  if (!deleted) return fail_store(deleted.error());
  json& answer = *deleted;
  if (is_crd() && !dry_run()) {
    // Custom resources go with their definition.
    std::string prefix = "/registry/" + answer["spec"].value("group", "") + "/" +
                         answer["spec"]["names"].value("plural", "") + "/";
    auto all = store_.list(datastore::Range::prefix(prefix), {});
    if (!all) return fail_store(all.error());
    for (const auto& kv : all->kvs) (void)store_.remove(kv.key, kv.mod_revision);
  }
  send_json(w_, 200, answer);
}

void Call::delete_collection() {
  std::string prefix =
      t_.namespaced && !r_.ns.empty() ? t_.key_prefix() + r_.ns + "/" : t_.key_prefix();
  auto all = store_.list(datastore::Range::prefix(prefix), {});
  if (!all) return fail_store(all.error());
  std::vector<Requirement> labels;
  if (q_.count("labelSelector"))
    labels = parse_label_selector(q_["labelSelector"]).value_or(labels);
  auto options = delete_options();
  if (!options) return;
  json items = json::array();
  for (const auto& kv : all->kvs) {
    if (!labels_match(present(t_, kv), labels)) continue;
    // An object changed meanwhile is left for the next delete, as upstream's is.
    if (auto deleted = delete_one(kv, *options)) items.push_back(std::move(*deleted));
  }
  send_json(
      w_, 200,
      {{"kind", t_.kind + "List"},
       {"apiVersion", t_.group_version()},
       {"metadata", {{"resourceVersion", std::to_string(store_.current_revision().value_or(0))}}},
       {"items", items}});
}

}  // namespace k3s::apiserver::rest_detail
