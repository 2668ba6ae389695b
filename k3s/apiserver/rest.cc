#include "k3s/apiserver/rest.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/crypto/base64.h"
#include "core/crypto/x509.h"
#include "core/serde/json.h"
#include "k3s/apiserver/admission.h"
#include "k3s/apiserver/apiserver.h"
#include "k3s/apiserver/apply.h"
#include "k3s/apiserver/crd_schema.h"
#include "k3s/apiserver/defaults.h"
#include "k3s/apiserver/deletion.h"
#include "k3s/apiserver/protobuf.h"
#include "k3s/apiserver/rest_helpers.h"
#include "k3s/apiserver/scale.h"
#include "k3s/apiserver/service_ips.h"
#include "k3s/apiserver/strategic_merge.h"
#include "k3s/apiserver/tables.h"
#include "k3s/apiserver/watch.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;
using core::http::ResponseWriter;
using core::http::ServerRequest;
using datastore::KeyValue;
using namespace rest_detail;

// --- the handlers ----------------------------------------------------------------------------

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

  void run() {
    const std::string& m = req_.method;
    if (!r_.sub.empty()) {
      bool served = (r_.sub == "status" || r_.sub == "scale" || r_.sub == "finalize" ||
                     r_.sub == "binding") &&
                    std::find(t_.subresources.begin(), t_.subresources.end(), r_.sub) !=
                        t_.subresources.end();
      if (!served || r_.name.empty())
        return send_error(w_, 404, "NotFound", "the server could not find the requested resource");
      if (r_.sub == "binding") {
        if (m == "POST") return bind();
      } else {
        if (m == "GET") return get();
        if (m == "PUT") return retrying(&Call::replace);
        if (m == "PATCH") return retrying(&Call::patch);
      }
      return send_error(w_, 405, "MethodNotAllowed",
                        "the server does not allow this method on the requested resource");
    }
    bool watching = q_.count("watch") && (q_["watch"] == "true" || q_["watch"] == "1");
    if (m == "GET" && watching) return watch();
    if (r_.name.empty()) {
      if (m == "GET") return list();
      if (m == "POST") return create();
      if (m == "DELETE") return delete_collection();
    } else {
      if (m == "GET") return get();
      if (m == "PUT") return retrying(&Call::replace);
      if (m == "DELETE") return remove();
      if (m == "PATCH") return retrying(&Call::patch);
    }
    send_error(w_, 405, "MethodNotAllowed",
               fmt::format("the server does not allow this method on the requested resource"));
  }

 private:
  std::string key(const std::string& name) const { return t_.key(r_.ns, name); }

  // A write that named no resourceVersion is not refused because another writer came first:
  // it is read, applied and written again, as upstream's GuaranteedUpdate does.
  void retrying(void (Call::*handler)()) {
    for (int attempt = 0; attempt < 10; ++attempt) {
      raced_ = false;
      (this->*handler)();
      if (!raced_) return;
    }
    conflict(r_.name);
  }

  // The object as this request's subresource shows it: the Scale for /scale.
  json view(const json& object) const { return r_.sub == "scale" ? to_scale(t_, object) : object; }

  // The object to store when `changed` (as view() showed it) is written over `prev`: /status
  // changes only the status, /scale only spec.replicas, and the main resource of a kind with a
  // status subresource everything but the status. The resourceVersion sent is kept for the
  // precondition.
  json unview(const json& prev, json changed) const {
    bool has_status = std::find(t_.subresources.begin(), t_.subresources.end(), "status") !=
                      t_.subresources.end();
    json out = prev;
    if (r_.sub == "status") {
      out["status"] = changed.value("status", json::object());
    } else if (r_.sub == "finalize") {
      out["spec"]["finalizers"] = changed.value("spec", json::object()).value("finalizers", json());
      if (out["spec"]["finalizers"].is_null()) out["spec"].erase("finalizers");
    } else if (r_.sub == "scale") {
      out = from_scale(t_, std::move(out), changed["spec"].value("replicas", int64_t{0}));
    } else {
      out = std::move(changed);
      if (has_status && prev.contains("status")) out["status"] = prev["status"];
      if (has_status && !prev.contains("status")) out.erase("status");
      return out;
    }
    out["metadata"]["resourceVersion"] =
        changed.contains("metadata") ? changed["metadata"].value("resourceVersion", json("")) : "";
    return out;
  }
  std::string what(const std::string& name) const {
    return fmt::format("{} \"{}\"", t_.qualified(), name);
  }
  void fail_store(const core::Error& e) {
    if (e.code() == core::Errc::kExpired) return send_error(w_, 410, "Expired", e.message());
    send_error(w_, 500, "InternalError", "Internal error occurred: " + e.message());
  }
  void not_found(const std::string& name) {
    send_error(w_, 404, "NotFound", what(name) + " not found", &r_, name);
  }
  bool dry_run() const { return q_.count("dryRun") && q_.at("dryRun") == "All"; }

  std::optional<json> body() {
    auto ct = req_.header("Content-Type").value_or("application/json");
    if (ct.find("protobuf") != std::string::npos) {
      auto decoded = decode_protobuf_object(req_.body);
      if (decoded) return *decoded;
      if (decoded.error().code() == core::Errc::kUnsupported) {
        send_error(w_, 415, "UnsupportedMediaType", decoded.error().message());
      } else {
        send_error(w_, 400, "BadRequest", decoded.error().message());
      }
      return std::nullopt;
    }
    auto parsed = ct.find("yaml") != std::string::npos ? core::parse_yaml(req_.body)
                                                       : core::parse_json(req_.body);
    if (!parsed || !parsed->is_object()) {
      send_error(w_, 400, "BadRequest",
                 "the object provided is unrecognized (must be of type " + t_.kind +
                     "): " + (parsed ? std::string("not an object") : parsed.error().message()));
      return std::nullopt;
    }
    return *parsed;
  }

  void list() {
    std::vector<Requirement> labels;
    if (q_.count("labelSelector")) {
      auto parsed = parse_label_selector(q_["labelSelector"]);
      if (!parsed)
        return send_error(w_, 400, "BadRequest",
                          "unable to parse requirement: " + q_["labelSelector"]);
      labels = *parsed;
    }
    std::string prefix =
        t_.namespaced && !r_.ns.empty() ? t_.key_prefix() + r_.ns + "/" : t_.key_prefix();
    datastore::Range range = datastore::Range::prefix(prefix);
    datastore::ListOptions opts{.count = false};
    if (q_.count("limit"))
      opts.limit = static_cast<int64_t>(core::parse_u64(q_["limit"]).value_or(0));
    if (q_.count("continue") && !q_["continue"].empty()) {
      auto decoded = core::base64_decode(q_["continue"]);
      auto token = decoded ? core::parse_json(*decoded) : core::Result<json>(json());
      if (!token || !token->is_object()) {
        return send_error(w_, 400, "BadRequest", "continue key is not valid");
      }
      opts.revision = token->value("rv", int64_t{0});
      range.start = token->value("start", std::string()) + '\0';
    }
    auto res = store_.list(range, opts);
    if (!res) {
      if (res.error().code() == core::Errc::kExpired) {
        return send_error(w_, 410, "Expired",
                          "The provided continue parameter is too old to display a consistent list "
                          "result. You can start a new list without the continue parameter.");
      }
      return fail_store(res.error());
    }
    std::vector<json> items;
    for (const auto& kv : res->kvs) {
      json o = present(t_, kv);
      if (!labels_match(o, labels)) continue;
      if (q_.count("fieldSelector") && !fields_match(o, q_["fieldSelector"])) continue;
      items.push_back(std::move(o));
    }
    std::string cont;
    if (res->more && !res->kvs.empty()) {
      cont = core::base64_encode(
          core::dump_json({{"rv", res->revision}, {"start", res->kvs.back().key}}));
    }
    std::string rv = std::to_string(res->revision);
    if (wants_table(req_))
      return send_json(w_, 200, make_table(t_, items, rv, cont, core::system_now()));
    json meta = {{"resourceVersion", rv}};
    if (!cont.empty()) meta["continue"] = cont;
    // As upstream: how many remain after this page, when no selector makes that unknowable.
    if (!cont.empty() && labels.empty() && !q_.count("fieldSelector")) {
      datastore::Range rest{res->kvs.back().key + '\0', range.end};
      auto left = store_.list(rest, {.revision = res->revision, .count_only = true});
      if (!left) return fail_store(left.error());
      meta["remainingItemCount"] = left->count;
    }
    send_json(w_, 200,
              {{"kind", t_.kind + "List"},
               {"apiVersion", t_.group_version()},
               {"metadata", meta},
               {"items", items}});
  }

  // A watch: synthetic ADDED events for what exists when no resourceVersion (or 0) is given
  // or sendInitialEvents=true, then every change after it; an ERROR event with 410 Expired when
  // it is too old. BOOKMARKs with allowWatchBookmarks=true; the stream ends after
  // timeoutSeconds, else after upstream's randomised 30 to 60 minutes.
  void watch() {
    std::vector<Requirement> labels;
    if (q_.count("labelSelector"))
      labels = parse_label_selector(q_["labelSelector"]).value_or(labels);
    std::string fields = q_.count("fieldSelector") ? q_["fieldSelector"] : "";
    if (!r_.name.empty())
      fields += std::string(fields.empty() ? "" : ",") + "metadata.name=" + r_.name;
    std::string prefix =
        t_.namespaced && !r_.ns.empty() ? t_.key_prefix() + r_.ns + "/" : t_.key_prefix();
    datastore::Range range = datastore::Range::prefix(prefix);
    std::string rv = q_.count("resourceVersion") ? q_["resourceVersion"] : "";
    bool bookmarks = q_["allowWatchBookmarks"] == "true";
    bool initial_events = q_["sendInitialEvents"] == "true";
    if (initial_events && (!bookmarks || q_["resourceVersionMatch"] != "NotOlderThan")) {
      return send_error(w_, 422, "Invalid",
                        "sendInitialEvents requires allowWatchBookmarks=true and "
                        "resourceVersionMatch=NotOlderThan");
    }
    auto deadline = WatchStream::Clock::now() + std::chrono::seconds(1800 + std::rand() % 1800);
    if (q_.count("timeoutSeconds")) {
      auto t = core::parse_u64(q_["timeoutSeconds"]);
      if (!t)
        return send_error(w_, 400, "BadRequest", "invalid timeoutSeconds " + q_["timeoutSeconds"]);
      deadline = WatchStream::Clock::now() + std::chrono::seconds(*t);
    }
    bool table_mode = wants_table(req_);
    const ResourceType* type = &t_;
    auto encode = [type, labels, fields, table_mode](const char* kind, const json& o) {
      if (!labels_match(o, labels) || (!fields.empty() && !fields_match(o, fields)))
        return std::string();
      json obj = table_mode ? make_table(*type, {o}, o["metadata"]["resourceVersion"], "",
                                         core::system_now())
                            : o;
      return core::dump_json({{"type", kind}, {"object", obj}}) + "\n";
    };
    std::string initial;
    int64_t after = 0;
    if (rv.empty() || rv == "0" || initial_events) {
      auto now = store_.list(range, {});
      if (!now) return fail_store(now.error());
      for (const auto& kv : now->kvs) initial += encode("ADDED", present(t_, kv));
      after = now->revision;
    } else {
      auto n = core::parse_u64(rv);
      if (!n) return send_error(w_, 400, "BadRequest", "invalid resourceVersion " + rv);
      after = static_cast<int64_t>(*n);
    }
    w_.add_header("Content-Type", "application/json");
    w_.add_header("Cache-Control", "no-cache, private");
    auto store = &store_;
    auto watches = watches_;
    auto types = r_.types;  // `type` lives in this catalog snapshot: kept while the watch runs
    std::string api_version = t_.group_version(), kind = t_.kind;
    w_.stream([=](std::shared_ptr<core::http::ResponseStream> out) {
      auto stream =
          std::make_shared<WatchStream>(out, api_version, kind, after, bookmarks, deadline);
      stream->send(initial, after);
      if (initial_events) stream->bookmark(true);
      auto sink = [stream, types, type, encode](std::vector<datastore::Event> events) {
        std::string batch;
        for (const auto& e : events) {
          const char* kind = e.type == datastore::Event::Type::kDelete ? "DELETED"
                             : e.created                               ? "ADDED"
                                                                       : "MODIFIED";
          batch += encode(kind, present(*type, e.kv));
        }
        stream->send(std::move(batch), events.empty() ? 0 : events.back().kv.mod_revision);
      };
      auto sub = store->watch(range, after, sink);
      if (!sub) {
        int64_t current = store->current_revision().value_or(0);
        json status = {
            {"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", json::object()},
            {"status", "Failure"},
            {"message", fmt::format("too old resource version: {} ({})", after, current)},
            {"reason", "Expired"},
            {"code", 410}};
        out->write(core::dump_json({{"type", "ERROR"}, {"object", status}}) + "\n");
        return out->close();
      }
      uint64_t id = watches->add(stream, std::move(*sub));
      out->on_close([watches, id] { watches->remove(id); });
      if (out->closed()) watches->remove(id);
    });
  }

  void get() {
    auto kv = store_.get(key(r_.name));
    if (!kv) return fail_store(kv.error());
    if (!*kv) return not_found(r_.name);
    json o = view(present(t_, **kv));
    if (wants_table(req_) && r_.sub.empty()) {
      return send_json(
          w_, 200, make_table(t_, {o}, o["metadata"]["resourceVersion"], "", core::system_now()));
    }
    send_json(w_, 200, o);
  }

  // conform() for the object or, for /scale, the Scale: its name must be the one in the path
  // and spec.replicas a non-negative integer.
  bool conform_view(json& o) {
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

  // Checks kind/apiVersion/namespace of a body against the request and fills what is implied.
  bool conform(json& o, const std::string& name_in_path) {
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
      send_error(w_, 400, "BadRequest",
                 fmt::format("the object provided is malformed: metadata of {} must be an object",
                             t_.kind));
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

  // POST pods/<name>/binding: the scheduler's assignment of a pod to a node.
  void bind() {
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
          fmt::format("Operation cannot be fulfilled on pods/binding \"{}\": {}", r_.name, why),
          &r_, r_.name);
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

  void create() {
    auto parsed = body();
    if (!parsed) return;
    json o = std::move(*parsed);
    if (!conform(o, "") || !validate_fields(o)) return;
    create_object(std::move(o));
  }

  // Stores a new object that conform() accepted.
  void create_object(json o) {
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
      json status = {{"kind", "Status"},
                     {"apiVersion", "v1"},
                     {"metadata", json::object()},
                     {"status", "Failure"},
                     {"message", fmt::format("{} {} is invalid: metadata.name: {}", t_.kind,
                                             json(name).dump(), detail)},
                     {"reason", "Invalid"},
                     {"details",
                      {{"name", name},
                       {"kind", t_.kind},
                       {"causes",
                        {{{"reason", "FieldValueInvalid"},
                          {"message", detail},
                          {"field", "metadata.name"}}}}}},
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

  // Writes `o` over the stored `old` (compare-and-swap on its revision).
  void write_over(const KeyValue& old, json o, int code = 200) {
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
      return send_error(
          w_, 422, "Invalid",
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

  void conflict(const std::string& name) {
    send_error(w_, 409, "Conflict",
               fmt::format("Operation cannot be fulfilled on {} \"{}\": the object has been "
                           "modified; please apply your changes to the latest version and try "
                           "again",
                           t_.qualified(), name),
               &r_, name);
  }

  void replace() {
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

  // fieldValidation: Strict refuses fields upstream's schema lacks (400, upstream's message);
  // Warn (the default) and Ignore accept them, Warn with a Warning header per field.
  bool report_unknown(const std::vector<std::string>& unknown) {
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

  // Built-in kinds against the protobuf schema; custom resources are checked against their
  // CRD's schema as they are written (check_schema).
  bool validate_fields(const json& o) {
    return report_unknown(t_.custom ? std::vector<std::string>{} : unknown_fields(o, t_.kind));
  }

  // A custom resource defaulted, pruned and validated against its CRD's schema.
  bool check_schema(json& o) {
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

  bool admit_write(const json& o) {
    if (!r_.admit_write) return true;
    std::string why = r_.admit_write(o);
    if (why.empty()) return true;
    send_error(w_, 403, "Forbidden", why, &r_, o["metadata"].value("name", ""));
    return false;
  }

  bool is_service() const { return t_.group.empty() && t_.resource == "services"; }

  bool is_crd() const {
    return t_.group == "apiextensions.k8s.io" && t_.resource == "customresourcedefinitions";
  }

  // A CRD is checked and gets its status (names accepted, established) as it is written.
  bool accept_crd(json& o, const json& previous_status) {
    if (!is_crd()) return true;
    if (std::string why = crd_problem(o); !why.empty()) {
      send_error(w_, 422, "Invalid", why);
      return false;
    }
    o["status"] = crd_status(o, previous_status, core::format_rfc3339(core::system_now()));
    return true;
  }

  // Who an ordinary write is recorded under in managedFields: fieldManager, else the client's
  // User-Agent up to its first '/', as upstream names it.
  ApplyRequest updater() {
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

  // managedFields of `o` after an ordinary write over `prev` (null for a create), unless the
  // client edited managedFields itself (kubectl's migration after client-side apply does).
  void track_fields(const json& prev, json& o) {
    if (applying_) return;
    json& md = o["metadata"];
    json before = prev.is_object() ? prev["metadata"].value("managedFields", json()) : json();
    if (md.contains("managedFields") && md["managedFields"] != before) return;
    md["managedFields"] = record_update(prev, o, updater());
    if (md["managedFields"].empty()) md.erase("managedFields");
  }

  // Server-side apply: creates a missing object, merges into an existing one, 409 on
  // conflicts with other managers unless force=true.
  void apply() {
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

  void patch() {
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

  std::optional<DeleteOptions> delete_options() {
    auto options = parse_delete_options(q_, req_.method == "DELETE" ? req_.body : "");
    if (!options) {
      send_error(w_, 400, "BadRequest", options.error().message());
      return std::nullopt;
    }
    return *options;
  }

  // Deletes one stored object as `options` say: at once, or marked for its finalizers (and a
  // running pod's grace period). Returns the object to answer with; kConflict when a
  // precondition failed or the object changed meanwhile, else the store's error.
  core::Result<json> delete_one(const KeyValue& kv, const DeleteOptions& options) {
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

  void remove() {
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

  void delete_collection() {
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

}  // namespace

std::optional<ResourceRequest> parse_resource_path(const std::string& path,
                                                   std::shared_ptr<const ResourceTypes> types) {
  std::vector<std::string> seg;
  for (auto s : core::split(path, '/')) {
    if (!s.empty()) seg.emplace_back(s);
  }
  std::string group, version;
  size_t i = 0;
  if (seg.size() >= 2 && seg[0] == "api") {
    version = seg[1];
    i = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis") {
    group = seg[1];
    version = seg[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  std::vector<std::string> rest(seg.begin() + i, seg.end());
  if (rest.empty()) return std::nullopt;
  ResourceRequest r;
  r.types = types;
  if (rest[0] == "namespaces" && rest.size() >= 3) {
    if (const ResourceType* t = find_resource(*types, group, version, rest[2]);
        t && t->namespaced) {
      r.type = t;
      r.ns = rest[1];
      if (rest.size() > 3) r.name = rest[3];
      if (rest.size() > 4) r.sub = rest[4];
      if (rest.size() > 5) return std::nullopt;
      return r;
    }
  }
  r.type = find_resource(*types, group, version, rest[0]);
  if (!r.type) return std::nullopt;
  if (rest.size() > 1) r.name = rest[1];
  if (rest.size() > 2) r.sub = rest[2];
  if (rest.size() > 3) return std::nullopt;
  return r;
}

Rest::Rest(datastore::Backend& store, const Catalog& catalog, std::string service_cidr,
           std::chrono::milliseconds bookmark_interval)
    : store_(store),
      catalog_(catalog),
      service_cidr_(std::move(service_cidr)),
      watches_(std::make_shared<WatchRegistry>(bookmark_interval)) {}

// Watches end before the datastore they subscribe to.
Rest::~Rest() { watches_->clear(); }

void Rest::serve(const ServerRequest& req, const ResourceRequest& r, ResponseWriter& w) const {
  Call(store_, catalog_, service_cidr_, watches_, req, r, w).run();
}

}  // namespace k3s::apiserver
