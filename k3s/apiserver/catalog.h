// The resource types the API serves: the built-in ones, then one per served version of every
// CustomResourceDefinition, read from the datastore into a snapshot that is rebuilt after a
// CRD is written (invalidate()). Snapshots are immutable and shared; a request keeps the one it
// started with. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "k3s/apiserver/resources.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver {

class Catalog {
 public:
  explicit Catalog(datastore::Backend& store) : store_(store) {}
  // Never null; when the CRDs cannot be read, the built-in types alone.
  std::shared_ptr<const ResourceTypes> types() const;
  void invalidate() const { generation_.fetch_add(1); }

 private:
  datastore::Backend& store_;
  mutable std::atomic<uint64_t> generation_{1};
  mutable std::mutex mu_;
  mutable uint64_t built_ = 0;
  mutable std::shared_ptr<const ResourceTypes> current_;
};

// Why a CustomResourceDefinition cannot be accepted, in upstream's words ("" when it can).
std::string crd_problem(const nlohmann::json& crd);
// The status the API gives a CRD it accepts: NamesAccepted and Established conditions, the
// accepted names and the stored versions (kept from `previous` when it had them).
nlohmann::json crd_status(const nlohmann::json& crd, const nlohmann::json& previous,
                          const std::string& now);

}  // namespace k3s::apiserver
