// A pod's volumes on disk under a temporary kubelet root: the `..data` atomic writer, emptyDir,
// configMap, secret, downwardAPI, projected service-account tokens, hostPath types, claims bound
// to hostPath PersistentVolumes, the pod's /etc/hosts and the removal of its directory.
#include "k3s/agent/kubelet/volumes.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <set>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

json pod_with(const json& volumes) {
  json pod = json::parse(R"({
    "metadata": {"name": "web", "namespace": "shop", "uid": "uid-1",
                 "labels": {"app": "web", "tier": "front"}},
    "spec": {"containers": [{"name": "app", "image": "nginx"}]}
  })");
  pod["spec"]["volumes"] = volumes;
  return pod;
}

// One hostPath volume named "h".
json host_path_volume(const std::string& path, const std::string& type) {
  return json::array({json{{"name", "h"}, {"hostPath", {{"path", path}, {"type", type}}}}});
}

std::string read(const std::string& path) { return core::read_file(path).value_or("<missing>"); }

class VolumesTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<core::TempDir>(*core::TempDir::create("k3a-volumes"));
    node_.kubelet_root = dir_->sub("kubelet");
  }

  // Objects by "resource/namespace/name"; kNotFound for the rest.
  ObjectGetter getter() {
    return [this](const std::string& resource, const std::string& ns,
                  const std::string& name) -> core::Result<json> {
      auto it = objects_.find(resource + "/" + ns + "/" + name);
      if (it == objects_.end())
        return core::fail(core::Errc::kNotFound, resource + " " + name + " not found");
      return it->second;
    };
  }

  TokenRequester requester() {
    return [this](const json& pod, const std::string& audience,
                  int64_t seconds) -> core::Result<std::string> {
      ++token_calls_;
      EXPECT_EQ(pod["metadata"]["uid"], "uid-1");
      last_audience_ = audience;
      last_seconds_ = seconds;
      return "token-" + std::to_string(token_calls_);
    };
  }

  core::Result<std::map<std::string, std::string>> prepare(const json& volumes) {
    return prepare_volumes(pod_with(volumes), node_, getter(), requester());
  }

  std::string volume_dir(const std::string& plugin, const std::string& name) {
    return dir_->sub("kubelet/pods/uid-1/volumes/kubernetes.io~" + plugin + "/" + name);
  }

  std::unique_ptr<core::TempDir> dir_;
  NodeContext node_;
  std::map<std::string, json> objects_;
  int token_calls_ = 0;
  std::string last_audience_;
  int64_t last_seconds_ = 0;
};

TEST_F(VolumesTest, WriteAtomicDirPublishesFilesBehindData) {
  std::string dir = dir_->sub("atomic");
  ASSERT_TRUE(write_atomic_dir(dir, {{"a", "1"}, {"sub/b", "2"}}, 0600));
  EXPECT_EQ(read(dir + "/a"), "1");
  EXPECT_EQ(read(dir + "/sub/b"), "2");
  EXPECT_TRUE(fs::is_symlink(dir + "/..data"));
  EXPECT_TRUE(fs::read_symlink(dir + "/..data").string().starts_with(".."));
  EXPECT_TRUE(fs::is_symlink(dir + "/a"));
  EXPECT_EQ(fs::read_symlink(dir + "/a"), "..data/a");
  EXPECT_EQ(fs::read_symlink(dir + "/sub"), "..data/sub");
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(VolumesTest, WriteAtomicDirLeavesUnchangedContentAlone) {
  std::string dir = dir_->sub("atomic");
  ASSERT_TRUE(write_atomic_dir(dir, {{"a", "1"}, {"b", "2"}}, 0644));
  fs::path first = fs::read_symlink(dir + "/..data");
  ASSERT_TRUE(write_atomic_dir(dir, {{"a", "1"}, {"b", "2"}}, 0644));
  EXPECT_EQ(fs::read_symlink(dir + "/..data"), first);
  EXPECT_EQ(read(dir + "/b"), "2");
}

TEST_F(VolumesTest, WriteAtomicDirSwapsChangedContent) {
  std::string dir = dir_->sub("atomic");
  ASSERT_TRUE(write_atomic_dir(dir, {{"a", "1"}, {"b", "2"}}, 0644));
  fs::path first = fs::read_symlink(dir + "/..data");
  ASSERT_TRUE(write_atomic_dir(dir, {{"a", "3"}}, 0644));
  fs::path second = fs::read_symlink(dir + "/..data");
  EXPECT_NE(second, first);
  EXPECT_EQ(read(dir + "/a"), "3");
  EXPECT_FALSE(fs::exists(dir + "/" + first.string()));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir + "/b")));
  std::set<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir)) entries.insert(e.path().filename().string());
  EXPECT_EQ(entries, (std::set<std::string>{"..data", second.string(), "a"}));
}

