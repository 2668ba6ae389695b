#include "images/oci_archive.h"

#include <algorithm>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "core/archive/zstd.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "core/serde/json.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing::find_item;
using testing::StringSink;
using testing::StringSource;
using testing::TarItem;

constexpr int64_t kMtime = 1700000000;

class ArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::make_busybox_rootfs(dir_.sub("rootfs"))) {
      GTEST_SKIP() << "/bin/busybox is missing (Debian package busybox-static)";
    }
    auto s = BlobStore::open(dir_.sub("store"));
    ASSERT_TRUE(s);
    store_ = std::make_unique<BlobStore>(std::move(*s));
    BuildSpec spec = testing::busybox_spec(dir_.sub("rootfs"), host_platform());
    ASSERT_OK_AND_ASSIGN(busybox_, build_image(spec, *store_));
    spec.cmd = {"-c", "echo other"};
    ASSERT_OK_AND_ASSIGN(other_, build_image(spec, *store_));
  }

  ArchiveImage image(const std::string& ref, const Descriptor& manifest) {
    auto r = Reference::parse(ref);
    EXPECT_TRUE(r);
    return ArchiveImage{r.value_or(Reference{}), manifest, std::nullopt};
  }

  std::string write(const std::vector<ArchiveImage>& images) {
    StringSink sink;
    auto r = write_oci_archive(images, *store_, sink, kMtime);
    EXPECT_TRUE(r) << r.error().message();
    return sink.str();
  }

  Manifest manifest_of(const Descriptor& d) {
    auto bytes = store_->read(d.digest);
    EXPECT_TRUE(bytes);
    auto m = parse_manifest(bytes.value_or(""));
    EXPECT_TRUE(m);
    return m.value_or(Manifest{});
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  std::unique_ptr<BlobStore> store_;
  Descriptor busybox_, other_;
};

core::Result<ArchiveContents> verify(std::string bytes, const ReadLimits& limits = {}) {
  StringSource src(std::move(bytes), 64 * 1024);
  return read_oci_archive(src, nullptr, limits);
}

std::vector<std::string> entry_paths(const std::string& archive) {
  std::vector<std::string> paths;
  for (const TarItem& item : testing::read_tar(archive)) paths.push_back(item.entry.path);
  return paths;
}

TEST_F(ArchiveTest, RoundTripAndExtraction) {
  std::string archive = write({image("busybox:test", busybox_)});
  Manifest m = manifest_of(busybox_);
  std::vector<std::string> paths = entry_paths(archive);
  ASSERT_EQ(paths.size(), 8u);
  EXPECT_EQ(paths[0], "oci-layout");
  EXPECT_EQ(paths[1], "index.json");
  EXPECT_EQ(paths[2], "manifest.json");
  EXPECT_TRUE(std::is_sorted(paths.begin() + 5, paths.end()));

  ASSERT_OK_AND_ASSIGN(ArchiveContents c, verify(archive));
  ASSERT_EQ(c.images.size(), 1u);
  EXPECT_EQ(c.images[0].ref.str(), "docker.io/library/busybox:test");
  EXPECT_EQ(c.images[0].manifest.digest, busybox_.digest);
  EXPECT_EQ(c.images[0].manifest.size, busybox_.size);
  ASSERT_TRUE(c.images[0].manifest.platform);
  EXPECT_TRUE(c.images[0].manifest.platform->matches(host_platform()));
  EXPECT_EQ(c.images[0].manifest.annotations.at(std::string(kAnnotationRefName)), "test");
  EXPECT_FALSE(c.images[0].index_digest);
  EXPECT_EQ(c.blob_count, 3u);
  EXPECT_EQ(c.blob_bytes, static_cast<uint64_t>(busybox_.size + m.config.size + m.layers[0].size));

  ASSERT_OK_AND_ASSIGN(BlobStore out, BlobStore::open(dir_.sub("extracted")));
  StringSource src(archive, 10000);
  ASSERT_OK_AND_ASSIGN(ArchiveContents c2, read_oci_archive(src, &out));
  EXPECT_EQ(c2.blob_count, 3u);
  EXPECT_TRUE(out.has(busybox_.digest));
  EXPECT_TRUE(out.has(m.config.digest));
  ASSERT_OK_AND_ASSIGN(std::string layer, out.read(m.layers[0].digest));
  EXPECT_EQ(layer, store_->read(m.layers[0].digest).value_or(""));
}

