#include "k3s/config/config_file.h"

#include <gtest/gtest.h>

#include "core/fs/files.h"
#include "tests/support/test_support.h"

namespace k3s::config {
namespace {

FlagSpec spec() {
  return {.known = {"data-dir", "token", "tls-san", "node-label", "disable",
                    "write-kubeconfig-mode", "disable-agent"},
          .lists = {"tls-san", "node-label", "disable"},
          .aliases = {{"d", "data-dir"}, {"t", "token"}}};
}

TEST(ConfigFile, FlagsGoBeforeTheCommandLineAndDropInsMerge) {
  auto dir = testing_support::make_temp_dir();
  std::string main = dir.sub("config.yaml");
  ASSERT_OK(core::write_file_atomic(main, R"(
token: from-main
tls-san: [a.example, b.example]
node-label: ["x=1"]
write-kubeconfig-mode: "0644"
disable-agent: true
bogus-flag: 1
)"));
  ASSERT_OK(core::make_dirs(main + ".d"));
  ASSERT_OK(core::write_file_atomic(main + ".d/20-second.YML", "token: from-20\n"));
  ASSERT_OK(
      core::write_file_atomic(main + ".d/10-first.yaml", "node-label+: y=2\ndisable: traefik\n"));
  ASSERT_OK(core::write_file_atomic(main + ".d/ignored.txt", "token: nope\n"));
  std::vector<std::string> warnings;
  ASSERT_OK_AND_ASSIGN(auto args,
                       merge_config(main, {"--disable", "servicelb", "-d", "/data"}, spec(),
                                    [&](std::string w) { warnings.push_back(std::move(w)); }));
  EXPECT_EQ(args,
            (std::vector<std::string>{"--token=from-20", "--tls-san=a.example",
                                      "--tls-san=b.example", "--node-label=x=1", "--node-label=y=2",
                                      "--write-kubeconfig-mode=0644", "--disable-agent=true",
                                      // the command line's --disable replaces the file's list
                                      "--disable", "servicelb", "-d", "/data"}));
  EXPECT_EQ(warnings,
            (std::vector<std::string>{"Unknown flag --bogus-flag found in config.yaml, skipping"}));
}

TEST(ConfigFile, MissingFilesAndBadYaml) {
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(
      auto args, merge_config(dir.sub("none.yaml"), {"--token=x"}, spec(), [](std::string) {}));
  EXPECT_EQ(args, (std::vector<std::string>{"--token=x"}));
  ASSERT_OK(core::write_file_atomic(dir.sub("bad.yaml"), "token: [unclosed\n"));
  auto bad = merge_config(dir.sub("bad.yaml"), {}, spec(), [](std::string) {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("bad.yaml"), std::string::npos);
  ASSERT_OK(core::write_file_atomic(dir.sub("list.yaml"), "- a\n- b\n"));
  EXPECT_FALSE(merge_config(dir.sub("list.yaml"), {}, spec(), [](std::string) {}));
}

TEST(ConfigFile, PathSelection) {
  EXPECT_EQ(config_path({}, nullptr), "/etc/rancher/k3s/config.yaml");
  EXPECT_EQ(config_path({"--config", "/a.yaml"}, nullptr), "/a.yaml");
  EXPECT_EQ(config_path({"-c=/b.yaml"}, nullptr), "/b.yaml");
  EXPECT_EQ(config_path({"--config", "/a.yaml"}, "/env.yaml"), "/env.yaml");
}

}  // namespace
}  // namespace k3s::config
