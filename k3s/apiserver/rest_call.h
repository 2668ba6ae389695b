// One request on a resource of the generic REST handlers (rest.h): Rest::serve makes a Call and
// runs it. Its verbs live one group per file: rest.cc dispatches (and reads bodies),
// rest_read.cc gets, lists and watches, rest_create.cc creates (with the checks every write
// passes: conformance, field validation, CRD schemas, admission), rest_update.cc updates,
// patches and applies, rest_delete.cc deletes. Internal to k3s/apiserver; a Call lives on its
// request's thread and answers through the request's ResponseWriter.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/http/server.h"
#include "k3s/apiserver/apply.h"
#include "k3s/apiserver/deletion.h"
#include "k3s/apiserver/rest.h"
#include "k3s/apiserver/rest_helpers.h"
#include "k3s/apiserver/watch.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver::rest_detail {

using json = nlohmann::json;
using core::http::ResponseWriter;
using core::http::ServerRequest;
using datastore::KeyValue;

class Call {
 public:
  Call(datastore::Backend& store, const Catalog& catalog, const std::string& service_cidr,
       std::shared_ptr<WatchRegistry> watches, const ServerRequest& req, const ResourceRequest& r,
       ResponseWriter& w)
      : store_(store),
        catalog_(catalog),
        service_cidr_(service_cidr),
        watches_(std::move(watches)),
        req_(req),
        r_(r),
        t_(*r.type),
        w_(w),
        q_(query_params(req.query)) {}

  void run();

 private:
  // Shared by the verbs (rest.cc).
  std::string key(const std::string& name) const { return t_.key(r_.ns, name); }
  // A write that named no resourceVersion is not refused because another writer came first:
  // it is read, applied and written again, as upstream's GuaranteedUpdate does.
  void retrying(void (Call::*handler)());
  // The object as this request's subresource shows it: the Scale for /scale.
  json view(const json& object) const;
  // The object to store when `changed` (as view() showed it) is written over `prev`: /status
  // changes only the status, /scale only spec.replicas, and the main resource of a kind with a
  // status subresource everything but the status. The resourceVersion sent is kept for the
  // precondition.
  json unview(const json& prev, json changed) const;
  std::string what(const std::string& name) const;
  void fail_store(const core::Error& e);
  void not_found(const std::string& name);
  bool dry_run() const { return q_.count("dryRun") && q_.at("dryRun") == "All"; }
  std::optional<json> body();

  // Reads (rest_read.cc).
  void list();
  // A watch: synthetic ADDED events for what exists when no resourceVersion (or 0) is given
  // or sendInitialEvents=true, then every change after it; an ERROR event with 410 Expired when
  // it is too old. BOOKMARKs with allowWatchBookmarks=true; the stream ends after
  // timeoutSeconds, else after upstream's randomised 30 to 60 minutes.
  void watch();
  void get();

  // Creates, and the checks every write passes (rest_create.cc).
  // conform() for the object or, for /scale, the Scale: its name must be the one in the path
  // and spec.replicas a non-negative integer.
  bool conform_view(json& o);
  // Checks kind/apiVersion/namespace of a body against the request and fills what is implied.
  bool conform(json& o, const std::string& name_in_path);
  // POST pods/<name>/binding: the scheduler's assignment of a pod to a node.
  void bind();
  void create();
  // Stores a new object that conform() accepted.
  void create_object(json o);

  // Updates, patches and server-side apply (rest_update.cc).
  // Writes `o` over the stored `old` (compare-and-swap on its revision).
  void write_over(const KeyValue& old, json o, int code = 200);
  void conflict(const std::string& name);
  void replace();
  // fieldValidation: Strict refuses fields upstream's schema lacks (400, upstream's message);
  // Warn (the default) and Ignore accept them, Warn with a Warning header per field.
  bool report_unknown(const std::vector<std::string>& unknown);
  // Built-in kinds against the protobuf schema; custom resources are checked against their
  // CRD's schema as they are written (check_schema).
  bool validate_fields(const json& o);
  // A custom resource defaulted, pruned and validated against its CRD's schema.
  bool check_schema(json& o);
  bool admit_write(const json& o);
  bool is_service() const { return t_.group.empty() && t_.resource == "services"; }
  bool is_crd() const;
  // A CRD is checked and gets its status (names accepted, established) as it is written.
  bool accept_crd(json& o, const json& previous_status);
  // Who an ordinary write is recorded under in managedFields: fieldManager, else the client's
  // User-Agent up to its first '/', as upstream names it.
  ApplyRequest updater();
  // managedFields of `o` after an ordinary write over `prev` (null for a create), unless the
  // client edited managedFields itself (kubectl's migration after client-side apply does).
  void track_fields(const json& prev, json& o);
  // Server-side apply: creates a missing object, merges into an existing one, 409 on
  // conflicts with other managers unless force=true.
  void apply();
  void patch();

  // Deletes (rest_delete.cc).
  std::optional<DeleteOptions> delete_options();
  // Deletes one stored object as `options` say: at once, or marked for its finalizers (and a
  // running pod's grace period). Returns the object to answer with; kConflict when a
  // precondition failed or the object changed meanwhile, else the store's error.
  core::Result<json> delete_one(const KeyValue& kv, const DeleteOptions& options);
  void remove();
  void delete_collection();

  datastore::Backend& store_;
  const Catalog& catalog_;
  const std::string& service_cidr_;
  std::shared_ptr<WatchRegistry> watches_;
  const ServerRequest& req_;
  const ResourceRequest& r_;
  const ResourceType& t_;
  ResponseWriter& w_;
  std::map<std::string, std::string> q_;
  bool applying_ = false;       // managedFields come from server_side_apply()
  bool unconditional_ = false;  // the write named no resourceVersion
  bool raced_ = false;          // ... and another writer came first: try again
};

}  // namespace k3s::apiserver::rest_detail
