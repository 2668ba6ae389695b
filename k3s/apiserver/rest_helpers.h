// Helpers of the generic REST handlers (rest.cc) and the seed (seed.cc): query strings, Status
// answers, object metadata as stored and as shown, label and field selectors, name rules.
// Internal to k3s/apiserver; pure functions apart from the writers they are given.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/server.h"
#include "k3s/apiserver/rest.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver::rest_detail {

std::string url_decode(std::string_view s);
std::map<std::string, std::string> query_params(const std::string& query);
void send_json(core::http::ResponseWriter& w, int code, const nlohmann::json& body);
// A Status error; with `r`, details name the resource (and `name`).
void send_error(core::http::ResponseWriter& w, int code, const std::string& reason,
                const std::string& message, const ResourceRequest* r = nullptr,
                const std::string& name = "");
// Why `name` is not a valid name for objects of type t ("" when it is), in upstream's words.
std::string name_problem(const ResourceType& t, const std::string& name);
std::string new_uid();
// The object as clients see it: kind, apiVersion and the store's revision filled in.
nlohmann::json present(const ResourceType& t, const datastore::KeyValue& kv);
// The object as stored: without the fields the store's revision supplies.
std::string stored(nlohmann::json o);

struct Requirement {
  std::string key, op;  // =, !=, in, notin, exists, !exists
  std::vector<std::string> values;
};
// nullopt when the selector does not parse.
std::optional<std::vector<Requirement>> parse_label_selector(const std::string& s);
bool labels_match(const nlohmann::json& obj, const std::vector<Requirement>& reqs);
// Field selectors: "path=value", "path==value", "path!=value" over dotted JSON paths.
bool fields_match(const nlohmann::json& obj, const std::string& selector);
bool wants_table(const core::http::ServerRequest& req);

}  // namespace k3s::apiserver::rest_detail
