#include "installer/render.h"

#include <gtest/gtest.h>

#include <regex>

namespace installer {
namespace {

Plan sample(const std::map<std::string, std::string>& env, std::vector<std::string> words) {
  auto p = make_plan(env, words, "/nonexistent-root");
  EXPECT_TRUE(p);
  return *p;
}

TEST(InstallRender, SystemdUnitHasUpstreamSettings) {
  std::string unit = render_systemd_unit(sample({}, {"server", "--disable", "it's"}));
  for (const char* line :
       {"Type=notify\n", "KillMode=process\n", "Delegate=yes\n", "Restart=always\n",
        "RestartSec=5s\n", "LimitNOFILE=1048576\n", "LimitNPROC=infinity\n", "LimitCORE=infinity\n",
        "TasksMax=infinity\n", "TimeoutStartSec=0\n", "EnvironmentFile=-/etc/default/%N\n",
        "EnvironmentFile=-/etc/sysconfig/%N\n",
        "EnvironmentFile=-/etc/systemd/system/k3s.service.env\n",
        "ExecStartPre=-/sbin/modprobe br_netfilter\n", "ExecStartPre=-/sbin/modprobe overlay\n",
        "WantedBy=multi-user.target\n"}) {
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  }
  EXPECT_NE(unit.find("ExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--disable' \\\n"
                      "\t'it'\\''s' \\\n\n"),
            std::string::npos)
      << unit;
}

TEST(InstallRender, TypeAndAgentNames) {
  auto p =
      sample({{"INSTALL_K3S_TYPE", "exec"}, {"K3S_URL", "https://s:6443"}, {"K3S_TOKEN", "t"}}, {});
  std::string unit = render_systemd_unit(p);
  EXPECT_NE(unit.find("Type=exec\n"), std::string::npos);
  EXPECT_NE(unit.find("EnvironmentFile=-/etc/systemd/system/k3s-agent.service.env"),
            std::string::npos);
  std::string uninstall = render_uninstall(p);
  EXPECT_NE(uninstall.find("systemctl disable k3s-agent"), std::string::npos);
  EXPECT_NE(uninstall.find("rm -f /usr/local/bin/k3s-agent-uninstall.sh"), std::string::npos);
  EXPECT_FALSE(std::regex_search(uninstall, std::regex("@[A-Z_]+@"))) << "unfilled placeholder";
}

TEST(InstallRender, ScriptsHaveNoPlaceholdersLeft) {
  Plan p = sample({}, {});
  for (const std::string& s : {render_killall(p), render_openrc_script(p), render_logrotate(p)}) {
    EXPECT_FALSE(std::regex_search(s, std::regex("@[A-Z_]+@"))) << s;
  }
  EXPECT_NE(render_openrc_script(p).find("command=\"/usr/local/bin/k3s\""), std::string::npos);
  EXPECT_NE(render_killall(p).find("K3S_DATA_DIR=${K3S_DATA_DIR:-/var/lib/rancher/k3s}"),
            std::string::npos);
}

}  // namespace
}  // namespace installer
