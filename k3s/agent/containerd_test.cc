#include "k3s/agent/containerd.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "core/grpc/grpc_client.h"

namespace k3s::agent {
namespace {

ContainerdSettings settings(const std::string& dir) {
  return {.binary = find_binary("containerd").value_or(""),
          .root = dir + "/agent/containerd",
          .state = dir + "/run",
          .socket = dir + "/run/containerd.sock",
          .config_dir = dir + "/agent/etc/containerd",
          .pause_image = "docker.io/rancher/mirrored-pause:3.6",
          .cni_bin_dir = dir + "/bin",
          .cni_conf_dir = dir + "/agent/etc/cni/net.d"};
}

TEST(Containerd, BundledBinariesLastUnlessPreferred) {
  auto dir = core::TempDir::create("k3a-bundled");
  ASSERT_TRUE(dir);
  for (const char* tool : {"sh", "k3a-only-bundled"})
    ASSERT_TRUE(core::write_file_atomic(dir->sub(tool), "#!/bin/sh\n", 0755));
  EXPECT_EQ(find_binary("k3a-only-bundled", dir->path()), dir->sub("k3a-only-bundled"));
  EXPECT_NE(find_binary("sh", dir->path()), dir->sub("sh"));
  EXPECT_EQ(find_binary("sh", dir->path(), true), dir->sub("sh"));
  EXPECT_FALSE(find_binary("k3a-nowhere", dir->path(), true));
}

TEST(Containerd, ConfigUsesK3sPaths) {
  std::string c = containerd_config(settings("/var/lib/rancher/k3s"));
  for (const char* want :
       {"root = \"/var/lib/rancher/k3s/agent/containerd\"",
        "address = \"/var/lib/rancher/k3s/run/containerd.sock\"",
        "sandbox_image = \"docker.io/rancher/mirrored-pause:3.6\"", "snapshotter = \"overlayfs\"",
        "config_path = \"/var/lib/rancher/k3s/agent/etc/containerd/certs.d\"",
        "runtime_type = \"io.containerd.runc.v2\""}) {
    EXPECT_NE(c.find(want), std::string::npos) << want << "\n" << c;
  }
}

TEST(Containerd, HostsFilesFromRegistriesYaml) {
  auto cfg = images::RegistryConfig::parse_yaml(R"yaml(
mirrors:
  docker.io:
    endpoint: ["https://mirror.local:5000", "http://10.0.0.1:5000/v2/prefix"]
    rewrite: {"^library/(.*)": "mirrored/$1"
}
  "*":
    endpoint: ["https://mirror.local:5000"]
configs:
  mirror.local:5000:
    tls: {ca_file: /etc/ssl/mirror-ca.pem, insecure_skip_verify: true}
)yaml");
  ASSERT_TRUE(cfg) << cfg.error().message();
  auto files = hosts_files(*cfg);
  ASSERT_EQ(files.size(), 2u);
  const std::string& d = files["docker.io"];
  EXPECT_NE(d.find("server = \"https://registry-1.docker.io\""), std::string::npos) << d;
  size_t first = d.find("[host.\"https://mirror.local:5000\"]");
  size_t second = d.find("[host.\"http://10.0.0.1:5000/v2/prefix\"]");
  ASSERT_NE(first, std::string::npos) << d;
  ASSERT_NE(second, std::string::npos) << d;
  EXPECT_LT(first, second);  // the order of registries.yaml
  EXPECT_NE(d.find("override_path = true"), std::string::npos);
  EXPECT_NE(d.find("ca = \"/etc/ssl/mirror-ca.pem\""), std::string::npos);
  EXPECT_NE(d.find("skip_verify = true"), std::string::npos);
  EXPECT_NE(d.find("\"^library/(.*)\" = \"mirrored/$1\""), std::string::npos) << d;
  EXPECT_EQ(files["_default"].find("server ="), std::string::npos);
}

TEST(Containerd, SupervisedAndRestartedWhenItDies) {
  if (::geteuid() != 0 || !find_binary("containerd")) GTEST_SKIP() << "needs root and containerd";
  auto dir = core::TempDir::create("k3a-ctrd");
  ASSERT_TRUE(dir);
  ContainerdSettings s = settings(dir->path());
  s.cri = false;
  ContainerdSupervisor sup(s);
  auto started = sup.start({});
  ASSERT_TRUE(started) << started.error().message();
  EXPECT_FALSE(sup.version().empty());
  EXPECT_TRUE(core::path_exists(s.config_dir + "/config.toml"));
  pid_t first = sup.pid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  for (int i = 0; i < 200 && sup.restarts() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(sup.restarts(), 1);
  EXPECT_NE(sup.pid(), first);
  core::grpc::Client client(s.socket);
  EXPECT_TRUE(client.call("/containerd.services.version.v1.Version/Version", ""));
  sup.stop();
  EXPECT_FALSE(client.call("/containerd.services.version.v1.Version/Version", ""));
}

}  // namespace
}  // namespace k3s::agent