TEST_F(ArchiveTest, DeterministicAndOrderIndependent) {
  std::string a = write({image("busybox:test", busybox_), image("other:1", other_)});
  std::string b = write({image("other:1", other_), image("busybox:test", busybox_)});
  EXPECT_EQ(a, b);
  for (const TarItem& item : testing::read_tar(a)) EXPECT_EQ(item.entry.mtime, kMtime);
}

TEST_F(ArchiveTest, SharedLayerStoredOnce) {
  Manifest m1 = manifest_of(busybox_);
  Manifest m2 = manifest_of(other_);
  ASSERT_EQ(m1.layers, m2.layers);
  std::string archive = write({image("busybox:test", busybox_), image("other:1", other_),
                               image("registry.local:5000/mirror/busybox:test", busybox_)});
  std::vector<std::string> paths = entry_paths(archive);
  std::string layer_path = "blobs/sha256/" + digest_hex(m1.layers[0].digest);
  EXPECT_EQ(std::count(paths.begin(), paths.end(), layer_path), 1);
  EXPECT_EQ(std::count(paths.begin(), paths.end(), "blobs/sha256/" + digest_hex(busybox_.digest)),
            1);
  ASSERT_OK_AND_ASSIGN(ArchiveContents c, verify(archive));
  EXPECT_EQ(c.blob_count, 5u);  // two manifests, two configs, one layer
  ASSERT_EQ(c.images.size(), 3u);

  // Docker's manifest.json: one entry per manifest, both names on the shared one.
  auto items = testing::read_tar(archive);
  ASSERT_OK_AND_ASSIGN(core::Json dm, core::parse_json(find_item(items, "manifest.json")->data));
  ASSERT_EQ(dm.size(), 2u);
  core::Json tags = core::Json::array();
  for (const auto& e : dm) {
    if (e["Config"] == "blobs/sha256/" + digest_hex(m1.config.digest)) tags = e["RepoTags"];
    EXPECT_EQ(e["Layers"], core::Json::array({layer_path}));
  }
  EXPECT_EQ(tags, core::Json::array({"docker.io/library/busybox:test",
                                     "registry.local:5000/mirror/busybox:test"}));
}

TEST_F(ArchiveTest, IndexDigestAndDigestReferences) {
  ASSERT_OK_AND_ASSIGN(Descriptor index, build_index({busybox_}, *store_));
  ArchiveImage pinned = image("busybox:test", busybox_);
  pinned.index_digest = index.digest;
  ArchiveImage by_digest = image("busybox@" + busybox_.digest, busybox_);
  std::string archive = write({pinned, by_digest});
  ASSERT_OK_AND_ASSIGN(ArchiveContents c, verify(archive));
  ASSERT_EQ(c.images.size(), 2u);
  for (const ArchiveImage& img : c.images) {
    if (img.ref.tag == "test") {
      EXPECT_EQ(img.index_digest, index.digest);
    } else {
      EXPECT_EQ(img.ref.digest, busybox_.digest);
      EXPECT_FALSE(img.manifest.annotations.contains(std::string(kAnnotationRefName)));
    }
  }
}

