// The registry client against a real docker-registry (distribution 2.8): push/pull round trips,
// skopeo as an independent client in both directions, and registries.yaml mirrors.
#include <fcntl.h>

#include <nlohmann/json.hpp>

#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "core/serde/json.h"
#include "images/builder.h"
#include "images/registry_client.h"
#include "images/registry_test_support.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing_support::have_program;
using testing_support::run;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_program("docker-registry")) GTEST_SKIP() << "docker-registry is not installed";
    ASSERT_OK_AND_ASSIGN(registry_, testing::LocalRegistry::start(dir_.sub("registry")));
    ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir_.sub("store")));
    store_.emplace(std::move(store));
    ASSERT_OK_AND_ASSIGN(manifests_, testing::build_busybox_images(dir_.path(), *store_,
                                                                   {"linux/amd64", "linux/arm64"}));
  }

  Reference at_registry(const std::string& rest) {
    return Reference::parse(registry_->host() + "/" + rest).value();
  }
  BlobStore fresh_store(const std::string& name) { return BlobStore::open(dir_.sub(name)).value(); }
  // Pushes the amd64 image (or both, as an index) under rest.
  void push(const std::string& rest, bool both = false) {
    std::vector<ArchiveImage> images{{at_registry(rest), manifests_[0], std::nullopt}};
    if (both) images.push_back({at_registry(rest), manifests_[1], std::nullopt});
    RegistryClient client;
    ASSERT_OK(client.push(at_registry(rest), images, *store_));
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  std::unique_ptr<testing::LocalRegistry> registry_;
  std::optional<BlobStore> store_;
  std::vector<Descriptor> manifests_;
};

TEST_F(RegistryTest, PushThenPullSinglePlatform) {
  push("test/busybox:1");
  RegistryClient client;
  ASSERT_OK_AND_ASSIGN(Descriptor top, client.resolve(at_registry("test/busybox:1")));
  EXPECT_EQ(top.digest, manifests_[0].digest);
  EXPECT_EQ(top.media_type, kOciManifest);
  EXPECT_EQ(top.size, manifests_[0].size);

  BlobStore pulled = fresh_store("pulled");
  ASSERT_OK_AND_ASSIGN(auto images, client.pull(at_registry("test/busybox:1"), pulled,
                                                {.platforms = {Platform{"linux", "amd64", ""}}}));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].ref.str(), registry_->host() + "/test/busybox:1");
  EXPECT_EQ(images[0].manifest.digest, manifests_[0].digest);
  ASSERT_TRUE(images[0].manifest.platform);
  EXPECT_EQ(images[0].manifest.platform->str(), "linux/amd64");
  EXPECT_FALSE(images[0].index_digest);
  ASSERT_OK_AND_ASSIGN(std::string bytes, pulled.read(manifests_[0].digest));
  ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(bytes));
  EXPECT_TRUE(pulled.has(m.config.digest));
  EXPECT_TRUE(pulled.has(m.layers[0].digest));

  // A single-platform image for another platform is not what was asked for.
  BlobStore other = fresh_store("other");
  auto wrong = client.pull(at_registry("test/busybox:1"), other,
                           {.platforms = {Platform{"linux", "arm64", "v8"}}});
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), core::Errc::kNotFound);
  EXPECT_NE(wrong.error().message().find("linux/arm64"), std::string::npos);

  if (!have_program("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  auto out = run({"skopeo", "inspect", "--tls-verify=false",
                  "docker://" + registry_->host() + "/test/busybox:1"});
  ASSERT_EQ(out.exit_code, 0) << out.out;
  ASSERT_OK_AND_ASSIGN(core::Json j, core::parse_json(out.out));
  EXPECT_EQ(j["Digest"], manifests_[0].digest);
  EXPECT_EQ(j["Architecture"], "amd64");
  EXPECT_EQ(j["Layers"], core::Json::array({m.layers[0].digest}));
}

TEST_F(RegistryTest, PushThenPullIndex) {
  push("test/multi:2", /*both=*/true);
  ASSERT_OK_AND_ASSIGN(Descriptor index, build_index(manifests_, *store_));
  RegistryClient client;
  ASSERT_OK_AND_ASSIGN(Descriptor top, client.resolve(at_registry("test/multi:2")));
  EXPECT_EQ(top.digest, index.digest);
  EXPECT_EQ(top.media_type, kOciIndex);

  BlobStore pulled = fresh_store("pulled");
  ASSERT_OK_AND_ASSIGN(auto images, client.pull(at_registry("test/multi:2"), pulled,
                                                {.platforms = {Platform{"linux", "arm64", "v8"}}}));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].manifest.digest, manifests_[1].digest);
  EXPECT_EQ(images[0].index_digest, index.digest);
  EXPECT_FALSE(pulled.has(manifests_[0].digest));  // the other platform was not fetched

  // Pinned to the index digest, both platforms by default (empty list = all).
  BlobStore all = fresh_store("all");
  ASSERT_OK_AND_ASSIGN(
      auto both, client.pull(at_registry("test/multi:2"), all, {.pinned_digest = index.digest}));
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].manifest.digest, manifests_[0].digest);
  EXPECT_EQ(both[1].manifest.digest, manifests_[1].digest);

  // A pin the registry's content does not have.
  auto pinned =
      client.pull(at_registry("test/multi:2"), all,
                  {.pinned_digest = manifests_[0].digest.substr(0, 7) + std::string(64, 'a')});
  ASSERT_FALSE(pinned);
  EXPECT_EQ(pinned.error().code(), core::Errc::kNotFound) << pinned.error().message();
  EXPECT_NE(pinned.error().message().find("manifest sha256:aaaa"), std::string::npos)
      << pinned.error().message();
  EXPECT_NE(pinned.error().message().find("manifest unknown (404)"), std::string::npos)
      << pinned.error().message();

  auto missing = client.pull(at_registry("test/multi:2"), all,
                             {.platforms = {Platform{"linux", "s390x", ""}}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), core::Errc::kNotFound);
  EXPECT_NE(missing.error().message().find("no manifest for platform linux/s390x"),
            std::string::npos)
      << missing.error().message();

  if (!have_program("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  auto raw = run({"skopeo", "inspect", "--raw", "--tls-verify=false",
                  "docker://" + registry_->host() + "/test/multi:2"});
  ASSERT_EQ(raw.exit_code, 0) << raw.out;
  ASSERT_OK_AND_ASSIGN(Index parsed, parse_index(raw.out));
  ASSERT_EQ(parsed.manifests.size(), 2u);
  EXPECT_EQ(parsed.manifests[1].digest, manifests_[1].digest);
}

