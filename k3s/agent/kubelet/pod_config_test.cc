// Translating a Pod into CRI messages: $(VAR) expansion, quantities, the sandbox (metadata,
// hostname, log directory, labels, host ports, namespaces, DNS by policy) and each container
// (command, environment from values, the downward API, ConfigMaps and Secrets, mounts, limits).
#include "k3s/agent/kubelet/pod_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"

namespace k3s::agent::kubelet {
namespace {

using json = nlohmann::json;
using Strings = std::vector<std::string>;

json test_pod() {
  return json::parse(R"({
    "metadata": {"name": "web", "namespace": "shop", "uid": "uid-1", "labels": {"app": "web"}},
    "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx:1"}]}
  })");
}

template <typename Repeated>
Strings strings(const Repeated& r) {
  return Strings(r.begin(), r.end());
}

std::map<std::string, std::string> envs(const cri::v1::ContainerConfig& c) {
  std::map<std::string, std::string> out;
  for (const auto& kv : c.envs()) out[kv.key()] = kv.value();
  return out;
}

const cri::v1::Mount* find_mount(const cri::v1::ContainerConfig& c, const std::string& path) {
  for (const auto& m : c.mounts())
    if (m.container_path() == path) return &m;
  return nullptr;
}

class PodConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<core::TempDir>(*core::TempDir::create("k3a-podcfg"));
    node_.node_name = "node-a";
    node_.node_ip = "192.168.1.10";
    node_.cluster_dns = "10.43.0.10";
    node_.kubelet_root = dir_->sub("kubelet");
    node_.resolv_conf = dir_->sub("resolv.conf");  // absent unless a test writes it
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

  core::Result<cri::v1::ContainerConfig> config(const json& container, uint32_t attempt = 0) {
    json pod = test_pod();
    pod["spec"]["containers"] = json::array({container});
    return container_config(pod, container, attempt, "10.42.0.7", node_, getter(), volumes_);
  }

  std::unique_ptr<core::TempDir> dir_;
  NodeContext node_;
  std::map<std::string, json> objects_;
  std::map<std::string, std::string> volumes_;
};

TEST_F(PodConfigTest, ExpandVarsReplacesKnownReferences) {
  EXPECT_EQ(expand_vars("echo $(A)-$(B)", {{"A", "1"}, {"B", "two"}}), "echo 1-two");
}

TEST_F(PodConfigTest, ExpandVarsKeepsEscapedReferenceLiteral) {
  EXPECT_EQ(expand_vars("$$(A) costs $$5", {{"A", "1"}}), "$(A) costs $5");
}

TEST_F(PodConfigTest, ExpandVarsKeepsUnknownReferences) {
  EXPECT_EQ(expand_vars("$(X) and $(A", {{"A", "1"}}), "$(X) and $(A");
}

TEST_F(PodConfigTest, QuantityReadsSuffixes) {
  EXPECT_DOUBLE_EQ(quantity("500m"), 0.5);
  EXPECT_DOUBLE_EQ(quantity("64Mi"), 67108864.0);
  EXPECT_DOUBLE_EQ(quantity("1"), 1.0);
  EXPECT_DOUBLE_EQ(quantity(2), 2.0);
  EXPECT_DOUBLE_EQ(quantity("garbage"), 0.0);
  EXPECT_DOUBLE_EQ(quantity(json::object()), 0.0);
}

TEST_F(PodConfigTest, PodAndLogDirectories) {
  node_.log_root = "/logs";
  EXPECT_EQ(pod_dir(test_pod(), node_), dir_->sub("kubelet/pods/uid-1"));
  EXPECT_EQ(pod_log_dir(test_pod(), node_), "/logs/shop_web_uid-1");
}