TEST_F(VolumesTest, EmptyDirIsCreated) {
  auto out = prepare(json::parse(R"([{"name": "scratch", "emptyDir": {}}])"));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ((*out)["scratch"], volume_dir("empty-dir", "scratch"));
  EXPECT_TRUE(fs::is_directory(volume_dir("empty-dir", "scratch")));
}

TEST_F(VolumesTest, ConfigMapWritesAllKeys) {
  objects_["configmaps/shop/settings"] = {{"data", {{"a.conf", "A"}, {"b.conf", "B"}}}};
  auto out = prepare(json::parse(R"([{"name": "cfg", "configMap": {"name": "settings"}}])"));
  ASSERT_TRUE(out) << out.error().message();
  std::string dir = volume_dir("configmap", "cfg");
  EXPECT_EQ((*out)["cfg"], dir);
  EXPECT_EQ(read(dir + "/a.conf"), "A");
  EXPECT_EQ(read(dir + "/b.conf"), "B");
}

// CoreDNS mounts an optional ConfigMap below its read-only config volume: the mount point is
// made in the config volume's directory, as upstream's MakeNestedMountpoints does, and survives
// a content change; paths outside the volume are not created.
TEST_F(VolumesTest, NestedMountPointsAreMadeInTheParentVolume) {
  objects_["configmaps/shop/settings"] = {{"data", {{"Corefile", "A"}}}};
  json pod = pod_with(json::parse(R"([{"name": "cfg", "configMap": {"name": "settings"}},
                                      {"name": "custom", "emptyDir": {}}])"));
  pod["spec"]["containers"][0]["volumeMounts"] = json::parse(R"([
    {"name": "cfg", "mountPath": "/etc/coredns/", "readOnly": true},
    {"name": "custom", "mountPath": "/etc/coredns/custom/site"},
    {"name": "custom", "mountPath": "/etc/corednsx"},
    {"name": "custom", "mountPath": "/etc/coredns/../escape"}])");
  ASSERT_TRUE(prepare_volumes(pod, node_, getter(), requester()));
  std::string dir = volume_dir("configmap", "cfg");
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/custom/site"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/x"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/../escape"));
  objects_["configmaps/shop/settings"] = {{"data", {{"Corefile", "B"}}}};
  ASSERT_TRUE(prepare_volumes(pod, node_, getter(), requester()));
  EXPECT_EQ(read(dir + "/Corefile"), "B");
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/custom/site"));
}

TEST_F(VolumesTest, ConfigMapItemsChooseKeysAndPaths) {
  objects_["configmaps/shop/settings"] = {{"data", {{"a.conf", "A"}, {"b.conf", "B"}}}};
  auto out = prepare(json::parse(R"([{"name": "cfg", "configMap": {"name": "settings",
      "items": [{"key": "a.conf", "path": "nested/app.conf"}]}}])"));
  ASSERT_TRUE(out) << out.error().message();
  std::string dir = volume_dir("configmap", "cfg");
  EXPECT_EQ(read(dir + "/nested/app.conf"), "A");
  EXPECT_FALSE(fs::exists(dir + "/a.conf"));
  EXPECT_FALSE(fs::exists(dir + "/b.conf"));
}

TEST_F(VolumesTest, ConfigMapMissingKeyFails) {
  objects_["configmaps/shop/settings"] = {{"data", {{"a.conf", "A"}}}};
  auto out = prepare(json::parse(R"([{"name": "cfg", "configMap": {"name": "settings",
      "items": [{"key": "absent", "path": "x"}]}}])"));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), core::Errc::kNotFound);
  EXPECT_NE(out.error().message().find("cfg"), std::string::npos) << out.error().message();
}

TEST_F(VolumesTest, MissingConfigMapFailsUnlessOptional) {
  auto out = prepare(json::parse(R"([{"name": "cfg", "configMap": {"name": "absent"}}])"));
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), core::Errc::kNotFound);
  out = prepare(
      json::parse(R"([{"name": "cfg", "configMap": {"name": "absent", "optional": true}}])"));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_TRUE(fs::is_directory(volume_dir("configmap", "cfg")));
}