// Several platforms under one reference: index.json points at an index over exactly them.
TEST_F(ArchiveTest, MultiPlatformReference) {
  BuildSpec spec = testing::busybox_spec(dir_.sub("rootfs"), Platform{"linux", "amd64", ""});
  ASSERT_OK_AND_ASSIGN(Descriptor amd, build_image(spec, *store_));
  spec.platform = Platform{"linux", "arm64", "v8"};
  ASSERT_OK_AND_ASSIGN(Descriptor arm, build_image(spec, *store_));
  spec.platform = Platform{"linux", "s390x", ""};
  ASSERT_OK_AND_ASSIGN(Descriptor s390x, build_image(spec, *store_));
  // The pinned upstream index has a platform that is not carried.
  ASSERT_OK_AND_ASSIGN(Descriptor upstream, build_index({amd, arm, s390x}, *store_));
  ArchiveImage a = image("busybox:multi", amd), b = image("busybox:multi", arm);
  a.index_digest = b.index_digest = upstream.digest;
  std::string archive = write({b, a, image("other:1", other_)});
  EXPECT_EQ(archive, write({image("other:1", other_), a, b}));

  auto items = testing::read_tar(archive);
  ASSERT_OK_AND_ASSIGN(Index top, parse_index(find_item(items, "index.json")->data));
  ASSERT_EQ(top.manifests.size(), 2u);
  const Descriptor& entry = top.manifests[0];
  EXPECT_EQ(entry.media_type, kOciIndex);
  EXPECT_EQ(entry.annotations.at(std::string(kAnnotationIndexDigest)), upstream.digest);
  EXPECT_EQ(find_item(items, "blobs/sha256/" + digest_hex(upstream.digest)), nullptr);
  ASSERT_OK_AND_ASSIGN(
      Index carried,
      parse_index(find_item(items, "blobs/sha256/" + digest_hex(entry.digest))->data));
  ASSERT_EQ(carried.manifests.size(), 2u);
  EXPECT_EQ(carried.manifests[0].digest, amd.digest);
  EXPECT_EQ(carried.manifests[1].digest, arm.digest);

  ASSERT_OK_AND_ASSIGN(ArchiveContents c, verify(archive));
  ASSERT_EQ(c.images.size(), 3u);
  EXPECT_EQ(c.images[0].ref.str(), "docker.io/library/busybox:multi");
  EXPECT_EQ(c.images[0].manifest.digest, amd.digest);
  EXPECT_EQ(c.images[1].manifest.platform->str(), "linux/arm64/v8");
  EXPECT_EQ(c.images[1].index_digest, upstream.digest);
  EXPECT_EQ(c.images[2].ref.str(), "docker.io/library/other:1");

  // docker load cannot tag several platforms: those manifests carry no RepoTags.
  ASSERT_OK_AND_ASSIGN(core::Json dm, core::parse_json(find_item(items, "manifest.json")->data));
  ASSERT_EQ(dm.size(), 3u);
  size_t tagged = 0;
  for (const auto& e : dm) tagged += e["RepoTags"].size();
  EXPECT_EQ(tagged, 1u);

  // Without a pinned index, the carried index is reported.
  a.index_digest = b.index_digest = std::nullopt;
  ASSERT_OK_AND_ASSIGN(ArchiveContents unpinned, verify(write({a, b})));
  ASSERT_EQ(unpinned.images.size(), 2u);
  EXPECT_TRUE(unpinned.images[0].index_digest);
  EXPECT_NE(unpinned.images[0].index_digest, upstream.digest);
  StringSink sink;
  b.index_digest = upstream.digest;
  auto mixed = write_oci_archive({a, b}, *store_, sink, 0);
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message().find("different indexes"), std::string::npos);
}