TEST_F(PodConfigTest, SandboxMetadataHostnameAndLogDirectory) {
  NodeContext node;  // default log_root
  auto c = sandbox_config(test_pod(), 3, node);
  EXPECT_EQ(c.metadata().name(), "web");
  EXPECT_EQ(c.metadata().namespace_(), "shop");
  EXPECT_EQ(c.metadata().uid(), "uid-1");
  EXPECT_EQ(c.metadata().attempt(), 3u);
  EXPECT_EQ(c.hostname(), "web");
  EXPECT_EQ(c.log_directory(), "/var/log/pods/shop_web_uid-1");
  node.log_root = "/srv/logs";
  EXPECT_EQ(sandbox_config(test_pod(), 0, node).log_directory(), "/srv/logs/shop_web_uid-1");
}

TEST_F(PodConfigTest, SandboxHostnameFromSpec) {
  json pod = test_pod();
  pod["spec"]["hostname"] = "db-0";
  EXPECT_EQ(sandbox_config(pod, 0, node_).hostname(), "db-0");
}

TEST_F(PodConfigTest, SandboxLabelsCarryPodIdentity) {
  auto c = sandbox_config(test_pod(), 0, node_);
  std::map<std::string, std::string> labels(c.labels().begin(), c.labels().end());
  std::map<std::string, std::string> want = {{"app", "web"},
                                             {kPodNameLabel, "web"},
                                             {kPodNamespaceLabel, "shop"},
                                             {kPodUidLabel, "uid-1"}};
  EXPECT_EQ(labels, want);
}