TEST_F(VolumesTest, SecretIsDecoded) {
  objects_["secrets/shop/creds"] = {{"data", {{"password", "czNjcjN0"}}}};  // "s3cr3t"
  auto out = prepare(json::parse(R"([{"name": "creds", "secret": {"secretName": "creds"}}])"));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(read(volume_dir("secret", "creds") + "/password"), "s3cr3t");
}

TEST_F(VolumesTest, DownwardApiWritesLabelsAndName) {
  auto out = prepare(json::parse(R"([{"name": "info", "downwardAPI": {"items": [
      {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
      {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}}])"));
  ASSERT_TRUE(out) << out.error().message();
  std::string dir = volume_dir("downward-api", "info");
  std::string labels = read(dir + "/labels");
  EXPECT_TRUE(labels.starts_with("app=\"web\"\ntier=\"front\"")) << labels;
  EXPECT_EQ(read(dir + "/name"), "web");
}

// Upstream's fieldpath.FormatMap: sorted `key=%q` lines joined by "\n", no trailing newline.
TEST_F(VolumesTest, DownwardApiQuotesValuesLikeUpstream) {
  json pod = pod_with(json::parse(R"([{"name": "info", "downwardAPI": {"items": [
      {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}}])"));
  pod["metadata"]["annotations"] = {{"a", "say \"hi\""}, {"b", "x"}};
  ASSERT_TRUE(prepare_volumes(pod, node_, getter(), requester()));
  EXPECT_EQ(read(volume_dir("downward-api", "info") + "/annotations"),
            "a=\"say \\\"hi\\\"\"\nb=\"x\"");
}

TEST_F(VolumesTest, ProjectedTokenIsRequestedOncePerLifetime) {
  objects_["configmaps/shop/kube-root-ca.crt"] = {{"data", {{"ca.crt", "CA"}}}};
  json volumes = json::parse(R"([{"name": "kube-api", "projected": {"sources": [
      {"serviceAccountToken": {"path": "token", "audience": "vault", "expirationSeconds": 3600}},
      {"configMap": {"name": "kube-root-ca.crt"}}]}}])");
  auto out = prepare(volumes);
  ASSERT_TRUE(out) << out.error().message();
  std::string dir = volume_dir("projected", "kube-api");
  EXPECT_EQ(token_calls_, 1);
  EXPECT_EQ(last_audience_, "vault");
  EXPECT_EQ(last_seconds_, 3600);
  EXPECT_EQ(read(dir + "/token"), "token-1");
  EXPECT_EQ(read(dir + "/ca.crt"), "CA");
  ASSERT_TRUE(prepare(volumes));
  EXPECT_EQ(token_calls_, 1);
  EXPECT_EQ(read(dir + "/token"), "token-1");
}

TEST_F(VolumesTest, RefusedTokenFails) {
  auto refuse = [](const json&, const std::string&, int64_t) -> core::Result<std::string> {
    return core::fail(core::Errc::kForbidden, "no token for you");
  };
  auto out = prepare_volumes(pod_with(json::parse(R"([{"name": "kube-api", "projected":
      {"sources": [{"serviceAccountToken": {"path": "token"}}]}}])")),
                             node_, getter(), refuse);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code(), core::Errc::kForbidden);
}

TEST_F(VolumesTest, HostPathDirectoryOrCreateCreates) {
  std::string path = dir_->sub("host/data");
  auto out = prepare(host_path_volume(path, "DirectoryOrCreate"));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ((*out)["h"], path);
  EXPECT_TRUE(fs::is_directory(path));
}

TEST_F(VolumesTest, HostPathDirectoryMustExist) {
  std::string path = dir_->sub("host/missing");
  auto out = prepare(host_path_volume(path, "Directory"));
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message().find("volume h"), std::string::npos) << out.error().message();
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(VolumesTest, HostPathFileOrCreateCreatesFile) {
  std::string path = dir_->sub("host/etc/app.conf");
  auto out = prepare(host_path_volume(path, "FileOrCreate"));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_TRUE(fs::is_regular_file(path));
}

// Upstream's hostPath type checker: DirectoryOrCreate over a file (and FileOrCreate over a
// directory) fails the type check instead of mounting the wrong kind of thing.
TEST_F(VolumesTest, HostPathOrCreateChecksExistingType) {
  std::string file = dir_->sub("host-file");
  ASSERT_TRUE(core::write_file_atomic(file, "x"));
  EXPECT_FALSE(prepare(host_path_volume(file, "DirectoryOrCreate")));
  EXPECT_FALSE(prepare(host_path_volume(dir_->path(), "FileOrCreate")));
}

