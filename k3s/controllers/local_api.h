// The API as the in-process controllers call it: requests go straight to ApiServer::handle,
// without HTTP, as the identity system:kube-controller-manager in system:masters, so every
// write passes the same validation, admission and bookkeeping as a client's. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/base/error.h"
#include "k3s/apiserver/apiserver.h"

namespace k3s::controllers {

class LocalApi {
 public:
  explicit LocalApi(const apiserver::ApiServer& api) : api_(api) {}
  // Answers as client::parse_answer does: the JSON body, or the Status message with a code from
  // the HTTP status (kNotFound, kConflict, kAlreadyExists, kInvalid, ...).
  core::Result<nlohmann::json> call(const std::string& method, const std::string& path,
                                    const nlohmann::json* body = nullptr,
                                    const std::string& content_type = "application/json") const;
  core::Result<nlohmann::json> get(const std::string& path) const { return call("GET", path); }
  core::Result<nlohmann::json> create(const std::string& path, const nlohmann::json& o) const {
    return call("POST", path, &o);
  }
  core::Result<nlohmann::json> replace(const std::string& path, const nlohmann::json& o) const {
    return call("PUT", path, &o);
  }
  core::Result<nlohmann::json> merge_patch(const std::string& path,
                                           const nlohmann::json& patch) const {
    return call("PATCH", path, &patch, "application/merge-patch+json");
  }
  // DELETE with a propagation policy ("" for the default) and, for pods, a grace period
  // (-1 for the pod's own).
  core::Result<nlohmann::json> remove(const std::string& path, const std::string& propagation = "",
                                      int64_t grace_seconds = -1) const;

 private:
  const apiserver::ApiServer& api_;
};

// Paths of objects: "/api/v1/namespaces/<ns>/pods/<name>", "/apis/apps/v1/..." ("" ns for
// cluster-scoped types, "" name for the collection).
std::string object_path(const std::string& group_version, const std::string& resource,
                        const std::string& ns, const std::string& name = "");

}  // namespace k3s::controllers
