#include "installer/plan.h"

#include <gtest/gtest.h>

namespace installer {
namespace {

using Env = std::map<std::string, std::string>;

Plan plan_of(const Env& env, const std::vector<std::string>& words = {}) {
  auto p = make_plan(env, words, "/nonexistent-root");
  EXPECT_TRUE(p) << p.error().message();
  return p ? *p : Plan{};
}

TEST(InstallPlan, DefaultsToServer) {
  Plan p = plan_of({});
  EXPECT_EQ(p.command, "server");
  EXPECT_TRUE(p.args.empty());
  EXPECT_EQ(p.service_name, "k3s");
  EXPECT_EQ(p.bin_dir, "/usr/local/bin");
  EXPECT_EQ(p.systemd_dir, "/etc/systemd/system");
  EXPECT_EQ(p.systemd_type, "notify");
  EXPECT_EQ(p.unit_file(), "/etc/systemd/system/k3s.service");
  EXPECT_EQ(p.env_file(), "/etc/systemd/system/k3s.service.env");
  EXPECT_EQ(p.uninstall_script(), "/usr/local/bin/k3s-uninstall.sh");
  EXPECT_EQ(p.channel, "stable");
}

TEST(InstallPlan, ExecIsSplitAndArgumentsAppended) {
  Plan p = plan_of({{"INSTALL_K3S_EXEC", "server --disable=traefik  --tls-san a"}},
                   {"--node-name", "n 1"});
  EXPECT_EQ(p.command, "server");
  EXPECT_EQ(p.args, (std::vector<std::string>{"--disable=traefik", "--tls-san", "a", "--node-name",
                                              "n 1"}));
  Plan flags_only = plan_of({{"INSTALL_K3S_EXEC", "--disable traefik"}});
  EXPECT_EQ(flags_only.command, "server");
  EXPECT_EQ(flags_only.args, (std::vector<std::string>{"--disable", "traefik"}));
}

TEST(InstallPlan, K3sUrlSelectsAgentAndNeedsToken) {
  auto missing = make_plan({{"K3S_URL", "https://10.0.0.1:6443"}}, {}, "");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("K3S_TOKEN or K3S_TOKEN_FILE is not defined"),
            std::string::npos);
  Plan p = plan_of({{"K3S_URL", "https://10.0.0.1:6443"}, {"K3S_TOKEN_FILE", "/t"}});
  EXPECT_EQ(p.command, "agent");
  EXPECT_EQ(p.service_name, "k3s-agent");
  auto http = make_plan({{"K3S_URL", "http://10.0.0.1:6443"}, {"K3S_TOKEN", "x"}}, {}, "");
  ASSERT_FALSE(http);
  EXPECT_EQ(http.error().message(),
            "Only https:// URLs are supported for K3S_URL (have http://10.0.0.1:6443)");
  // An explicit command wins over K3S_URL.
  EXPECT_EQ(plan_of({{"K3S_URL", "https://s:6443"}}, {"server"}).command, "server");
}

TEST(InstallPlan, NameAndInvalidCharacters) {
  EXPECT_EQ(plan_of({{"INSTALL_K3S_NAME", "edge"}}).service_name, "k3s-edge");
  auto bad = make_plan({{"INSTALL_K3S_NAME", "a;b"}}, {}, "");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("Invalid characters for system name"), std::string::npos);
}

TEST(InstallPlan, SkipDownloadReadOnlyAndSymlinkModes) {
  Plan t = plan_of({{"INSTALL_K3S_SKIP_DOWNLOAD", "true"}});
  EXPECT_TRUE(t.skip_download.binary && t.skip_download.selinux);
  Plan b = plan_of({{"INSTALL_K3S_SKIP_DOWNLOAD", "binary"}});
  EXPECT_TRUE(b.skip_download.binary && !b.skip_download.selinux);
  Plan s = plan_of({{"INSTALL_K3S_SKIP_DOWNLOAD", "selinux"}});
  EXPECT_TRUE(!s.skip_download.binary && s.skip_download.selinux);
  Plan ro = plan_of({{"INSTALL_K3S_BIN_DIR_READ_ONLY", "true"}});
  EXPECT_TRUE(ro.skip_download.binary);
  EXPECT_EQ(ro.symlink, SymlinkMode::kSkip);
  EXPECT_EQ(plan_of({{"INSTALL_K3S_SYMLINK", "force"}}).symlink, SymlinkMode::kForce);
  EXPECT_FALSE(make_plan({{"INSTALL_K3S_BIN_DIR", "relative/bin"}}, {}, ""));
}