TEST_F(VolumesTest, ClaimResolvesThroughHostPathVolume) {
  std::string path = dir_->sub("pv-data");
  objects_["persistentvolumeclaims/shop/data"] = {{"spec", {{"volumeName", "pv-1"}}}};
  objects_["persistentvolumes//pv-1"] = {
      {"spec", {{"hostPath", {{"path", path}, {"type", "DirectoryOrCreate"}}}}}};
  auto out =
      prepare(json::parse(R"([{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])"));
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ((*out)["data"], path);
  EXPECT_TRUE(fs::is_directory(path));
}

TEST_F(VolumesTest, UnboundClaimFails) {
  objects_["persistentvolumeclaims/shop/data"] = {{"spec", {{"storageClassName", "local"}}}};
  auto out =
      prepare(json::parse(R"([{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}])"));
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message().find("not bound"), std::string::npos) << out.error().message();
}

TEST_F(VolumesTest, HostsFileNamesPodAndAliases) {
  json pod = pod_with(json::array());
  pod["spec"]["hostAliases"] =
      json::parse(R"([{"ip": "10.0.0.9", "hostnames": ["db", "db.lan"]}])");
  ASSERT_TRUE(write_hosts_file(pod, "10.42.0.5", node_));
  std::string hosts = read(dir_->sub("kubelet/pods/uid-1/etc-hosts"));
  EXPECT_TRUE(hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"))
      << hosts;
  EXPECT_NE(hosts.find("\n10.42.0.5\tweb\n"), std::string::npos) << hosts;
  EXPECT_TRUE(hosts.ends_with("\n# Entries added by HostAliases.\n10.0.0.9\tdb\tdb.lan\n"))
      << hosts;
}

TEST_F(VolumesTest, HostsFileUsesSpecHostname) {
  json pod = pod_with(json::array());
  pod["spec"]["hostname"] = "db-0";
  ASSERT_TRUE(write_hosts_file(pod, "10.42.0.5", node_));
  std::string hosts = read(dir_->sub("kubelet/pods/uid-1/etc-hosts"));
  EXPECT_NE(hosts.find("\n10.42.0.5\tdb-0\n"), std::string::npos) << hosts;
  EXPECT_EQ(hosts.find("\tweb\n"), std::string::npos) << hosts;
}

// Upstream writes the HostAliases comment once, then one line per alias.
TEST_F(VolumesTest, HostsFileGroupsAliasesUnderOneComment) {
  json pod = pod_with(json::array());
  pod["spec"]["hostAliases"] = json::parse(
      R"([{"ip": "10.0.0.9", "hostnames": ["db"]}, {"ip": "10.0.0.8", "hostnames": ["mq"]}])");
  ASSERT_TRUE(write_hosts_file(pod, "10.42.0.5", node_));
  EXPECT_TRUE(read(dir_->sub("kubelet/pods/uid-1/etc-hosts"))
                  .ends_with("\n\n# Entries added by HostAliases.\n10.0.0.9\tdb\n10.0.0.8\tmq\n"));
}

// Upstream: with spec.subdomain the pod's line is "<ip>\t<hostname>.<subdomain>.<ns>.svc.<domain>
// \t<hostname>", so a StatefulSet pod resolves its own FQDN.
TEST_F(VolumesTest, HostsFileNamesSubdomainFqdn) {
  json pod = pod_with(json::array());
  pod["spec"]["hostname"] = "db-0";
  pod["spec"]["subdomain"] = "db";
  ASSERT_TRUE(write_hosts_file(pod, "10.42.0.5", node_));
  EXPECT_NE(read(dir_->sub("kubelet/pods/uid-1/etc-hosts"))
                .find("\n10.42.0.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n"),
            std::string::npos);
}

TEST_F(VolumesTest, RemovePodDirRemovesEverything) {
  objects_["configmaps/shop/settings"] = {{"data", {{"a", "A"}}}};
  ASSERT_TRUE(prepare(json::parse(R"([{"name": "scratch", "emptyDir": {}},
      {"name": "cfg", "configMap": {"name": "settings"}}])")));
  ASSERT_TRUE(write_hosts_file(pod_with(json::array()), "10.42.0.5", node_));
  ASSERT_TRUE(fs::exists(dir_->sub("kubelet/pods/uid-1/etc-hosts")));
  remove_pod_dir("uid-1", node_);
  EXPECT_FALSE(fs::exists(dir_->sub("kubelet/pods/uid-1")));
  EXPECT_TRUE(fs::is_directory(dir_->sub("kubelet/pods")));
}

}  // namespace
}  // namespace k3s::agent::kubelet