TEST_F(PodConfigTest, SandboxHostPortsBecomePortMappings) {
  json pod = test_pod();
  pod["spec"]["containers"][0]["ports"] = json::parse(R"([
    {"containerPort": 8080, "hostPort": 80},
    {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"}])");
  auto c = sandbox_config(pod, 0, node_);
  ASSERT_EQ(c.port_mappings_size(), 2);
  EXPECT_EQ(c.port_mappings(0).protocol(), cri::v1::TCP);
  EXPECT_EQ(c.port_mappings(0).container_port(), 8080);
  EXPECT_EQ(c.port_mappings(0).host_port(), 80);
  EXPECT_EQ(c.port_mappings(1).protocol(), cri::v1::UDP);
  EXPECT_EQ(c.port_mappings(1).container_port(), 53);
  EXPECT_EQ(c.port_mappings(1).host_port(), 5353);
  EXPECT_EQ(c.port_mappings(1).host_ip(), "127.0.0.1");
}

TEST_F(PodConfigTest, SandboxHostNetworkUsesNodeNamespace) {
  auto pod_network = sandbox_config(test_pod(), 0, node_);
  EXPECT_EQ(pod_network.linux().security_context().namespace_options().network(), cri::v1::POD);
  json pod = test_pod();
  pod["spec"]["hostNetwork"] = true;
  auto c = sandbox_config(pod, 0, node_);
  EXPECT_EQ(c.linux().security_context().namespace_options().network(), cri::v1::NODE);
  EXPECT_EQ(c.hostname(), "");  // the node's own
}

TEST_F(PodConfigTest, ClusterFirstDnsUsesClusterServer) {
  auto dns = sandbox_config(test_pod(), 0, node_).dns_config();
  EXPECT_EQ(strings(dns.servers()), Strings{"10.43.0.10"});
  EXPECT_EQ(strings(dns.searches()),
            (Strings{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}));
  EXPECT_EQ(strings(dns.options()), Strings{"ndots:5"});
}

TEST_F(PodConfigTest, ClusterFirstDnsAppendsHostSearches) {
  ASSERT_TRUE(core::write_file_atomic(node_.resolv_conf,
                                      "nameserver 1.1.1.1\nsearch corp.example\noptions rotate\n"));
  auto dns = sandbox_config(test_pod(), 0, node_).dns_config();
  EXPECT_EQ(strings(dns.servers()), Strings{"10.43.0.10"});
  EXPECT_EQ(strings(dns.searches()), (Strings{"shop.svc.cluster.local", "svc.cluster.local",
                                              "cluster.local", "corp.example"}));
  EXPECT_EQ(strings(dns.options()), Strings{"ndots:5"});
}

TEST_F(PodConfigTest, DefaultDnsReadsHostResolvConf) {
  ASSERT_TRUE(core::write_file_atomic(
      node_.resolv_conf,
      "# comment\nnameserver 1.1.1.1\nnameserver 8.8.8.8\nsearch a.example  b.example\n"
      "options ndots:2 timeout:1\n"));
  json pod = test_pod();
  pod["spec"]["dnsPolicy"] = "Default";
  auto dns = sandbox_config(pod, 0, node_).dns_config();
  EXPECT_EQ(strings(dns.servers()), (Strings{"1.1.1.1", "8.8.8.8"}));
  EXPECT_EQ(strings(dns.searches()), (Strings{"a.example", "b.example"}));
  EXPECT_EQ(strings(dns.options()), (Strings{"ndots:2", "timeout:1"}));
}

TEST_F(PodConfigTest, ClusterFirstWithHostNetworkFallsBackToHostDns) {
  ASSERT_TRUE(core::write_file_atomic(node_.resolv_conf, "nameserver 1.1.1.1\n"));
  json pod = test_pod();
  pod["spec"]["hostNetwork"] = true;
  EXPECT_EQ(strings(sandbox_config(pod, 0, node_).dns_config().servers()), Strings{"1.1.1.1"});
  pod["spec"]["dnsPolicy"] = "ClusterFirstWithHostNet";
  EXPECT_EQ(strings(sandbox_config(pod, 0, node_).dns_config().servers()), Strings{"10.43.0.10"});
}

TEST_F(PodConfigTest, NoneDnsUsesOnlyDnsConfig) {
  ASSERT_TRUE(core::write_file_atomic(node_.resolv_conf, "nameserver 1.1.1.1\nsearch x.y\n"));
  json pod = test_pod();
  pod["spec"]["dnsPolicy"] = "None";
  pod["spec"]["dnsConfig"] = json::parse(R"({"nameservers": ["9.9.9.9"], "searches": ["a.local"],
      "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})");
  auto dns = sandbox_config(pod, 0, node_).dns_config();
  EXPECT_EQ(strings(dns.servers()), Strings{"9.9.9.9"});
  EXPECT_EQ(strings(dns.searches()), Strings{"a.local"});
  EXPECT_EQ(strings(dns.options()), (Strings{"ndots:2", "edns0"}));
}

TEST_F(PodConfigTest, CommandAndArgsExpandFromEnv) {
  auto c = config(json::parse(R"js({"name": "app", "image": "busybox",
      "env": [{"name": "GREETING", "value": "hello"}, {"name": "FULL", "value": "$(GREETING)!"}],
      "command": ["echo", "$(GREETING)"], "args": ["$$(GREETING)", "$(MISSING)", "$(FULL)"]})js"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(strings(c->command()), (Strings{"echo", "hello"}));
  EXPECT_EQ(strings(c->args()), (Strings{"$(GREETING)", "$(MISSING)", "hello!"}));
  EXPECT_EQ(envs(*c)["FULL"], "hello!");
}

TEST_F(PodConfigTest, EnvFromFieldRefs) {
  auto c = config(json::parse(R"({"name": "app", "env": [
      {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
      {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
      {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]})"));
  ASSERT_TRUE(c) << c.error().message();
  auto env = envs(*c);
  EXPECT_EQ(env["NAME"], "web");
  EXPECT_EQ(env["IP"], "10.42.0.7");
  EXPECT_EQ(env["NODE"], "node-a");
}

TEST_F(PodConfigTest, EnvFromConfigMapAndSecretKeys) {
  objects_["configmaps/shop/settings"] = {{"data", {{"mode", "fast"}}}};
  objects_["secrets/shop/creds"] = {{"data", {{"password", "czNjcjN0"}}}};  // "s3cr3t"
  auto c = config(json::parse(R"({"name": "app", "env": [
      {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
      {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}]})"));
  ASSERT_TRUE(c) << c.error().message();
  auto env = envs(*c);
  EXPECT_EQ(env["MODE"], "fast");
  EXPECT_EQ(env["PASS"], "s3cr3t");
}

TEST_F(PodConfigTest, EnvFromWholeObjectsWithPrefix) {
  objects_["configmaps/shop/settings"] = {{"data", {{"mode", "fast"}, {"level", "3"}}}};
  objects_["secrets/shop/creds"] = {{"data", {{"token", "YWJj"}}}};  // "abc"
  auto c = config(json::parse(R"({"name": "app",
      "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "settings"}},
                  {"secretRef": {"name": "creds"}}],
      "env": [{"name": "CFG_level", "value": "9"}]})"));
  ASSERT_TRUE(c) << c.error().message();
  auto env = envs(*c);
  EXPECT_EQ(env["CFG_mode"], "fast");
  EXPECT_EQ(env["CFG_level"], "9");  // env wins over envFrom
  EXPECT_EQ(env["token"], "abc");
  EXPECT_EQ(env.count("mode"), 0u);
  EXPECT_EQ(c->envs_size(), 3);
}

TEST_F(PodConfigTest, OptionalMissingConfigMapIsTolerated) {
  auto c = config(json::parse(R"({"name": "app",
      "envFrom": [{"configMapRef": {"name": "absent", "optional": true}}],
      "env": [{"name": "X", "valueFrom": {"configMapKeyRef":
          {"name": "absent", "key": "x", "optional": true}}}]})"));
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(envs(*c).count("X"), 0u);
}

TEST_F(PodConfigTest, MissingConfigMapFails) {
  auto c = config(json::parse(R"({"name": "app", "env": [
      {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "x"}}}]})"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), core::Errc::kNotFound);
}