TEST(InstallPlan, EnvFileTakesK3sContainerdAndProxiesQuoted) {
  Plan p = plan_of({{"K3S_TOKEN", "it's"},
                    {"CONTAINERD_LOG", "debug"},
                    {"https_proxy", "http://p:3128"},
                    {"NO_PROXY", "10.0.0.0/8"},
                    {"HOME", "/root"},
                    {"INSTALL_K3S_EXEC", "server"}});
  EXPECT_EQ(render_env_file(p),
            "CONTAINERD_LOG='debug'\nK3S_TOKEN='it'\\''s'\nNO_PROXY='10.0.0.0/8'\n"
            "https_proxy='http://p:3128'\n");
}

TEST(InstallPlan, MirrorCnDefaultsAndForcesTheChannelUrl) {
  Plan cn = plan_of({{"INSTALL_K3S_MIRROR", "cn"},
                     {"INSTALL_K3S_CHANNEL_URL", "https://channels.example/v1-release/channels"}});
  EXPECT_EQ(cn.mirror_url, "http://rancher-mirror.rancher.cn");
  EXPECT_EQ(cn.channel_url, "http://rancher-mirror.rancher.cn/k3s/channels");
  EXPECT_TRUE(cn.download_requested);
  Plan own = plan_of({{"INSTALL_K3S_MIRROR_URL", "https://mirror.site:8443/"}});
  EXPECT_EQ(own.mirror_url, "https://mirror.site:8443");
  EXPECT_EQ(own.channel_url, "https://mirror.site:8443/k3s/channels");
  EXPECT_FALSE(make_plan({{"INSTALL_K3S_MIRROR", "CN"}}, {}, ""));
}

TEST(InstallPlan, RegistriesListAndDevelopmentBuildsRefused) {
  Plan p = plan_of({{"INSTALL_K3S_REGISTRIES", " https://r1.site:5000 ,,http://r2.site "}});
  EXPECT_EQ(p.registries, (std::vector<std::string>{"https://r1.site:5000", "http://r2.site"}));
  EXPECT_TRUE(plan_of({}).registries.empty());
  for (const char* key : {"INSTALL_K3S_COMMIT", "INSTALL_K3S_PR"}) {
    auto refused = make_plan({{key, "1234abcd"}}, {}, "");
    ASSERT_FALSE(refused) << key;
    EXPECT_EQ(refused.error().code(), core::Errc::kUnsupported);
    EXPECT_NE(refused.error().message().find(std::string(key) + " is not supported"),
              std::string::npos)
        << refused.error().message();
  }
}

TEST(InstallPlan, DownloadOnlyWhenASourceOrReleaseIsNamed) {
  EXPECT_FALSE(plan_of({}).download_requested);
  Plan a = plan_of({{"INSTALL_K3S_ARTIFACT_URL", "file:///media/usb/releases/"}});
  EXPECT_EQ(a.artifact_url, "file:///media/usb/releases");
  EXPECT_TRUE(a.download_requested);
  EXPECT_EQ(a.channel_url, "https://update.k3s.io/v1-release/channels");
  EXPECT_TRUE(plan_of({{"INSTALL_K3S_VERSION", "v1.32.4+k3s1"}}).download_requested);
  EXPECT_TRUE(plan_of({{"INSTALL_K3S_CHANNEL", "latest"}}).download_requested);
}

}  // namespace
}  // namespace installer
