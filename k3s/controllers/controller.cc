#include "k3s/controllers/controller.h"

#include "core/base/log.h"
#include "core/base/time.h"
#include "core/crypto/x509.h"

namespace k3s::controllers {

using json = nlohmann::json;

const json& metadata(const json& o) {
  static const json kEmpty = json::object();
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : kEmpty;
}
std::string name_of(const json& o) { return metadata(o).value("name", ""); }
std::string namespace_of(const json& o) { return metadata(o).value("namespace", ""); }
std::string uid_of(const json& o) { return metadata(o).value("uid", ""); }
bool being_deleted(const json& o) { return metadata(o).contains("deletionTimestamp"); }

std::string queue_key(const json& o) {
  std::string ns = namespace_of(o);
  return ns.empty() ? name_of(o) : ns + "/" + name_of(o);
}

json controller_ref(const json& owner) {
  return {{"apiVersion", owner.value("apiVersion", "")},
          {"kind", owner.value("kind", "")},
          {"name", name_of(owner)},
          {"uid", uid_of(owner)},
          {"controller", true},
          {"blockOwnerDeletion", true}};
}

std::string controller_uid(const json& o) {
  for (const auto& ref : metadata(o).value("ownerReferences", json::array())) {
    if (ref.value("controller", false)) return ref.value("uid", "");
  }
  return "";
}

void Controller::enqueue_controller(const json& o, const std::string& kind) {
  for (const auto& ref : metadata(o).value("ownerReferences", json::array())) {
    if (ref.value("kind", "") == kind && ref.value("controller", false))
      queue_.add(namespace_of(o) + "/" + ref.value("name", ""));
  }
}

core::Result<void> unless(core::Result<json> r, core::Errc tolerated) {
  if (r || r.error().code() == tolerated) return {};
  return std::unexpected(r.error());
}

core::Result<void> write_status(const LocalApi& api, const std::string& path, const json& object,
                                const json& status) {
  if (object.value("status", json()) == status) return {};
  json body = object;
  body["status"] = status;
  return unless_missing(api.replace(path + "/status", body));
}

void Expectations::expect_create(const std::string& key, const std::string& pod) {
  std::lock_guard lock(mu_);
  Pending& p = pending_[key];
  if (p.creating.empty() && p.deleting.empty()) p.since = std::chrono::steady_clock::now();
  p.creating.insert(pod);
}

void Expectations::expect_delete(const std::string& key, const std::string& pod) {
  std::lock_guard lock(mu_);
  Pending& p = pending_[key];
  if (p.creating.empty() && p.deleting.empty()) p.since = std::chrono::steady_clock::now();
  p.deleting.insert(pod);
}

bool Expectations::settled(const std::string& key, const std::vector<ObjectPtr>& owned) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(key);
  if (it == pending_.end()) return true;
  std::set<std::string> seen, live;
  for (const auto& p : owned) {
    seen.insert(name_of(*p));
    if (!being_deleted(*p)) live.insert(name_of(*p));
  }
  std::erase_if(it->second.creating, [&](const std::string& n) { return seen.count(n) > 0; });
  std::erase_if(it->second.deleting, [&](const std::string& n) { return live.count(n) == 0; });
  bool done = (it->second.creating.empty() && it->second.deleting.empty()) ||
              std::chrono::steady_clock::now() - it->second.since > std::chrono::minutes(5);
  if (done) pending_.erase(it);
  return done;
}

void Expectations::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  pending_.erase(key);
}

void EventRecorder::record(const std::string& component, const json& object,
                           const std::string& type, const std::string& reason,
                           const std::string& message) {
  std::string ns = namespace_of(object).empty() ? "default" : namespace_of(object);
  std::string now = core::format_rfc3339(core::system_now());
  std::string id = uid_of(object) + "\n" + reason + "\n" + message;
  std::string path = object_path("v1", "events", ns);
  std::lock_guard lock(mu_);
  auto it = seen_.find(id);
  if (it != seen_.end()) {
    json patch = {{"count", ++it->second.count}, {"lastTimestamp", now}};
    if (api_.merge_patch(path + "/" + it->second.name, patch)) return;
    seen_.erase(it);  // expired or deleted: write a new one
  }
  if (seen_.size() > 4096) seen_.clear();
  json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name_of(object) + "." + core::random_hex(8)}, {"namespace", ns}}},
      {"involvedObject",
       {{"apiVersion", object.value("apiVersion", "")},
        {"kind", object.value("kind", "")},
        {"name", name_of(object)},
        {"uid", uid_of(object)},
        {"resourceVersion", metadata(object).value("resourceVersion", "")}}},
      {"reason", reason},
      {"message", message},
      {"type", type},
      {"source", {{"component", component}}},
      {"reportingComponent", component},
      {"reportingInstance", ""},
      {"count", 1},
      {"firstTimestamp", now},
      {"lastTimestamp", now}};
  if (!namespace_of(object).empty()) event["involvedObject"]["namespace"] = ns;
  auto created = api_.create(path, event);
  if (!created) {
    core::log::warn("event {} for {} not recorded: {}", reason, name_of(object),
                    created.error().message());
    return;
  }
  seen_[id] = {name_of(*created), 1};
}

}  // namespace k3s::controllers
