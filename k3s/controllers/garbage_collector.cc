// The garbage collector: an object whose owners (metadata.ownerReferences) are all gone is
// deleted; one that keeps a live owner loses its references to the missing ones. Owners deleted
// with propagationPolicy Orphan have their dependents' references removed before their
// `orphan` finalizer; owners deleted in the Foreground have their dependents deleted first and
// lose their `foregroundDeletion` finalizer when no dependent blocking them is left.
//
// The graph (which object owns which) is kept from the informer's changes; queue keys are
// "owner/<uid>" (look after its dependents) and "dependent/<store key>" (check its owners).
#include <algorithm>
#include <map>
#include <set>

#include "k3s/apiserver/deletion.h"
#include "k3s/controllers/manager.h"

namespace k3s::controllers {
namespace {

using json = nlohmann::json;
using apiserver::kForegroundFinalizer;
using apiserver::kOrphanFinalizer;

bool has_finalizer(const json& o, const char* f) {
  const json& list = metadata(o).value("finalizers", json::array());
  return std::find(list.begin(), list.end(), f) != list.end();
}

std::vector<std::string> owner_uids(const json* o) {
  std::vector<std::string> out;
  if (!o) return out;
  for (const auto& ref : metadata(*o).value("ownerReferences", json::array()))
    out.push_back(ref.value("uid", ""));
  return out;
}

class GarbageCollector : public Controller {
 public:
  explicit GarbageCollector(ControllerContext& c)
      : Controller("garbage-collector-controller"), c_(c) {
    c_.informer.on_change("/registry/", [this](const Change& ch) { observe(ch); });
  }

  core::Result<void> sync(const std::string& key) override {
    if (key.starts_with("owner/")) return sync_owner(key.substr(6));
    return sync_dependent(key.substr(10));
  }

 private:
  void observe(const Change& ch) {
    std::string uid = uid_of(ch.after ? *ch.after : *ch.before);
    if (uid.empty()) return;
    std::vector<std::string> before = owner_uids(ch.before.get());
    std::vector<std::string> after = owner_uids(ch.after.get());
    {
      std::lock_guard lock(mu_);
      if (ch.after) {
        keys_[uid] = ch.key;
      } else {
        keys_.erase(uid);
      }
      for (const auto& o : before) dependents_[o].erase(ch.key);
      for (const auto& o : after) dependents_[o].insert(ch.key);
      for (const auto& o : before) {
        if (dependents_[o].empty()) dependents_.erase(o);
      }
    }
    // Owners waiting in the foreground hear of their dependents going.
    for (const auto& o : before) queue().add("owner/" + o);
    if (!after.empty()) queue().add("dependent/" + ch.key);
    if (!ch.after || has_finalizer(*ch.after, kOrphanFinalizer) ||
        has_finalizer(*ch.after, kForegroundFinalizer))
      queue().add("owner/" + uid);
  }

  std::set<std::string> dependents_of(const std::string& uid) {
    std::lock_guard lock(mu_);
    auto it = dependents_.find(uid);
    return it == dependents_.end() ? std::set<std::string>{} : it->second;
  }

  ObjectPtr object_with_uid(const std::string& uid) {
    std::string key;
    {
      std::lock_guard lock(mu_);
      auto it = keys_.find(uid);
      if (it == keys_.end()) return nullptr;
      key = it->second;
    }
    ObjectPtr o = c_.informer.get(key);
    return o && uid_of(*o) == uid ? o : nullptr;
  }

  // The API path of the object stored at `key`, "" for keys of no served type.
  std::string path_of(const std::string& key) {
    auto types = c_.catalog.types();
    for (const auto& t : *types) {
      std::string prefix = t.key_prefix();
      if (!key.starts_with(prefix)) continue;
      std::string rest = key.substr(prefix.size());
      size_t slash = rest.find('/');
      if (t.namespaced != (slash != std::string::npos)) continue;
      return t.namespaced ? object_path(t.group_version(), t.resource, rest.substr(0, slash),
                                        rest.substr(slash + 1))
                          : object_path(t.group_version(), t.resource, "", rest);
    }
    return "";
  }

