#include "k3s/client/reflector.h"

#include <chrono>

#include "core/base/log.h"

namespace k3s::client {
namespace {

using json = nlohmann::json;

std::string key_of(const json& object) {
  const json& m =
      object.value("metadata", json::object()).is_object() ? object["metadata"] : json::object();
  std::string ns = m.value("namespace", "");
  return ns.empty() ? m.value("name", "") : ns + "/" + m.value("name", "");
}

}  // namespace

Reflector::Reflector(Endpoint api, std::string path, std::function<void()> on_change)
    : api_(std::move(api)), path_(std::move(path)), on_change_(std::move(on_change)) {}

void Reflector::start() {
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void Reflector::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

std::map<std::string, json> Reflector::copy() const {
  std::lock_guard lock(mu_);
  return objects_;
}

bool Reflector::list(KubeClient& kube, std::string& rv) {
  auto listed = kube.call("GET", path_);
  if (!listed) {
    core::log::warn("listing {}: {}", path_, listed.error().message());
    return false;
  }
  std::map<std::string, json> objects;
  for (const json& o : listed->value("items", json::array())) objects[key_of(o)] = o;
  {
    std::lock_guard lock(mu_);
    objects_ = std::move(objects);
  }
  rv = listed->value("metadata", json::object()).value("resourceVersion", "");
  synced_ = true;
  on_change_();
  return true;
}

void Reflector::run() {
  KubeClient kube(api_);
  auto pause = [this] {
    for (int i = 0; i < 20 && !stopping_; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  };
  while (!stopping_) {
    std::string rv;
    if (!list(kube, rv)) {
      pause();
      continue;
    }
    bool relist = false;
    while (!stopping_ && !relist) {
      auto watched = kube.watch(
          path_ + "?watch=1&allowWatchBookmarks=true&timeoutSeconds=1&resourceVersion=" + rv,
          [&](const json& event) {
            std::string type = event.value("type", "");
            const json& object = event.value("object", json::object()).is_object() ? event["object"]
                                                                                   : json::object();
            if (type == "ERROR") {  // 410 Gone: the revision was compacted
              relist = true;
              return false;
            }
            rv = object.value("metadata", json::object()).value("resourceVersion", rv);
            if (type == "BOOKMARK") return !stopping_.load();
            {
              std::lock_guard lock(mu_);
              if (type == "DELETED")
                objects_.erase(key_of(object));
              else
                objects_[key_of(object)] = object;
            }
            on_change_();
            return !stopping_.load();
          });
      if (!watched) {
        core::log::warn("watching {}: {}", path_, watched.error().message());
        relist = true;
        pause();
      }
    }
  }
}

}  // namespace k3s::client