TEST_F(RegistryTest, PullsWhatSkopeoPushed) {
  if (!have_program("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  std::string archive = dir_.sub("busybox.tar");
  {
    ASSERT_OK_AND_ASSIGN(core::Fd fd, core::Fd::open(archive, O_WRONLY | O_CREAT | O_TRUNC));
    core::FdSink sink(fd);
    ASSERT_OK(write_oci_archive(
        {{Reference::parse("busybox:skopeo").value(), manifests_[0], std::nullopt}}, *store_, sink,
        0));
    ASSERT_OK(fd.close());
  }
  auto copy = run({"skopeo", "copy", "--dest-tls-verify=false", "oci-archive:" + archive,
                   "docker://" + registry_->host() + "/from/skopeo:1"});
  ASSERT_EQ(copy.exit_code, 0) << copy.out;
  RegistryClient client;
  BlobStore pulled = fresh_store("pulled");
  ASSERT_OK_AND_ASSIGN(auto images, client.pull(at_registry("from/skopeo:1"), pulled,
                                                {.platforms = {Platform{"linux", "amd64", ""}}}));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].manifest.digest, manifests_[0].digest);
}

TEST_F(RegistryTest, PullsThroughDockerHubMirror) {
  push("library/busybox:mirrored");
  ASSERT_OK_AND_ASSIGN(RegistryConfig config,
                       RegistryConfig::parse_yaml(fmt::format(
                           "mirrors:\n  docker.io:\n    endpoint: [\"{}\"]\n", registry_->url())));
  config.disable_default_endpoint = true;  // nothing may leave this host
  RegistryClient client(config);
  BlobStore pulled = fresh_store("pulled");
  ASSERT_OK_AND_ASSIGN(auto images,
                       client.pull(Reference::parse("busybox:mirrored").value(), pulled,
                                   {.platforms = {Platform{"linux", "amd64", ""}}}));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].ref.str(),
            "docker.io/library/busybox:mirrored");  // the original name
  EXPECT_EQ(images[0].manifest.digest, manifests_[0].digest);

  // The error of the last endpoint names the reference, the endpoint and the cause.
  auto missing = client.pull(Reference::parse("busybox:absent").value(), pulled, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), core::Errc::kNotFound);
  EXPECT_EQ(missing.error().message(),
            fmt::format("pull docker.io/library/busybox:absent: {}: manifest unknown (404)",
                        registry_->url()))
      << missing.error().message();
}

TEST_F(RegistryTest, RewritesRepositoryAndFallsThroughADownMirror) {
  push("mirrored/team/app:3");
  int down = testing_support::free_port();  // nothing listens there: connection refused
  ASSERT_OK_AND_ASSIGN(RegistryConfig config,
                       RegistryConfig::parse_yaml(fmt::format(R"Y(
mirrors:
  registry.example.com:
    endpoint: ["http://127.0.0.1:{}", "{}"]
    rewrite:
      "^team/(.*)": "mirrored/team/$1"
)Y",
                                                              down, registry_->url())));
  config.disable_default_endpoint = true;
  RegistryClient client(config, {.retries = 0});
  BlobStore pulled = fresh_store("pulled");
  ASSERT_OK_AND_ASSIGN(
      auto images, client.pull(Reference::parse("registry.example.com/team/app:3").value(), pulled,
                               {.platforms = {Platform{"linux", "amd64", ""}}}));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].ref.str(), "registry.example.com/team/app:3");
  EXPECT_EQ(images[0].manifest.digest, manifests_[0].digest);

  // Without the working mirror, the down one's error is the answer.
  config.mirrors["registry.example.com"].endpoints.pop_back();
  RegistryClient down_only(config, {.retries = 0});
  auto failed = down_only.resolve(Reference::parse("registry.example.com/team/app:3").value());
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), core::Errc::kUnavailable);
  EXPECT_NE(failed.error().message().find(fmt::format("http://127.0.0.1:{}", down)),
            std::string::npos)
      << failed.error().message();
}

}  // namespace
}  // namespace images
