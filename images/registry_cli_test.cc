// `k3s-airgap images pull` and `images push` as a user runs them, against a real registry.
#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <set>

#include "core/fs/files.h"
#include "core/serde/json.h"
#include "images/registry_client.h"
#include "images/registry_test_support.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing_support::have_program;
using testing_support::run;

class RegistryCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_program("docker-registry")) GTEST_SKIP() << "docker-registry is not installed";
    cli_ = testing_support::bin_dir() + "/k3s-airgap";
    if (!core::path_exists(cli_)) GTEST_SKIP() << cli_ << " is not built";
    ASSERT_OK_AND_ASSIGN(registry_, testing::LocalRegistry::start(dir_.sub("registry")));
    ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir_.sub("store")));
    ASSERT_OK_AND_ASSIGN(manifests_, testing::build_busybox_images(dir_.path(), store,
                                                                   {"linux/amd64", "linux/arm64"}));
    RegistryClient client;
    Reference ref = Reference::parse(registry_->host() + "/test/busybox:1").value();
    ASSERT_OK(client.push(
        ref, {{ref, manifests_[0], std::nullopt}, {ref, manifests_[1], std::nullopt}}, store));
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  std::string cli_;
  std::unique_ptr<testing::LocalRegistry> registry_;
  std::vector<Descriptor> manifests_;
};

TEST_F(RegistryCliTest, PullListPush) {
  std::string archive = dir_.sub("out/images.tar");
  ASSERT_OK(core::make_dirs(dir_.sub("out")));
  auto pulled = run({cli_, "images", "pull", registry_->host() + "/test/busybox:1", "--platform",
                     "linux/amd64,linux/arm64", "-o", archive, "--format", "json"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out;
  ASSERT_OK_AND_ASSIGN(core::Json pj, core::parse_json(pulled.out));
  EXPECT_EQ(pj["images"].size(), 2u);

  auto listed = run({cli_, "images", "list", archive, "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.out;
  ASSERT_OK_AND_ASSIGN(core::Json lj, core::parse_json(listed.out));
  ASSERT_EQ(lj["images"].size(), 2u);
  std::set<std::string> digests;
  for (const auto& i : lj["images"]) {
    EXPECT_EQ(i["reference"], registry_->host() + "/test/busybox:1");
    digests.insert(i["digest"].get<std::string>());
  }
  EXPECT_EQ(digests, (std::set<std::string>{manifests_[0].digest, manifests_[1].digest}));
  // Nothing but the archive is left beside it.
  auto dir = run({"ls", "-A", dir_.sub("out")});
  EXPECT_EQ(dir.out, "images.tar\n");

  auto pushed = run({cli_, "images", "push", archive, "--to", registry_->host() + "/site"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out;
  EXPECT_NE(pushed.out.find("to " + registry_->host() + "/site/test/busybox:1 (2 manifests)"),
            std::string::npos)
      << pushed.out;
  RegistryClient client;
  ASSERT_OK_AND_ASSIGN(
      Descriptor top,
      client.resolve(Reference::parse(registry_->host() + "/site/test/busybox:1").value()));
  EXPECT_EQ(top.media_type, kOciIndex);
}

TEST_F(RegistryCliTest, ErrorsAreOneLineWithExitCode) {
  auto missing =
      run({cli_, "images", "pull", registry_->host() + "/test/absent:1", "-o", dir_.sub("x.tar")});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_EQ(missing.out,
            fmt::format("k3s-airgap: pull {}/test/absent:1: {}: manifest unknown (404)\n",
                        registry_->host(), registry_->url()));
  EXPECT_FALSE(core::path_exists(dir_.sub("x.tar")));

  auto bad_to = run({cli_, "images", "push", dir_.sub("x.tar"), "--to", "no-registry"});
  EXPECT_NE(bad_to.exit_code, 0);
  EXPECT_NE(bad_to.out.find("--to no-registry: expected HOST[:PORT][/prefix]"), std::string::npos)
      << bad_to.out;
}

}  // namespace
}  // namespace images
