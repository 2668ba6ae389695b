#include "k3s/apiserver/tables.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/base/time.h"

namespace k3s::apiserver {
namespace {

using json = nlohmann::json;

json cells_of(const char* group, const char* resource, const json& obj, int64_t now) {
  const ResourceType* t = find_resource(builtin_resources(), group, "v1", resource);
  EXPECT_NE(t, nullptr);
  return make_table(*t, {obj}, "5", "", now)["rows"][0]["cells"];
}

TEST(Tables, AgesPrintLikeKubectl) {
  EXPECT_EQ(human_age(0), "0s");
  EXPECT_EQ(human_age(59), "59s");
  EXPECT_EQ(human_age(119), "119s");
  EXPECT_EQ(human_age(200), "3m20s");
  EXPECT_EQ(human_age(600), "10m");
  EXPECT_EQ(human_age(3 * 3600), "3h");
  EXPECT_EQ(human_age(5 * 3600 + 300), "5h5m");
  EXPECT_EQ(human_age(30 * 3600), "30h");
  EXPECT_EQ(human_age(51 * 3600), "2d3h");
  EXPECT_EQ(human_age(10 * 86400), "10d");
  EXPECT_EQ(human_age((3 * 365 + 45) * 86400), "3y45d");
}

TEST(Tables, UpstreamColumnsForCommonKinds) {
  int64_t now = *core::parse_rfc3339("2026-01-01T00:10:00Z");
  json meta = {{"name", "x"}, {"creationTimestamp", "2026-01-01T00:00:00Z"}};
  json pod = {{"metadata", meta},
              {"spec", {{"containers", {{{"name", "a"}}, {{"name", "b"}}}}, {"nodeName", "n1"}}},
              {"status",
               {{"phase", "Running"},
                {"podIP", "10.42.0.5"},
                {"containerStatuses",
                 {{{"ready", true}, {"restartCount", 2}},
                  {{"ready", false},
                   {"restartCount", 1},
                   {"state", {{"waiting", {{"reason", "CrashLoopBackOff"}}}}}}}}}}};
  EXPECT_EQ(cells_of("", "pods", pod, now), json({"x", "1/2", "CrashLoopBackOff", "3", "10m",
                                                  "10.42.0.5", "n1", "<none>", "<none>"}));
  // With a container that has ended, Restarts says how long ago (upstream since 1.22).
  pod["status"]["containerStatuses"][1]["lastState"] = {
      {"terminated", {{"finishedAt", "2026-01-01T00:05:00Z"}}}};
  EXPECT_EQ(cells_of("", "pods", pod, now)[3], "3 (5m ago)");
  json node = {{"metadata",
                {{"name", "n1"},
                 {"creationTimestamp", "2026-01-01T00:00:00Z"},
                 {"labels", {{"node-role.kubernetes.io/control-plane", "true"}}}}},
               {"spec", {{"unschedulable", true}}},
               {"status",
                {{"conditions", {{{"type", "Ready"}, {"status", "True"}}}},
                 {"nodeInfo", {{"kubeletVersion", "v1.32.4+k3s1"}}}}}};
  json ncells = cells_of("", "nodes", node, now);
  EXPECT_EQ(ncells[1], "Ready,SchedulingDisabled");
  EXPECT_EQ(ncells[2], "control-plane");
  EXPECT_EQ(ncells[4], "v1.32.4+k3s1");
  json svc = {{"metadata", meta},
              {"spec",
               {{"type", "NodePort"},
                {"clusterIP", "10.43.0.9"},
                {"ports", {{{"port", 80}, {"nodePort", 30080}, {"protocol", "TCP"}}}}}}};
  EXPECT_EQ(cells_of("", "services", svc, now),
            json({"x", "NodePort", "10.43.0.9", "<none>", "80:30080/TCP", "10m", "<none>"}));
  json secret = {{"metadata", meta}, {"type", "Opaque"}, {"data", {{"a", "eA=="}, {"b", "eQ=="}}}};
  EXPECT_EQ(cells_of("", "secrets", secret, now), json({"x", "Opaque", 2, "10m"}));
  json deploy = {
      {"metadata", meta},
      {"spec", {{"replicas", 3}}},
      {"status", {{"readyReplicas", 2}, {"updatedReplicas", 3}, {"availableReplicas", 2}}}};
  const ResourceType* d = find_resource(builtin_resources(), "apps", "v1", "deployments");
  json t = make_table(*d, {deploy}, "5", "", now);
  EXPECT_EQ(t["rows"][0]["cells"][1], "2/3");
  std::vector<std::string> names;
  for (const auto& c : t["columnDefinitions"]) {
    if (c["priority"] == 0) names.push_back(c["name"]);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Ready", "Up-to-date", "Available", "Age"}));
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  // A fresh object without status prints zeros, as upstream does.
  json fresh = {{"metadata", meta}, {"spec", {{"replicas", 1}}}};
  EXPECT_EQ(make_table(*d, {fresh}, "5", "", now)["rows"][0]["cells"],
            json({"x", "0/1", 0, 0, "10m", "<none>", "<none>", "<none>"}));
}

}  // namespace
}  // namespace k3s::apiserver
