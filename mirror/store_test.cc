// The mirror's index: k3s version order (channels follow the highest), and an index that does
// not parse is an error, not an empty mirror.
#include "mirror/store.h"

#include <gtest/gtest.h>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"

namespace mirror {
namespace {

TEST(MirrorStoreTest, VersionsOrderByTheirNumbers) {
  EXPECT_TRUE(version_less("v1.32.4+k3s1", "v1.32.10+k3s1"));
  EXPECT_TRUE(version_less("v1.32.10+k3s1", "v1.33.0+k3s1"));
  EXPECT_TRUE(version_less("v1.32.4+k3s1", "v1.32.4+k3s2"));
  EXPECT_FALSE(version_less("v1.32.4+k3s1", "v1.32.4+k3s1"));
  EXPECT_FALSE(version_less("v1.33.0+k3s1", "v1.32.9+k3s1"));
}

TEST(MirrorStoreTest, IndexRoundTripsAndDamageIsAnError) {
  auto dir = core::TempDir::create("k3a-mirror");
  ASSERT_TRUE(dir);
  auto empty = load_index(dir->path());
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->releases.empty());
  Index index;
  index.releases["v1.32.4+k3s1"]["k3s"] = {"sha256:" + std::string(64, 'a'), 42};
  index.channels["stable"] = "v1.32.4+k3s1";
  index.repositories["rancher/mirrored-pause"]["3.6"] = {
      "sha256:" + std::string(64, 'b'), "application/vnd.oci.image.manifest.v1+json"};
  index.origins["rancher/mirrored-pause"] = "docker.io";
  ASSERT_TRUE(save_index(dir->path(), index));
  auto back = load_index(dir->path());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->releases.at("v1.32.4+k3s1").at("k3s").size, 42u);
  EXPECT_EQ(back->channels.at("stable"), "v1.32.4+k3s1");
  EXPECT_EQ(back->origins.at("rancher/mirrored-pause"), "docker.io");
  ASSERT_TRUE(core::write_file_atomic(dir->sub("index.json"), "{\"releases\": 3}"));
  auto damaged = load_index(dir->path());
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code(), core::Errc::kInvalid);
}

}  // namespace
}  // namespace mirror
