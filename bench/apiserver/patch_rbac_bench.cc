// Strategic merge patch throughput on a 200-line Deployment, in process and through the API
// (PATCH over HTTP, one client), each against an RFC 7386 merge patch of the same change in the
// same run; and RBAC authorisation cost per request with 1,000 RoleBindings present against the
// default policy alone.
// Usage: k3s_patch_rbac_bench WORK_DIR [SECONDS_PER_PHASE]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/time.h"
#include "core/http/client.h"
#include "core/http/server.h"
#include "k3s/apiserver/apiserver.h"
#include "k3s/apiserver/rbac.h"
#include "k3s/apiserver/strategic_merge.h"
#include "k3s/datastore/sqlite_backend.h"

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Calls fn until `seconds` pass; returns calls per second.
double rate(double seconds, const std::function<void()>& fn) {
  auto start = Clock::now();
  uint64_t n = 0;
  while (std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    fn();
    ++n;
  }
  return n / std::chrono::duration<double>(Clock::now() - start).count();
}

json deployment() {
  json containers = json::array();
  for (int c = 0; c < 3; ++c) {
    json env = json::array(), ports = json::array(), mounts = json::array();
    for (int i = 0; i < 6; ++i)
      env.push_back({{"name", "VAR_" + std::to_string(i)}, {"value", std::to_string(i)}});
    for (int i = 0; i < 3; ++i) ports.push_back({{"containerPort", 8080 + i}, {"protocol", "TCP"}});
    for (int i = 0; i < 3; ++i)
      mounts.push_back(
          {{"name", "v" + std::to_string(i)}, {"mountPath", "/m" + std::to_string(i)}});
    containers.push_back({{"name", "c" + std::to_string(c)},
                          {"image", "registry.local/app:1"},
                          {"env", env},
                          {"ports", ports},
                          {"volumeMounts", mounts},
                          {"resources", {{"limits", {{"cpu", "500m"}, {"memory", "128Mi"}}}}}});
  }
  json volumes = json::array();
  for (int i = 0; i < 3; ++i)
    volumes.push_back({{"name", "v" + std::to_string(i)}, {"emptyDir", json::object()}});
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", {{"name", "web"}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
          {"spec",
           {{"replicas", 3},
            {"selector", {{"matchLabels", {{"app", "web"}}}}},
            {"strategy", {{"type", "RollingUpdate"}}},
            {"template",
             {{"metadata", {{"labels", {{"app", "web"}}}}},
              {"spec", {{"containers", containers}, {"volumes", volumes}}}}}}}};
}

// What kubectl apply sends after an image change and one env var edit in container c2.
json strategic_patch(int n) {
  json order = json::array();
  for (int c = 0; c < 3; ++c) order.push_back({{"name", "c" + std::to_string(c)}});
  return {{"spec",
           {{"template",
             {{"spec",
               {{"$setElementOrder/containers", order},
                {"containers",
                 {{{"name", "c2"},
                   {"image", "registry.local/app:" + std::to_string(n)},
                   {"env", {{{"name", "VAR_3"}, {"value", std::to_string(n)}}}}}}}}}}}}}};
}

