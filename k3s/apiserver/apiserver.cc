#include "k3s/apiserver/apiserver.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "core/base/strings.h"
#include "core/base/time.h"
#include "core/serde/json.h"
#include "k3s/apiserver/bootstrap_token.h"
#include "k3s/apiserver/discovery.h"
#include "k3s/apiserver/node_proxy.h"
#include "k3s/apiserver/protobuf.h"
#include "k3s/apiserver/service_account_token.h"

namespace k3s::apiserver {
namespace {

bool anonymous_path(const std::string& path) {
  return path == "/healthz" || path == "/livez" || path == "/readyz" || path == "/version" ||
         path == "/cacerts" || path == "/ping" || path.starts_with("/healthz/") ||
         path.starts_with("/livez/") || path.starts_with("/readyz/");
}

// Constant-time comparison; an unset expected secret matches nothing.
bool same_secret(const std::string& given, const std::string& expected) {
  return !expected.empty() && given.size() == expected.size() &&
         CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
}

// A review or token request's body: protobuf from typed clients, else JSON.
core::Result<nlohmann::json> request_body(const core::http::ServerRequest& req) {
  bool protobuf = req.header("Content-Type").value_or("").find("protobuf") != std::string::npos;
  return protobuf ? decode_protobuf_object(req.body) : core::parse_json(req.body);
}

void send_json(core::http::ResponseWriter& w, int code, const std::string& body) {
  w.set_status(code);
  w.add_header("Content-Type", "application/json");
  w.add_header("Cache-Control", "no-cache, private");
  w.send(body);
}

void send_status(core::http::ResponseWriter& w, int code, const std::string& reason,
                 const std::string& message) {
  send_json(w, code, status_json(code, reason, message));
}

}  // namespace

std::string status_json(int code, const std::string& reason, const std::string& message) {
  nlohmann::json j = {
      {"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
      {"status", "Failure"}, {"message", message}, {"reason", reason},
      {"code", code}};
  return core::dump_json(j) + "\n";
}

std::optional<Identity> ApiServer::authenticate(const core::http::ServerRequest& request) const {
  if (request.client_verified && !request.client_cn.empty()) {
    Identity id{request.client_cn, request.client_orgs};
    id.groups.push_back("system:authenticated");
    return id;
  }
  auto auth = request.header("Authorization");
  if (!auth || !core::starts_with_ci(*auth, "Bearer ")) return std::nullopt;
  std::string token(core::trim(std::string_view(*auth).substr(7)));
  std::string password = token;
  if (size_t at = token.rfind(':'); token.starts_with("K10") && at != std::string::npos) {
    password = token.substr(at + 1);
  }
  if (same_secret(password, options_.server_token_password)) {
    return Identity{"system:k3s-server", {"system:masters", "system:authenticated"}};
  }
  if (same_secret(password, options_.agent_token_password)) {
    return Identity{"system:k3s-agent", {"system:nodes", "system:authenticated"}};
  }
  if (service_key_ && token.starts_with("eyJ") &&
      std::count(token.begin(), token.end(), '.') == 2) {
    auto claims = verify_service_account_token(service_key_->public_key(), token,
                                               {kServiceAccountIssuer, "k3s"}, core::system_now());
    if (!claims) return std::nullopt;
    // The account must still exist, as the one the token was issued for.
    auto kv = store_.get("/registry/serviceaccounts/" + claims->ns + "/" + claims->name);
    if (!kv || !*kv) return std::nullopt;
    auto sa = nlohmann::json::parse((*kv)->value, nullptr, false);
    if (!sa.is_object() || sa["metadata"].value("uid", "") != claims->uid) return std::nullopt;
    return Identity{
        "system:serviceaccount:" + claims->ns + ":" + claims->name,
        {"system:serviceaccounts", "system:serviceaccounts:" + claims->ns, "system:authenticated"}};
  }
  if (auto parsed = parse_bootstrap_token(password)) {
    auto kv = store_.get("/registry/secrets/kube-system/" + bootstrap_secret_name(parsed->id));
    if (!kv || !*kv) return std::nullopt;
    auto secret = nlohmann::json::parse((*kv)->value, nullptr, false);
    if (auto id = authenticate_bootstrap_token(password, secret, core::system_now())) {
      id->groups.push_back("system:authenticated");
      return Identity{id->user, id->groups};
    }
  }
  return std::nullopt;
}

void ApiServer::handle(const core::http::ServerRequest& request,
                       core::http::ResponseWriter& w) const {
  const std::string& path = request.path;
  if (anonymous_path(path)) {
    if (path == "/version") {
      std::string v = options_.version;
      std::string minor = v.size() > 3 ? v.substr(3, v.find('.', 3) - 3) : "";
      nlohmann::json j = {{"major", "1"},
                          {"minor", minor},
                          {"gitVersion", v},
                          {"gitCommit", "0000000000000000000000000000000000000000"},
                          {"gitTreeState", "clean"},
                          {"buildDate", "2026-01-01T00:00:00Z"},
                          {"goVersion", "go1.23.6"},
                          {"compiler", "gc"},
                          {"platform", "linux/amd64"}};
      return send_json(w, 200, core::dump_json_pretty(j));
    }
    w.add_header("Content-Type", "text/plain; charset=utf-8");
    if (path == "/cacerts") return w.send(options_.server_ca_pem);
    if (path == "/ping") return w.send("pong");
    return w.send("ok");
  }
  auto who = authenticate(request);
  if (!who) return send_status(w, 401, "Unauthorized", "Unauthorized");
  Attributes a = request_attributes(request.method, path, request.query);
  if (Decision d = authorizer_.authorize(who->user, who->groups, a); !d.allowed) {
    nlohmann::json status =
        nlohmann::json::parse(status_json(403, "Forbidden", forbidden_message(who->user, a)));
    if (a.resource_request) {
      status["details"] = {{"group", a.group}, {"kind", a.resource}};
      if (!a.name.empty()) status["details"]["name"] = a.name;
    }
    return send_json(w, 403, core::dump_json(status) + "\n");
  }
  if (a.resource_request && a.group == "authentication.k8s.io" &&
      (a.resource == "tokenreviews" || a.resource == "selfsubjectreviews")) {
    return token_review(request, *who, a, w);
  }
  if (a.resource_request && a.group.empty() && a.resource == "serviceaccounts" &&
      a.subresource == "token") {
    return token_request(request, a, w);
  }
  if (a.resource_request && a.group == "authorization.k8s.io" &&
      (a.resource.ends_with("accessreviews") || a.resource == "selfsubjectrulesreviews")) {
    return access_review(request, *who, a, w);
  }
  if (kubelet_subresource(a))
    return proxy_to_kubelet(store_, options_.kubelet_client, a, request, w);
  // RBAC objects and CRDs written through the API take effect for the next request.
  struct Invalidate {
    const ApiServer& api;
    std::string group, resource;
    bool write;
    ~Invalidate() {
      if (write && group == "rbac.authorization.k8s.io") {
        // Only ClusterRoles feed aggregation; Roles and bindings need a new snapshot alone.
        if (resource == "clusterroles") (void)aggregate_cluster_roles(api.store_);
        api.authorizer_.invalidate();
      }
      if (write && group == "apiextensions.k8s.io") api.catalog_.invalidate();
    }
  } invalidate{*this, a.group, a.resource, request.method != "GET"};
  auto types = catalog_.types();
  // A body of the wrong shape (a number where a name belongs ...) surfaces as a JSON type error
  // deep in a handler: it is the client's mistake, answered as such, never a crash.
  try {
    if (auto r = parse_resource_path(path, types)) {
      if (a.group == "rbac.authorization.k8s.io" && r->sub.empty()) {
        r->admit_write = [this, who = *who, a](const nlohmann::json& o) {
          return escalation_problem(authorizer_, who.user, who.groups, a, o, store_);
        };
      }
      return rest_.serve(request, *r, w);
    }
    discovery(request, *types, w);
  } catch (const nlohmann::json::exception& e) {
    send_status(w, 400, "BadRequest", std::string("the object provided is malformed: ") + e.what());
  } catch (const std::exception& e) {
    send_status(w, 500, "InternalError", std::string("an error on the server: ") + e.what());
  }
}

std::optional<core::PrivateKey> ApiServer::load_service_key(const std::string& pem) {
  if (pem.empty()) return std::nullopt;
  auto key = core::PrivateKey::from_pem(pem);
  if (!key) return std::nullopt;
  return *key;
}

void ApiServer::token_request(const core::http::ServerRequest& req, const Attributes& a,
                              core::http::ResponseWriter& w) const {
  if (a.verb != "create") {
    return send_status(w, 405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource");
  }
  if (!service_key_) {
    return send_status(w, 503, "ServiceUnavailable", "no service account signing key is loaded");
  }
  auto sa_kv = store_.get("/registry/serviceaccounts/" + a.ns + "/" + a.name);
  if (!sa_kv || !*sa_kv) {
    return send_status(w, 404, "NotFound", "serviceaccounts \"" + a.name + "\" not found");
  }
  auto sa = nlohmann::json::parse((*sa_kv)->value, nullptr, false);
  auto body = request_body(req);
  if (!body || !body->is_object()) {
    return send_status(w, 400, "BadRequest",
                       "the object provided is unrecognized (must be of type TokenRequest)");
  }
  nlohmann::json& spec = (*body)["spec"];
  if (!spec.is_object()) spec = nlohmann::json::object();
  int64_t seconds = spec.value("expirationSeconds", int64_t{3600});
  if (seconds < 600 || seconds > (int64_t{1} << 32)) {
    return send_status(
        w, 422, "Invalid",
        fmt::format("TokenRequest.authentication.k8s.io \"{}\" is invalid: spec.expirationSeconds: "
                    "Invalid value: {}: {}",
                    a.name, seconds,
                    seconds < 600 ? "may not specify a duration less than 10 minutes"
                                  : "may not specify a duration larger than 2^32 seconds"));
  }
  ServiceAccountClaims claims{.ns = a.ns,
                              .name = a.name,
                              .uid = sa["metadata"].value("uid", ""),
                              .issued = core::system_now()};
  claims.expires = claims.issued + seconds;
  for (const auto& aud : spec.value("audiences", nlohmann::json::array())) {
    if (aud.is_string()) claims.audiences.push_back(aud.get<std::string>());
  }
  if (claims.audiences.empty()) claims.audiences = {kServiceAccountIssuer, "k3s"};
  auto token = sign_service_account_token(*service_key_, claims);
  if (!token) return send_status(w, 500, "InternalError", token.error().message());
  spec["audiences"] = claims.audiences;
  spec["expirationSeconds"] = seconds;
  if (!spec.contains("boundObjectRef")) spec["boundObjectRef"] = nullptr;
  (*body)["apiVersion"] = "authentication.k8s.io/v1";
  (*body)["kind"] = "TokenRequest";
  (*body)["metadata"] = {{"name", a.name}, {"namespace", a.ns}, {"creationTimestamp", nullptr}};
  (*body)["status"] = {{"token", *token},
                       {"expirationTimestamp", core::format_rfc3339(claims.expires)}};
  send_json(w, 201, core::dump_json(*body) + "\n");
}

void ApiServer::token_review(const core::http::ServerRequest& req, const Identity& who,
                             const Attributes& a, core::http::ResponseWriter& w) const {
  if (a.verb != "create" || !a.name.empty()) {
    return send_status(w, 405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource");
  }
  auto user_info = [](const Identity& id) {
    return nlohmann::json{{"username", id.user}, {"groups", id.groups}};
  };
  nlohmann::json out = {{"apiVersion", "authentication.k8s.io/v1"},
                        {"metadata", {{"creationTimestamp", nullptr}}}};
  if (a.resource == "selfsubjectreviews") {
    out["kind"] = "SelfSubjectReview";
    out["status"] = {{"userInfo", user_info(who)}};
    return send_json(w, 201, core::dump_json(out) + "\n");
  }
  auto body = request_body(req);
  if (!body || !body->is_object() || !(*body)["spec"].is_object()) {
    return send_status(w, 400, "BadRequest",
                       "the object provided is unrecognized (must be of type TokenReview)");
  }
  out = *body;
  out["apiVersion"] = "authentication.k8s.io/v1";
  out["kind"] = "TokenReview";
  core::http::ServerRequest probe;
  probe.headers = {{"Authorization", "Bearer " + (*body)["spec"].value("token", "")}};
  auto id = authenticate(probe);
  out["status"] = {{"authenticated", id.has_value()}};
  if (id) {
    out["status"]["user"] = user_info(*id);
    out["status"]["audiences"] =
        (*body)["spec"].value("audiences", nlohmann::json::array({kServiceAccountIssuer, "k3s"}));
  }
  send_json(w, 201, core::dump_json(out) + "\n");
}

void ApiServer::access_review(const core::http::ServerRequest& req, const Identity& who,
                              const Attributes& a, core::http::ResponseWriter& w) const {
  if (a.resource == "selfsubjectrulesreviews" && a.verb == "create") {
    auto body = request_body(req);
    std::string ns = body && body->is_object() && (*body)["spec"].is_object()
                         ? (*body)["spec"].value("namespace", "")
                         : "";
    nlohmann::json out = {{"kind", "SelfSubjectRulesReview"},
                          {"apiVersion", "authorization.k8s.io/v1"},
                          {"metadata", {{"creationTimestamp", nullptr}}},
                          {"spec", {{"namespace", ns}}},
                          {"status", authorizer_.rules_for(who.user, who.groups, ns)}};
    out["status"]["incomplete"] = false;
    return send_json(w, 201, core::dump_json(out) + "\n");
  }
  static const std::map<std::string, std::string> kinds = {
      {"selfsubjectaccessreviews", "SelfSubjectAccessReview"},
      {"subjectaccessreviews", "SubjectAccessReview"},
      {"localsubjectaccessreviews", "LocalSubjectAccessReview"}};
  auto kind = kinds.find(a.resource);
  if (kind == kinds.end() || a.verb != "create" || !a.name.empty()) {
    return send_status(w, 404, "NotFound", "the server could not find the requested resource");
  }
  auto body = request_body(req);
  if (!body || !body->is_object() || !(*body)["spec"].is_object()) {
    return send_status(
        w, 400, "BadRequest",
        "the object provided is unrecognized (must be of type " + kind->second + ")");
  }
  nlohmann::json& spec = (*body)["spec"];
  std::string user = who.user;
  std::vector<std::string> groups = who.groups;
  if (kind->second != "SelfSubjectAccessReview") {
    user = spec.value("user", "");
    groups.clear();
    for (const auto& g : spec.value("groups", nlohmann::json::array())) {
      if (g.is_string()) groups.push_back(g.get<std::string>());
    }
    if (user.empty() && groups.empty()) {
      return send_status(w, 422, "Invalid",
                         kind->second +
                             ".authorization.k8s.io \"\" is invalid: spec.user: "
                             "Invalid value: \"\": at least one of user or group must "
                             "be specified");
    }
  }
  Attributes asked;
  if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
    const nlohmann::json& r = spec["resourceAttributes"];
    asked.resource_request = true;
    asked.verb = r.value("verb", "");
    asked.group = r.value("group", "");
    asked.resource = r.value("resource", "");
    asked.subresource = r.value("subresource", "");
    asked.name = r.value("name", "");
    asked.ns = kind->second == "LocalSubjectAccessReview" ? a.ns : r.value("namespace", "");
  } else if (spec.contains("nonResourceAttributes") && spec["nonResourceAttributes"].is_object()) {
    asked.verb = spec["nonResourceAttributes"].value("verb", "");
    asked.path = spec["nonResourceAttributes"].value("path", "");
  } else {
    return send_status(w, 422, "Invalid",
                       kind->second +
                           ".authorization.k8s.io \"\" is invalid: spec: Invalid "
                           "value: \"null\": exactly one of nonResourceAttributes or "
                           "resourceAttributes must be specified");
  }
  Decision d = authorizer_.authorize(user, groups, asked);
  (*body)["apiVersion"] = "authorization.k8s.io/v1";
  (*body)["kind"] = kind->second;
  if (!(*body)["metadata"].is_object()) (*body)["metadata"] = nlohmann::json::object();
  (*body)["metadata"]["creationTimestamp"] = nullptr;
  (*body)["status"] = {{"allowed", d.allowed}};
  if (!d.reason.empty()) (*body)["status"]["reason"] = d.reason;
  send_json(w, 201, core::dump_json(*body) + "\n");
}

void ApiServer::discovery(const core::http::ServerRequest& req, const ResourceTypes& types,
                          core::http::ResponseWriter& w) const {
  const std::string& path = req.path;
  if (req.method != "GET") {
    return send_status(w, 405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource");
  }
  std::string accept = req.header("Accept").value_or("");
  if ((path == "/api" || path == "/apis") && wants_aggregated(accept)) {
    w.set_status(200);
    w.add_header("Content-Type", kAggregatedDiscoveryType);
    return w.send(core::dump_json(aggregated_discovery(types, path == "/api")));
  }
  if (path == "/api") {
    return send_json(w, 200, core::dump_json(legacy_api_versions(req.header("Host").value_or(""))));
  }
  if (path == "/apis") return send_json(w, 200, core::dump_json(legacy_group_list(types)));
  std::optional<nlohmann::json> doc;
  if (path.starts_with("/api/")) doc = resource_list(types, path.substr(5));
  if (path.starts_with("/apis/")) doc = resource_list(types, path.substr(6));
  if (path == "/openapi/v3") doc = openapi_root(types);
  if (path.starts_with("/openapi/v3/")) doc = openapi_document(types, path.substr(12));
  if (doc) return send_json(w, 200, core::dump_json(*doc));
  send_status(w, 404, "NotFound", "the server could not find the requested resource");
}

}  // namespace k3s::apiserver
