#include "images/builder.h"

#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <nlohmann/json.hpp>

#include "core/fs/files.h"
#include "core/serde/json.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

struct Built {
  Descriptor manifest_desc;
  Manifest manifest;
  std::string config;
};

Built build(const BuildSpec& spec, BlobStore& store) {
  Built b;
  auto d = build_image(spec, store);
  EXPECT_TRUE(d) << d.error().message();
  if (!d) return b;
  b.manifest_desc = *d;
  auto bytes = store.read(d->digest);
  EXPECT_TRUE(bytes);
  auto m = parse_manifest(bytes.value_or(""));
  EXPECT_TRUE(m);
  if (!m) return b;
  b.manifest = *m;
  b.config = store.read(m->config.digest).value_or("");
  return b;
}

class BuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::make_busybox_rootfs(dir_.sub("rootfs"))) {
      GTEST_SKIP() << "/bin/busybox is missing (Debian package busybox-static)";
    }
  }
  std::string rootfs() const { return dir_.sub("rootfs"); }
  BlobStore store(const std::string& name) {
    auto s = BlobStore::open(dir_.sub(name));
    EXPECT_TRUE(s);
    return std::move(*s);
  }
  core::TempDir dir_ = testing_support::make_temp_dir();
  Platform amd64_{"linux", "amd64", ""};
};

TEST_F(BuilderTest, ImageStructureAndConfig) {
  BlobStore s = store("s");
  Built b = build(testing::busybox_spec(rootfs(), amd64_), s);
  EXPECT_EQ(b.manifest_desc.media_type, kOciManifest);
  ASSERT_TRUE(b.manifest_desc.platform);
  EXPECT_EQ(b.manifest_desc.platform->str(), "linux/amd64");
  EXPECT_EQ(b.manifest.media_type, kOciManifest);
  EXPECT_EQ(b.manifest.config.media_type, kOciConfig);
  ASSERT_EQ(b.manifest.layers.size(), 1u);
  EXPECT_EQ(b.manifest.layers[0].media_type, kOciLayerGzip);
  ASSERT_OK_AND_ASSIGN(uint64_t layer_size, s.size(b.manifest.layers[0].digest));
  EXPECT_EQ(layer_size, static_cast<uint64_t>(b.manifest.layers[0].size));

  ASSERT_OK_AND_ASSIGN(core::Json c, core::parse_json(b.config));
  EXPECT_EQ(c["architecture"], "amd64");
  EXPECT_EQ(c["os"], "linux");
  EXPECT_EQ(c["created"], "2023-11-14T22:13:20Z");
  EXPECT_EQ(c["config"]["Entrypoint"], core::Json::array({"/bin/sh"}));
  EXPECT_EQ(c["config"]["Cmd"][1], "echo hello");
  EXPECT_EQ(c["config"]["WorkingDir"], "/");
  EXPECT_EQ(c["config"]["Labels"]["org.opencontainers.image.title"], "busybox-test");
  EXPECT_EQ(c["history"].size(), 1u);
  ASSERT_OK_AND_ASSIGN(ImageConfig ic, parse_image_config(b.config));
  ASSERT_EQ(ic.diff_ids.size(), 1u);
  EXPECT_NE(ic.diff_ids[0], b.manifest.layers[0].digest);
}

