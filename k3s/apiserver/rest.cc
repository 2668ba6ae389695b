#include "k3s/apiserver/rest.h"

#include <algorithm>
#include <chrono>

#include "core/base/strings.h"
#include "core/serde/json.h"
#include "k3s/apiserver/protobuf.h"
#include "k3s/apiserver/rest_call.h"
#include "k3s/apiserver/scale.h"

namespace k3s::apiserver {
namespace rest_detail {

json Call::view(const json& object) const {
  return r_.sub == "scale" ? to_scale(t_, object) : object;
}

void Call::run() {
  const std::string& m = req_.method;
  if (!r_.sub.empty()) {
    bool served =
        (r_.sub == "status" || r_.sub == "scale" || r_.sub == "finalize" || r_.sub == "binding") &&
        std::find(t_.subresources.begin(), t_.subresources.end(), r_.sub) != t_.subresources.end();
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

void Call::retrying(void (Call::*handler)()) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    raced_ = false;
    (this->*handler)();
    if (!raced_) return;
  }
  conflict(r_.name);
}

json Call::unview(const json& prev, json changed) const {
  bool has_status =
      std::find(t_.subresources.begin(), t_.subresources.end(), "status") != t_.subresources.end();
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

std::string Call::what(const std::string& name) const {
  return fmt::format("{} \"{}\"", t_.qualified(), name);
}

void Call::fail_store(const core::Error& e) {
  if (e.code() == core::Errc::kExpired) return send_error(w_, 410, "Expired", e.message());
  send_error(w_, 500, "InternalError", "Internal error occurred: " + e.message());
}

void Call::not_found(const std::string& name) {
  send_error(w_, 404, "NotFound", what(name) + " not found", &r_, name);
}

std::optional<json> Call::body() {
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

}  // namespace rest_detail

using core::http::ResponseWriter;
using core::http::ServerRequest;

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
  rest_detail::Call(store_, catalog_, service_cidr_, watches_, req, r, w).run();
}

}  // namespace k3s::apiserver