  core::Result<void> sync_owner(const std::string& uid) {
    ObjectPtr owner = object_with_uid(uid);
    std::set<std::string> deps = dependents_of(uid);
    if (!owner) {
      for (const auto& d : deps) queue().add("dependent/" + d);
      return {};
    }
    if (!being_deleted(*owner)) return {};
    std::string path = path_of(keys_of(uid));
    if (has_finalizer(*owner, kOrphanFinalizer)) {
      for (const auto& d : deps) {
        ObjectPtr dep = c_.informer.get(d);
        if (!dep) continue;
        json refs = json::array();
        for (const auto& ref : metadata(*dep).value("ownerReferences", json::array())) {
          if (ref.value("uid", "") != uid) refs.push_back(ref);
        }
        json patch = {{"metadata",
                       {{"ownerReferences", refs.empty() ? json() : refs},
                        {"resourceVersion", metadata(*dep)["resourceVersion"]}}}};
        K3A_CHECK(unless_missing(c_.api.merge_patch(path_of(d), patch)));
      }
      return remove_finalizer(*owner, path, kOrphanFinalizer);
    }
    if (has_finalizer(*owner, kForegroundFinalizer)) {
      bool blocked = false;
      for (const auto& d : deps) {
        ObjectPtr dep = c_.informer.get(d);
        if (!dep) continue;
        bool blocks = false;
        for (const auto& ref : metadata(*dep).value("ownerReferences", json::array()))
          blocks |= ref.value("uid", "") == uid && ref.value("blockOwnerDeletion", false);
        blocked |= blocks;
        if (!being_deleted(*dep))
          K3A_CHECK(
              unless_missing(c_.api.remove(path_of(d), blocks ? "Foreground" : "Background")));
      }
      if (!blocked) return remove_finalizer(*owner, path, kForegroundFinalizer);
    }
    return {};
  }

  std::string keys_of(const std::string& uid) {
    std::lock_guard lock(mu_);
    auto it = keys_.find(uid);
    return it == keys_.end() ? "" : it->second;
  }

  core::Result<void> remove_finalizer(const json& o, const std::string& path, const char* f) {
    json rest = json::array();
    for (const auto& x : metadata(o).value("finalizers", json::array())) {
      if (x != f) rest.push_back(x);
    }
    json patch = {{"metadata",
                   {{"finalizers", rest.empty() ? json() : rest},
                    {"resourceVersion", metadata(o)["resourceVersion"]}}}};
    return unless_missing(c_.api.merge_patch(path, patch));
  }

  // Deletes a dependent whose owners are all gone (or all being deleted in the foreground), and
  // drops references to missing owners from one that has a live owner left.
  core::Result<void> sync_dependent(const std::string& key) {
    ObjectPtr dep = c_.informer.get(key);
    if (!dep || being_deleted(*dep)) return {};
    const json refs = metadata(*dep).value("ownerReferences", json::array());
    if (refs.empty()) return {};
    json solid = json::array();
    bool waiting = false, blocking = false;
    for (const auto& ref : refs) {
      ObjectPtr owner = object_with_uid(ref.value("uid", ""));
      if (!owner) continue;  // dangling
      if (being_deleted(*owner) && has_finalizer(*owner, kForegroundFinalizer)) {
        waiting = true;
        blocking |= ref.value("blockOwnerDeletion", false);
        continue;
      }
      solid.push_back(ref);
    }
    std::string path = path_of(key);
    if (path.empty()) return {};
    if (!solid.empty()) {
      if (solid.size() == refs.size()) return {};
      json patch = {
          {"metadata",
           {{"ownerReferences", solid}, {"resourceVersion", metadata(*dep)["resourceVersion"]}}}};
      return unless_missing(c_.api.merge_patch(path, patch));
    }
    std::string policy = waiting && blocking                         ? "Foreground"
                         : has_finalizer(*dep, kOrphanFinalizer)     ? "Orphan"
                         : has_finalizer(*dep, kForegroundFinalizer) ? "Foreground"
                                                                     : "Background";
    return unless_missing(c_.api.remove(path, policy));
  }

  ControllerContext& c_;
  std::mutex mu_;
  std::map<std::string, std::string> keys_;                  // uid -> store key
  std::map<std::string, std::set<std::string>> dependents_;  // owner uid -> dependents' keys
};

}  // namespace

std::unique_ptr<Controller> make_garbage_collector(ControllerContext& c) {
  return std::make_unique<GarbageCollector>(c);
}

}  // namespace k3s::controllers
