#include "k3s/deploy/manifests.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "tests/support/test_support.h"

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
}

// Every packaged manifest parses once its variables are substituted, and every image it names
// (the local-path helper pod's too) is pinned in manifests/images.txt, which bundle create
// takes as its default image list.
TEST(Manifests, PackagedManifestsParseAndTheirImagesArePinned) {
  std::vector<std::string> names;
  for (const auto& f : packaged_manifests()) names.emplace_back(f.relative);
  EXPECT_EQ(
      names,
      (std::vector<std::string>{
          "ccm.yaml", "coredns.yaml", "local-storage.yaml",
          "metrics-server/aggregated-metrics-reader.yaml", "metrics-server/auth-delegator.yaml",
          "metrics-server/auth-reader.yaml", "metrics-server/metrics-apiservice.yaml",
          "metrics-server/metrics-server-deployment.yaml",
          "metrics-server/metrics-server-service.yaml", "metrics-server/resource-reader.yaml",
          "rolebindings.yaml", "traefik.yaml"}));
  auto pinned = core::read_file(testing_support::source_dir() + "/manifests/images.txt");
  ASSERT_TRUE(pinned);
  std::map<std::string, std::string> vars = {
      {"CLUSTER_DNS", "10.43.0.10"},
      {"CLUSTER_DNS_LIST", "[10.43.0.10]"},
      {"CLUSTER_DNS_IPFAMILYPOLICY", "SingleStack"},
      {"CLUSTER_DOMAIN", "cluster.local"},
      {"DEFAULT_LOCAL_STORAGE_PATH", "/var/lib/rancher/k3s/storage"},
      {"SYSTEM_DEFAULT_REGISTRY", ""},
      {"SYSTEM_DEFAULT_REGISTRY_RAW", ""},
      {"PREFERRED_ADDRESS_TYPES", "InternalIP,ExternalIP,Hostname"}};
  std::regex image_line(R"re(image: "?([^"\s]+)"?)re");
  size_t images = 0;
  for (const auto& f : packaged_manifests()) {
    std::string text = substitute_variables(std::string(f.text), vars);
    EXPECT_EQ(text.find("%{"), std::string::npos) << f.relative;
    auto objects = parse_manifest(text);
    ASSERT_TRUE(objects) << f.relative << ": " << objects.error().message();
    EXPECT_FALSE(objects->empty()) << f.relative;
    for (std::sregex_iterator m(text.begin(), text.end(), image_line), end; m != end; ++m) {
      std::string image = "docker.io/" + (*m)[1].str();
      EXPECT_NE(pinned->find(image + "\n"), std::string::npos) << image << " in " << f.relative;
      ++images;
    }
  }
  EXPECT_EQ(images,
            5u);  // coredns, local-path-provisioner, its busybox helper, traefik, metrics-server
}

}  // namespace
}  // namespace k3s::deploy