// The same change as a merge patch: the whole containers list.
json merge_patch(const json& base, int n) {
  json containers = base["spec"]["template"]["spec"]["containers"];
  containers[2]["image"] = "registry.local/app:" + std::to_string(n);
  containers[2]["env"][3]["value"] = std::to_string(n);
  return {{"spec", {{"template", {{"spec", {{"containers", containers}}}}}}}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s WORK_DIR [SECONDS_PER_PHASE]\n", argv[0]);
    return 2;
  }
  std::string work = argv[1];
  double phase = argc > 2 ? std::atof(argv[2]) : 3;
  json base = deployment();
  size_t lines = 0;
  for (char c : base.dump(2)) lines += c == '\n';

  int n = 0;
  double smp = rate(phase, [&] {
    (void)k3s::apiserver::strategic_merge(base, strategic_patch(++n), "Deployment");
  });
  double merge = rate(phase, [&] {
    json out = base;
    out.merge_patch(merge_patch(base, ++n));
  });
  std::printf(
      "patch in process (%zu-line Deployment): strategic %.0f/s  merge-patch %.0f/s  ratio %.2fx\n",
      lines, smp, merge, smp / merge);

  auto store = k3s::datastore::open_sqlite({.path = work + "/bench.db"});
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message().c_str());
    return 1;
  }
  k3s::apiserver::ApiServer api({.version = "v1.32.4+k3s1", .server_token_password = "bench"},
                                **store);
  if (!api.rest().seed("10.43.0.1", 6443)) return 1;
  auto server = core::http::Server::start(
      {.threads = 2}, [&api](const core::http::ServerRequest& r, core::http::ResponseWriter& w) {
        api.handle(r, w);
      });
  if (!server) return 1;
  core::http::Client client({.retries = 0, .proxy = ""});
  auto call = [&](const std::string& method, const std::string& path, const std::string& type,
                  const json& body) {
    core::http::Request req{.method = method, .url = (*server)->url() + path, .body = body.dump()};
    req.headers = {{"Authorization", "Bearer bench"}, {"Content-Type", type}};
    auto r = client.send(req);
    return r && r->status < 300;
  };
  if (!call("POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", base))
    return 1;
  std::string path = "/apis/apps/v1/namespaces/default/deployments/web";
  double api_smp = rate(phase, [&] {
    call("PATCH", path, "application/strategic-merge-patch+json", strategic_patch(++n));
  });
  double api_merge = rate(
      phase, [&] { call("PATCH", path, "application/merge-patch+json", merge_patch(base, ++n)); });
  std::printf(
      "patch through the API (1 client, durable writes): strategic %.0f/s  merge-patch %.0f/s  "
      "ratio %.2fx\n",
      api_smp, api_merge, api_smp / api_merge);
  (*server)->stop();

  // RBAC: the default policy, then 1,000 Roles and RoleBindings in 100 namespaces.
  k3s::apiserver::Authorizer authz(**store);
  k3s::apiserver::Attributes a{
      .verb = "list", .resource_request = true, .resource = "pods", .ns = "ns-99"};
  std::vector<std::string> groups = {"system:authenticated"};
  auto per_request_ns = [&](const std::string& user) {
    (void)authz.authorize(user, groups, a);  // builds the snapshot
    double r = rate(phase, [&] { (void)authz.authorize(user, groups, a); });
    return 1e9 / r;
  };
  double base_ns = per_request_ns("user-999");
  for (int i = 0; i < 1000; ++i) {
    std::string ns = "ns-" + std::to_string(i % 100), name = "r" + std::to_string(i);
    json role = {
        {"metadata", {{"name", name}, {"namespace", ns}}},
        {"rules", {{{"apiGroups", {""}}, {"resources", {"pods"}}, {"verbs", {"get", "list"}}}}}};
    json binding = {{"metadata", {{"name", name}, {"namespace", ns}}},
                    {"roleRef", {{"kind", "Role"}, {"name", name}}},
                    {"subjects", {{{"kind", "User"}, {"name", "user-" + std::to_string(i)}}}}};
    (void)(*store)->create("/registry/roles/" + ns + "/" + name, role.dump());
    (void)(*store)->create("/registry/rolebindings/" + ns + "/" + name, binding.dump());
  }
  authz.invalidate();
  double allowed_ns = per_request_ns("user-999");
  double denied_ns = per_request_ns("nobody");
  std::printf(
      "rbac per request: default policy %.0f ns; with 1,000 bindings: allowed %.0f ns, denied %.0f "
      "ns (%.1fx the default)\n",
      base_ns, allowed_ns, denied_ns, denied_ns / base_ns);
  return 0;
}