TEST_F(PodConfigTest, MissingKeyOfExistingSecretFails) {
  objects_["secrets/shop/creds"] = {{"data", {{"token", "YWJj"}}}};
  auto c = config(json::parse(R"({"name": "app", "env": [
      {"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "other"}}}]})"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), core::Errc::kNotFound);
  EXPECT_NE(c.error().message().find("other"), std::string::npos) << c.error().message();
}

TEST_F(PodConfigTest, KubernetesServiceVariables) {
  auto without = config(json::parse(R"({"name": "app"})"));
  ASSERT_TRUE(without);
  EXPECT_EQ(envs(*without).count("KUBERNETES_SERVICE_HOST"), 0u);
  node_.kubernetes_service_ip = "10.43.0.1";
  auto c = config(json::parse(R"({"name": "app"})"));
  ASSERT_TRUE(c) << c.error().message();
  auto env = envs(*c);
  EXPECT_EQ(env["KUBERNETES_SERVICE_HOST"], "10.43.0.1");
  EXPECT_EQ(env["KUBERNETES_SERVICE_PORT"], "443");
  EXPECT_EQ(env["KUBERNETES_PORT"], "tcp://10.43.0.1:443");
}

TEST_F(PodConfigTest, ResourcesBecomeCgroupLimits) {
  auto c = config(json::parse(R"({"name": "app", "resources": {
      "limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}})"));
  ASSERT_TRUE(c) << c.error().message();
  const auto& r = c->linux().resources();
  EXPECT_EQ(r.cpu_period(), 100000);
  EXPECT_EQ(r.cpu_quota(), 50000);
  EXPECT_EQ(r.cpu_shares(), 256);
  EXPECT_EQ(r.memory_limit_in_bytes(), 67108864);
}

TEST_F(PodConfigTest, VolumeMountsMapToHostPaths) {
  volumes_ = {{"data", dir_->sub("vol-data")}, {"conf", dir_->sub("vol-conf")}};
  auto c = config(json::parse(R"({"name": "app", "volumeMounts": [
      {"name": "data", "mountPath": "/data", "readOnly": true},
      {"name": "conf", "mountPath": "/etc/app", "subPath": "sub/dir"}]})"));
  ASSERT_TRUE(c) << c.error().message();
  const cri::v1::Mount* data = find_mount(*c, "/data");
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->host_path(), dir_->sub("vol-data"));
  EXPECT_TRUE(data->readonly());
  const cri::v1::Mount* conf = find_mount(*c, "/etc/app");
  ASSERT_NE(conf, nullptr);
  EXPECT_EQ(conf->host_path(), dir_->sub("vol-conf/sub/dir"));
  EXPECT_FALSE(conf->readonly());
  EXPECT_TRUE(std::filesystem::is_directory(dir_->sub("vol-conf/sub/dir")));
}

