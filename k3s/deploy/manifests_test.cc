#include "k3s/deploy/manifests.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"

namespace k3s::deploy {
namespace {

TEST(Manifests, ParsesDocumentsListsAndJson) {
  auto objs = parse_manifest(R"(---
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Secret, metadata: {name: b}}
- {apiVersion: v1, kind: Service, metadata: {name: c}}
)");
  ASSERT_TRUE(objs) << objs.error().message();
  ASSERT_EQ(objs->size(), 3u);
  EXPECT_EQ((*objs)[2]["kind"], "Service");
  auto json =
      parse_manifest(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})");
  ASSERT_TRUE(json);
  EXPECT_EQ((*json)[0]["metadata"]["name"], "x");
}

TEST(Manifests, RefusesWhatIsNotAnObject) {
  EXPECT_FALSE(parse_manifest("just a string"));
  EXPECT_FALSE(parse_manifest("apiVersion: v1\nmetadata: {name: nokind}\n"));
  EXPECT_FALSE(parse_manifest("a: [unclosed\n"));
}

TEST(Manifests, SubstitutesVariables) {
  EXPECT_EQ(substitute_variables("ip: %{CLUSTER_DNS}%, again %{CLUSTER_DNS}%, %{OTHER}%",
                                 {{"CLUSTER_DNS", "10.43.0.10"}}),
            "ip: 10.43.0.10, again 10.43.0.10, %{OTHER}%");
}

TEST(Manifests, DisabledByNameOrDirectory) {
  std::set<std::string> names = {"traefik", "metrics-server"};
  EXPECT_TRUE(disabled("traefik.yaml", names));
  EXPECT_TRUE(disabled("metrics-server/service.yaml", names));
  EXPECT_FALSE(disabled("coredns.yaml", names));
  EXPECT_FALSE(disabled("traefik-extra.yaml", names));
}

TEST(Manifests, StagesWithVariablesAndSkipsDisabled) {
  auto dir = core::TempDir::create("k3a-stage");
  ASSERT_TRUE(dir);
  std::string text = "dns: %{CLUSTER_DNS}%\n";
  std::vector<PackagedFile> files = {{"coredns.yaml", text}, {"sub/traefik.yaml", text}};
  ASSERT_TRUE(
      stage_manifests(dir->sub("manifests"), files, {{"CLUSTER_DNS", "10.43.0.10"}}, {"traefik"}));
  EXPECT_EQ(*core::read_file(dir->sub("manifests/coredns.yaml")), "dns: 10.43.0.10\n");
  EXPECT_FALSE(core::path_exists(dir->sub("manifests/sub/traefik.yaml")));
  struct stat st;
  ASSERT_EQ(::stat(dir->sub("manifests/coredns.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(packaged_manifests().size(), 2u);
}

}  // namespace
}  // namespace k3s::deploy
