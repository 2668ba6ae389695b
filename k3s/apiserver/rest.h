// Generic REST for the built-in resources over the datastore: list (limit/continue, label and
// field selectors, Tables), get, create, replace, delete, deletecollection, JSON and merge
// patches; metadata defaults (uid, creationTimestamp, generation, resourceVersion from the
// store's revision) and upstream's Status errors. Objects are stored as JSON. Thread-safe as
// the backend is.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/http/server.h"
#include "k3s/apiserver/catalog.h"
#include "k3s/apiserver/resources.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver {

struct ResourceRequest {
  std::shared_ptr<const ResourceTypes> types;  // keeps `type` alive
  const ResourceType* type = nullptr;
  std::string ns;    // "" for cluster-scoped types or all-namespace lists
  std::string name;  // "" for collection requests
  std::string sub;   // subresource, e.g. "status"
  // Asked before an object is stored: why it may not be ("" when it may). RBAC's escalation
  // check sets it for Roles and bindings.
  std::function<std::string(const nlohmann::json&)> admit_write;
};

// The watches being served; each holds its datastore subscription until its client leaves.
class WatchRegistry;

class Rest {
 public:
  // Watches that allow bookmarks get one every bookmark_interval (upstream: about a minute).
  Rest(datastore::Backend& store, const Catalog& catalog, std::string service_cidr,
       std::chrono::milliseconds bookmark_interval = std::chrono::seconds(60));
  ~Rest();
  void serve(const core::http::ServerRequest& req, const ResourceRequest& r,
             core::http::ResponseWriter& w) const;
  // Creates the objects every cluster starts with (namespaces default, kube-system,
  // kube-public, kube-node-lease; the `kubernetes` Service) when they are missing.
  core::Result<void> seed(const std::string& service_ip, int https_port) const;

 private:
  core::Result<void> create_missing(const std::string& key, const nlohmann::json& object) const;
  datastore::Backend& store_;
  const Catalog& catalog_;
  const std::string service_cidr_;
  std::shared_ptr<WatchRegistry> watches_;
};

// Parses "/api/v1/..." and "/apis/<g>/<v>/..." into a resource request; nullopt when the path
// names no known resource.
std::optional<ResourceRequest> parse_resource_path(const std::string& path,
                                                   std::shared_ptr<const ResourceTypes> types);

}  // namespace k3s::apiserver
