#include "bundler/format/image_check.h"

#include "bundler/bundle_test_support.h"
#include "core/crypto/sha256.h"
#include "images/builder.h"
#include "images/oci_archive.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace bundler {
namespace {

class ImageCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!images::testing::make_busybox_rootfs(dir_.sub("rootfs")))
      GTEST_SKIP() << "no /bin/busybox";
    auto store = images::BlobStore::open(dir_.sub("store"));
    ASSERT_TRUE(store);
    auto platform = *images::Platform::parse("linux/amd64");
    ASSERT_OK_AND_ASSIGN(
        manifest_,
        images::build_image(images::testing::busybox_spec(dir_.sub("rootfs"), platform), *store));
    ref_ = *images::Reference::parse("docker.io/rancher/mirrored-pause:3.6");
    images::testing::StringSink sink;
    ASSERT_OK(images::write_oci_archive({{ref_, manifest_, std::nullopt}}, *store, sink, 0));
    archive_ = sink.str();
  }

  // A signed bundle carrying `archive` as the amd64 image archive and pinning `pinned_digest`.
  core::Result<VerifyReport> verify_with(const std::string& archive,
                                         const std::string& pinned_digest) {
    BundleManifest m = testing::manifest_for({});
    m.files.push_back({.path = "images/k3s-airgap-images-amd64.tar",
                       .size = archive.size(),
                       .sha256 = core::Sha256::hex_of(archive),
                       .mode = 0644,
                       .role = FileRole::kImages,
                       .arch = "amd64"});
    m.images.push_back({ref_.str(), pinned_digest, {{"linux/amd64", pinned_digest}}});
    std::string mj = serialize_manifest(m);
    std::string path = testing::write_raw_bundle(
        dir_, "img.tar.zst", mj, testing::sign_json(key_, mj),
        {{{.path = "images/k3s-airgap-images-amd64.tar", .mode = 0644}, archive}});
    return testing::verify_file(path, {.trusted = {key_.public_key()}});
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  core::PrivateKey key_ = *core::PrivateKey::generate();
  images::Descriptor manifest_;
  images::Reference ref_;
  std::string archive_;
};

TEST_F(ImageCheckTest, PinnedArchiveVerifiesEveryBlob) {
  ASSERT_OK_AND_ASSIGN(VerifyReport r, verify_with(archive_, manifest_.digest));
  EXPECT_EQ(r.image_blobs, 3u);  // manifest, config, layer
}

// A trusted signer who signs a corrupt archive still cannot get it past verification.
TEST_F(ImageCheckTest, BlobNotMatchingItsDigestIsRefused) {
  auto items = images::testing::read_tar(archive_);
  images::testing::TarItem* biggest = nullptr;
  for (auto& item : items) {
    if (!biggest || item.data.size() > biggest->data.size()) biggest = &item;
  }
  biggest->data[biggest->data.size() / 2] ^= 1;
  auto r = verify_with(images::testing::write_tar(items), manifest_.digest);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(r.error().message().find("content has digest"), std::string::npos)
      << r.error().message();
}

TEST_F(ImageCheckTest, ArchiveMustHoldExactlyThePinnedImages) {
  std::string other = "sha256:" + std::string(64, 'a');
  auto r = verify_with(archive_, other);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("pinned by bundle.json is missing"), std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace bundler