// Archives written by other tools may point index.json at a multi-platform index: every
// platform manifest under it is checked and reported with the index digest.
TEST_F(ArchiveTest, NestedIndexIsWalked) {
  BuildSpec spec = testing::busybox_spec(dir_.sub("rootfs"), Platform{"linux", "amd64", ""});
  ASSERT_OK_AND_ASSIGN(Descriptor amd, build_image(spec, *store_));
  spec.platform = Platform{"linux", "arm64", "v8"};
  ASSERT_OK_AND_ASSIGN(Descriptor arm, build_image(spec, *store_));
  ASSERT_OK_AND_ASSIGN(Descriptor index, build_index({amd, arm}, *store_));
  std::set<std::string> digests = {index.digest};
  for (const Descriptor& d : {amd, arm}) {
    Manifest m = manifest_of(d);
    digests.insert({d.digest, m.config.digest, m.layers[0].digest});
  }
  std::vector<TarItem> items = {
      {{.path = "oci-layout"}, R"({"imageLayoutVersion":"1.0.0"})"},
      {{.path = "index.json"},
       core::dump_json({{"schemaVersion", 2},
                        {"manifests",
                         {{{"mediaType", kOciIndex},
                           {"digest", index.digest},
                           {"size", index.size},
                           {"annotations", {{kAnnotationImageName, "docker.io/x/multi:1"}}}}}}})}};
  for (const std::string& d : digests) {
    items.push_back({{.path = "blobs/sha256/" + digest_hex(d)}, store_->read(d).value_or("")});
  }
  for (TarItem& item : items) item.entry.size = item.data.size();
  ASSERT_OK_AND_ASSIGN(ArchiveContents c, verify(testing::write_tar(items)));
  ASSERT_EQ(c.images.size(), 2u);
  EXPECT_EQ(c.blob_count, 6u);  // index, two manifests, two configs, one shared layer
  for (const ArchiveImage& img : c.images) {
    EXPECT_EQ(img.ref.str(), "docker.io/x/multi:1");
    EXPECT_EQ(img.index_digest, index.digest);
  }
  EXPECT_EQ(c.images[1].manifest.digest, arm.digest);
  EXPECT_EQ(c.images[1].manifest.platform->str(), "linux/arm64/v8");

  // Without the arm64 manifest the index is incomplete: refused.
  std::erase_if(items,
                [&](const TarItem& t) { return t.entry.path.ends_with(digest_hex(arm.digest)); });
  auto partial = verify(testing::write_tar(items));
  ASSERT_FALSE(partial);
  EXPECT_NE(partial.error().message().find(arm.digest + " is missing"), std::string::npos);
}

// An index naming the same blobs over and over must not make the check explode: blobs are
// parsed once and the number of references walked is bounded.
TEST_F(ArchiveTest, IndexFanOutIsBounded) {
  Manifest m = manifest_of(busybox_);
  Index inner{std::string(kOciIndex), std::vector<Descriptor>(400, busybox_), {}};
  std::string inner_json = to_json(inner);
  Descriptor inner_desc = describe(kOciIndex, inner_json);
  Index outer{std::string(kOciIndex), std::vector<Descriptor>(400, inner_desc), {}};
  std::string outer_json = to_json(outer);
  Descriptor outer_desc = describe(kOciIndex, outer_json);
  outer_desc.annotations[std::string(kAnnotationImageName)] = "docker.io/x/fan:1";
  std::vector<TarItem> items = {
      {{.path = "oci-layout"}, R"({"imageLayoutVersion":"1.0.0"})"},
      {{.path = "index.json"}, to_json(Index{std::string(kOciIndex), {outer_desc}, {}})},
      {{.path = "blobs/sha256/" + digest_hex(outer_desc.digest)}, outer_json},
      {{.path = "blobs/sha256/" + digest_hex(inner_desc.digest)}, inner_json}};
  for (const std::string& d : {busybox_.digest, m.config.digest, m.layers[0].digest}) {
    items.push_back({{.path = "blobs/sha256/" + digest_hex(d)}, store_->read(d).value_or("")});
  }
  for (TarItem& item : items) item.entry.size = item.data.size();
  auto r = verify(testing::write_tar(items));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kTooLarge);
  EXPECT_NE(r.error().message().find("more than 100000"), std::string::npos);
}