// The layer read by independent tools: gzip's sha256 of the tar is the diff_id, and GNU tar
// sees sorted entries owned by 0/0 at the `created` time, the symlink and the modes.
TEST_F(BuilderTest, LayerMatchesDiffIdAndTarListing) {
  if (!testing_support::have_program("tar")) GTEST_SKIP() << "tar is not installed";
  BlobStore s = store("s");
  Built b = build(testing::busybox_spec(rootfs(), amd64_), s);
  ASSERT_OK_AND_ASSIGN(ImageConfig ic, parse_image_config(b.config));
  ASSERT_OK_AND_ASSIGN(std::string layer, s.path(b.manifest.layers[0].digest));
  auto sum = testing_support::run({"sh", "-c", "gzip -dc " + layer + " | sha256sum"});
  ASSERT_EQ(sum.exit_code, 0) << sum.out;
  EXPECT_EQ("sha256:" + sum.out.substr(0, 64), ic.diff_ids[0]);
  auto list = testing_support::run({"tar", "--numeric-owner", "--full-time", "-tvzf", layer});
  ASSERT_EQ(list.exit_code, 0) << list.out;
  const std::vector<std::string> lines = {"drwxr-xr-x 0/0", "bin/",           "-rwxr-xr-x 0/0",
                                          "bin/busybox",    "lrwxrwxrwx 0/0", "bin/sh -> busybox",
                                          "drwxr-xr-x 0/0", "etc/",           "-rw-r--r-- 0/0",
                                          "etc/hostname",   "drwxrwxrwt 0/0", "tmp/"};
  size_t pos = 0;
  for (const std::string& want : lines) {
    size_t at = list.out.find(want, pos);
    ASSERT_NE(at, std::string::npos) << want << " in order in\n" << list.out;
    pos = at + want.size();
  }
  EXPECT_NE(list.out.find("2023-11-14 22:13:20"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("2023-11-14 22:13:21"), std::string::npos);
}

// Decision (layer.h): source mtimes, owners and the builder's umask do not change digests;
// permission bits do.
TEST_F(BuilderTest, SameInputSameDigests) {
  BlobStore s1 = store("s1");
  BlobStore s2 = store("s2");
  BuildSpec spec = testing::busybox_spec(rootfs(), amd64_);
  Built first = build(spec, s1);
  Built second = build(spec, s2);
  EXPECT_EQ(first.manifest_desc.digest, second.manifest_desc.digest);
  EXPECT_EQ(first.manifest.layers, second.manifest.layers);

  struct utimbuf times {
    1234567, 7654321
  };
  ASSERT_EQ(::utime((rootfs() + "/etc/hostname").c_str(), &times), 0);
  ASSERT_EQ(::utime((rootfs() + "/bin").c_str(), &times), 0);
  ASSERT_EQ(::lchown((rootfs() + "/bin/busybox").c_str(), 4321, 4321), 0);
  mode_t old_umask = ::umask(077);
  Built touched = build(spec, s1);
  ::umask(old_umask);
  EXPECT_EQ(touched.manifest_desc.digest, first.manifest_desc.digest);

  ASSERT_EQ(::chmod((rootfs() + "/etc/hostname").c_str(), 0600), 0);
  Built chmodded = build(spec, s1);
  EXPECT_NE(chmodded.manifest_desc.digest, first.manifest_desc.digest);

  spec.created += 1;
  ASSERT_EQ(::chmod((rootfs() + "/etc/hostname").c_str(), 0644), 0);
  Built later = build(spec, s1);
  EXPECT_NE(later.manifest_desc.digest, first.manifest_desc.digest);
  EXPECT_NE(later.manifest.layers[0].digest, first.manifest.layers[0].digest);
}

TEST_F(BuilderTest, HardLinksBecomeFiles) {
  ASSERT_EQ(::link((rootfs() + "/bin/busybox").c_str(), (rootfs() + "/bin/ls").c_str()), 0);
  BlobStore s = store("s");
  Built b = build(testing::busybox_spec(rootfs(), amd64_), s);
  ASSERT_OK_AND_ASSIGN(std::string layer, s.path(b.manifest.layers[0].digest));
  auto list = testing_support::run({"tar", "-tvzf", layer});
  ASSERT_EQ(list.exit_code, 0) << list.out;
  EXPECT_NE(list.out.find("-rwxr-xr-x"), std::string::npos);
  EXPECT_EQ(list.out.find("link to"), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find("\nh"), std::string::npos) << list.out;
}

TEST_F(BuilderTest, TwoPlatformIndex) {
  BlobStore s = store("s");
  Built amd = build(testing::busybox_spec(rootfs(), amd64_), s);
  Built arm = build(testing::busybox_spec(rootfs(), Platform{"linux", "arm64", "v8"}), s);
  EXPECT_NE(amd.manifest_desc.digest, arm.manifest_desc.digest);
  // The layer is shared: same rootfs, same time.
  EXPECT_EQ(amd.manifest.layers, arm.manifest.layers);
  ASSERT_OK_AND_ASSIGN(Descriptor index_desc,
                       build_index({amd.manifest_desc, arm.manifest_desc}, s));
  EXPECT_EQ(index_desc.media_type, kOciIndex);
  EXPECT_FALSE(index_desc.platform);
  ASSERT_OK_AND_ASSIGN(std::string bytes, s.read(index_desc.digest));
  ASSERT_OK_AND_ASSIGN(Index index, parse_index(bytes));
  ASSERT_EQ(index.manifests.size(), 2u);
  EXPECT_EQ(index.manifests[0].platform->str(), "linux/amd64");
  EXPECT_EQ(index.manifests[1].platform->str(), "linux/arm64/v8");
  EXPECT_EQ(index.manifests[1].digest, arm.manifest_desc.digest);
  ASSERT_OK_AND_ASSIGN(Descriptor again, build_index({amd.manifest_desc, arm.manifest_desc}, s));
  EXPECT_EQ(again.digest, index_desc.digest);

  Descriptor arm_again = arm.manifest_desc;
  arm_again.platform = Platform{"linux", "aarch64", ""};
  auto dup = build_index({amd.manifest_desc, arm.manifest_desc, arm_again}, s);
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message().find("appears twice"), std::string::npos);
  Descriptor no_platform = amd.manifest_desc;
  no_platform.platform.reset();
  EXPECT_FALSE(build_index({no_platform}, s));
  EXPECT_FALSE(build_index({}, s));
  Descriptor missing = describe(kOciManifest, "{}");
  missing.platform = Platform{"linux", "s390x", ""};
  auto r = build_index({missing}, s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kNotFound);
}

TEST_F(BuilderTest, RefusesSpecialFilesAndBadSpecs) {
  BlobStore s = store("s");
  BuildSpec spec = testing::busybox_spec(rootfs(), amd64_);
  ASSERT_EQ(::mkfifo((rootfs() + "/etc/fifo").c_str(), 0644), 0);
  auto fifo = build_image(spec, s);
  ASSERT_FALSE(fifo);
  EXPECT_EQ(fifo.error().code(), core::Errc::kUnsupported);
  EXPECT_NE(fifo.error().message().find("etc/fifo"), std::string::npos);
  EXPECT_TRUE(core::remove_all(rootfs() + "/etc/fifo"));

  BuildSpec missing = spec;
  missing.rootfs_dir = dir_.sub("nope");
  auto r = build_image(missing, s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kNotFound);
  BuildSpec no_arch = spec;
  no_arch.platform.architecture.clear();
  EXPECT_FALSE(build_image(no_arch, s));
  BuildSpec bad_env = spec;
  bad_env.env = {"JUSTNAME"};
  EXPECT_FALSE(build_image(bad_env, s));
  EXPECT_EQ(rfc3339_utc(0), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace images