TEST_F(PodConfigTest, SubPathLeavingVolumeIsRefused) {
  volumes_ = {{"conf", dir_->sub("vol-conf")}};
  for (const char* sub : {"..", "../etc", "a/../../etc", "/etc"}) {
    json mount = {{"name", "conf"}, {"mountPath", "/x"}, {"subPath", sub}};
    json container = {{"name", "app"}, {"volumeMounts", json::array({mount})}};
    auto c = config(container);
    ASSERT_FALSE(c) << sub;
    EXPECT_EQ(c.error().code(), core::Errc::kInvalid) << sub;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_->sub("etc")));
}

TEST_F(PodConfigTest, MountOfUnknownVolumeFails) {
  auto c = config(json::parse(R"({"name": "app",
      "volumeMounts": [{"name": "nope", "mountPath": "/x"}]})"));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), core::Errc::kInvalid);
  EXPECT_NE(c.error().message().find("nope"), std::string::npos) << c.error().message();
}

TEST_F(PodConfigTest, TerminationLogIsMounted) {
  auto c = config(json::parse(R"({"name": "app"})"), 2);
  ASSERT_TRUE(c) << c.error().message();
  const cri::v1::Mount* log = find_mount(*c, "/dev/termination-log");
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->host_path().starts_with(dir_->sub("kubelet/pods/uid-1/containers/app/")))
      << log->host_path();
  EXPECT_TRUE(std::filesystem::is_regular_file(log->host_path()));
}

TEST_F(PodConfigTest, EtcHostsMountedOnceWritten) {
  auto before = config(json::parse(R"({"name": "app"})"));
  ASSERT_TRUE(before);
  EXPECT_EQ(find_mount(*before, "/etc/hosts"), nullptr);
  ASSERT_TRUE(core::make_dirs(pod_dir(test_pod(), node_)));
  ASSERT_TRUE(core::write_file_atomic(pod_dir(test_pod(), node_) + "/etc-hosts", "x"));
  auto c = config(json::parse(R"({"name": "app"})"));
  ASSERT_TRUE(c) << c.error().message();
  const cri::v1::Mount* hosts = find_mount(*c, "/etc/hosts");
  ASSERT_NE(hosts, nullptr);
  EXPECT_EQ(hosts->host_path(), dir_->sub("kubelet/pods/uid-1/etc-hosts"));
}

TEST_F(PodConfigTest, ContainerLabelsAndLogPath) {
  auto c = config(json::parse(R"({"name": "app", "image": "nginx:1"})"), 4);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->metadata().name(), "app");
  EXPECT_EQ(c->metadata().attempt(), 4u);
  EXPECT_EQ(c->image().image(), "nginx:1");
  EXPECT_EQ(c->log_path(), "app/4.log");
  std::map<std::string, std::string> labels(c->labels().begin(), c->labels().end());
  EXPECT_EQ(labels[kContainerNameLabel], "app");
  EXPECT_EQ(labels[kPodNameLabel], "web");
  EXPECT_EQ(labels[kPodNamespaceLabel], "shop");
  EXPECT_EQ(labels[kPodUidLabel], "uid-1");
}

}  // namespace
}  // namespace k3s::agent::kubelet