// The bundle verifier feeds the archive from inside a zstd stream: no seeking possible.
TEST_F(ArchiveTest, VerifiesFromANonSeekableZstdStream) {
  std::string archive = write({image("busybox:test", busybox_)});
  StringSink compressed;
  ASSERT_OK_AND_ASSIGN(auto zsink, core::ZstdSink::create(compressed, {}));
  ASSERT_OK(zsink->write(archive));
  ASSERT_OK(zsink->finish());
  StringSource raw(compressed.str(), 777);
  ASSERT_OK_AND_ASSIGN(auto zsource, core::ZstdSource::create(raw));
  ASSERT_OK_AND_ASSIGN(ArchiveContents c, read_oci_archive(*zsource, nullptr));
  EXPECT_EQ(c.images.size(), 1u);
}

TEST_F(ArchiveTest, LimitsAndLargeJsonBlobs) {
  std::string archive = write({image("busybox:test", busybox_)});
  auto big = verify(archive, ReadLimits{.max_blob_size = 1000});
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), core::Errc::kTooLarge);
  auto many = verify(archive, ReadLimits{.max_blobs = 2});
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().code(), core::Errc::kTooLarge);
  auto total = verify(archive, ReadLimits{.max_total_size = 10000});
  ASSERT_FALSE(total);
  // Manifests and configs not kept in memory can only be checked when extracted.
  ReadLimits tiny{.memory_blob_size = 16};
  auto unchecked = verify(archive, tiny);
  ASSERT_FALSE(unchecked);
  EXPECT_NE(unchecked.error().message().find("without extracting"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(BlobStore out, BlobStore::open(dir_.sub("x")));
  StringSource src(archive);
  EXPECT_OK(read_oci_archive(src, &out, tiny));
  // Memory for JSON blobs is bounded in total too (a hostile archive of many small blobs).
  ReadLimits budget{.memory_total_size = 300};
  auto over = verify(archive, budget);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), core::Errc::kTooLarge);
  StringSource src2(archive);
  EXPECT_OK(read_oci_archive(src2, &out, budget));
}

TEST_F(ArchiveTest, WriterRefusals) {
  StringSink sink;
  auto no_tag = write_oci_archive({image("busybox", busybox_)}, *store_, sink, 0);
  ASSERT_FALSE(no_tag);
  EXPECT_NE(no_tag.error().message().find("neither tag nor digest"), std::string::npos);
  auto twice = write_oci_archive({image("busybox:1", busybox_), image("busybox:1", busybox_)},
                                 *store_, sink, 0);
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message().find("listed twice"), std::string::npos);
  auto same_platform = write_oci_archive({image("busybox:1", busybox_), image("busybox:1", other_)},
                                         *store_, sink, 0);
  ASSERT_FALSE(same_platform);
  EXPECT_NE(same_platform.error().message().find("appears twice"), std::string::npos);
  Descriptor no_platform = other_;
  no_platform.platform.reset();
  auto unplaced = write_oci_archive({image("busybox:1", busybox_), image("busybox:1", no_platform)},
                                    *store_, sink, 0);
  ASSERT_FALSE(unplaced);
  EXPECT_NE(unplaced.error().message().find("has no platform"), std::string::npos);
  auto wrong_digest =
      write_oci_archive({image("busybox@" + other_.digest, busybox_)}, *store_, sink, 0);
  ASSERT_FALSE(wrong_digest);
  EXPECT_FALSE(write_oci_archive({}, *store_, sink, 0));
  Descriptor missing = describe(kOciManifest, "{\"not\":\"stored\"}");
  auto r = write_oci_archive({image("busybox:1", missing)}, *store_, sink, 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kNotFound);

  // A stored layer that changed on disk is caught while it is copied into the archive.
  Manifest m = manifest_of(busybox_);
  ASSERT_OK_AND_ASSIGN(std::string layer_path, store_->path(m.layers[0].digest));
  ASSERT_OK_AND_ASSIGN(std::string layer, store_->read(m.layers[0].digest));
  layer[layer.size() / 2] ^= 1;
  ASSERT_OK(core::write_file_atomic(layer_path, layer));
  auto corrupt = write_oci_archive({image("busybox:1", busybox_)}, *store_, sink, 0);
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(corrupt.error().message().find(m.layers[0].digest), std::string::npos);
}

}  // namespace
}  // namespace images
