// Hostile archives: each mutation of a good archive must be refused with a message that names
// the problem (security-anchors.md section 5).
#include <functional>
#include <nlohmann/json.hpp>

#include "core/crypto/sha256.h"
#include "core/serde/json.h"
#include "images/oci_archive.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing::find_item;
using testing::StringSink;
using testing::StringSource;
using testing::TarItem;
using Items = std::vector<TarItem>;

struct Good {
  Items items;
  std::string manifest_digest, config_digest, layer_digest;
};

std::string path_of(std::string_view digest) { return "blobs/sha256/" + digest_hex(digest); }

core::Json json_of(const TarItem* item) {
  auto j = core::parse_json(item ? item->data : "null");
  EXPECT_TRUE(j);
  return j.value_or(core::Json());
}

void edit_index(Items& items, const std::function<void(core::Json&)>& edit) {
  TarItem* index = find_item(items, "index.json");
  core::Json j = json_of(index);
  edit(j);
  index->data = core::dump_json(j);
}

// Rewrites a blob consistently: new content under its new name, and the referring descriptor
// (in index.json or in the manifest) updated, as an attacker who controls the archive can.
void rewrite_manifest(Items& items, Good& g, const std::function<void(core::Json&)>& edit) {
  TarItem* blob = find_item(items, path_of(g.manifest_digest));
  core::Json m = json_of(blob);
  edit(m);
  blob->data = core::dump_json(m);
  std::string digest = sha256_digest(core::Sha256::hex_of(blob->data));
  blob->entry.path = path_of(digest);
  blob->entry.size = blob->data.size();
  size_t size = blob->data.size();
  edit_index(items, [&](core::Json& j) {
    j["manifests"][0]["digest"] = digest;
    j["manifests"][0]["size"] = size;
  });
  TarItem* dm = find_item(items, "manifest.json");
  dm->data = "[]";
  g.manifest_digest = digest;
}

struct Case {
  std::string name;
  std::function<void(Items&, Good&)> mutate;
  core::Errc code;
  std::string message;
};

class HostileArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::make_busybox_rootfs(dir_.sub("rootfs"))) {
      GTEST_SKIP() << "/bin/busybox is missing (Debian package busybox-static)";
    }
    ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir_.sub("store")));
    BuildSpec spec = testing::busybox_spec(dir_.sub("rootfs"), Platform{"linux", "amd64", ""});
    ASSERT_OK_AND_ASSIGN(Descriptor d, build_image(spec, store));
    ASSERT_OK_AND_ASSIGN(Reference ref, Reference::parse("busybox:test"));
    StringSink sink;
    ASSERT_OK(write_oci_archive({{ref, d, std::nullopt}}, store, sink, 1700000000));
    good_.items = testing::read_tar(sink.str());
    good_.manifest_digest = d.digest;
    ASSERT_OK_AND_ASSIGN(std::string bytes, store.read(d.digest));
    ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(bytes));
    good_.config_digest = m.config.digest;
    good_.layer_digest = m.layers[0].digest;
  }
  core::TempDir dir_ = testing_support::make_temp_dir();
  Good good_;
};

core::Result<ArchiveContents> verify(const std::string& bytes) {
  StringSource src(bytes, 32 * 1024);
  return read_oci_archive(src, nullptr);
}

TEST_F(HostileArchiveTest, GoodArchivePassesAndConsistentRewriteIsAccepted) {
  ASSERT_OK(verify(testing::write_tar(good_.items)));
  // Only a pinned digest can catch a consistent rewrite; the verifier reports the new digest.
  Items items = good_.items;
  Good g = good_;
  rewrite_manifest(items, g, [](core::Json& m) { m["annotations"] = {{"evil", "yes"}}; });
  ASSERT_OK_AND_ASSIGN(ArchiveContents c, verify(testing::write_tar(items)));
  EXPECT_EQ(c.images[0].manifest.digest, g.manifest_digest);
  EXPECT_NE(c.images[0].manifest.digest, good_.manifest_digest);
}

TEST_F(HostileArchiveTest, EachMutationIsRefused) {
  using core::Errc;
  std::string junk_digest = sha256_digest(core::Sha256::hex_of("junk"));
  const std::vector<Case> cases = {
      {"layer content does not match its name",
       [](Items& i, Good& g) { find_item(i, path_of(g.layer_digest))->data[100] ^= 1; },
       Errc::kIntegrity, "content has digest"},
      {"config content does not match its name",
       [](Items& i, Good& g) { find_item(i, path_of(g.config_digest))->data[0] = ' '; },
       Errc::kIntegrity, "blob " + good_.config_digest},
      {"wrong manifest size in index.json",
       [](Items& i, Good&) {
         edit_index(i, [](core::Json& j) {
           j["manifests"][0]["size"] = j["manifests"][0]["size"].get<int64_t>() + 1;
         });
       },
       Errc::kIntegrity, "descriptor says"},
      {"wrong layer size in the manifest",
       [](Items& i, Good& g) {
         rewrite_manifest(i, g, [](core::Json& m) {
           m["layers"][0]["size"] = m["layers"][0]["size"].get<int64_t>() - 1;
         });
       },
       Errc::kIntegrity, "layer blob"},
      {"missing layer",
       [](Items& i, Good& g) {
         std::erase_if(i,
                       [&](const TarItem& t) { return t.entry.path == path_of(g.layer_digest); });
       },
       Errc::kIntegrity, "layer blob " + good_.layer_digest + " is missing"},
      {"missing config",
       [](Items& i, Good& g) {
         std::erase_if(i,
                       [&](const TarItem& t) { return t.entry.path == path_of(g.config_digest); });
       },
       Errc::kIntegrity, "is missing from the archive"},
      {"extra file",
       [](Items& i, Good&) {
         i.push_back({{.path = "extra.txt", .size = 1}, "x"});
       },
       Errc::kInvalid, "archive entry extra.txt: unexpected entry"},
      {"extra directory",
       [](Items& i, Good&) {
         i.push_back({{.path = "blobs/sha512", .type = core::TarType::kDirectory}, ""});
       },
       Errc::kInvalid, "a directory is not allowed"},
      {"unreferenced blob",
       [&](Items& i, Good&) {
         i.push_back({{.path = path_of(junk_digest), .size = 4}, "junk"});
       },
       Errc::kInvalid, "blob " + junk_digest + " is not referenced"},
      {"duplicate entry", [](Items& i, Good&) { i.push_back(*find_item(i, "index.json")); },
       Errc::kInvalid, "archive entry index.json: appears twice"},
      {"duplicate blob",
       [](Items& i, Good& g) { i.push_back(*find_item(i, path_of(g.layer_digest))); },
       Errc::kInvalid, "appears twice"},
      {"../ path",
       [](Items& i, Good&) {
         i.push_back({{.path = "../evil", .size = 1}, "x"});
       },
       Errc::kInvalid, "unsafe path"},
      {"absolute path",
       [](Items& i, Good&) {
         i.push_back({{.path = "/etc/cron.d/evil", .size = 1}, "x"});
       },
       Errc::kInvalid, "unsafe path"},
      {"symlink entry",
       [](Items& i, Good&) {
         i.insert(i.begin(), {{.path = "blobs/sha256/" + std::string(64, 'a'),
                               .type = core::TarType::kSymlink,
                               .link_target = "/etc/passwd"},
                              ""});
       },
       Errc::kInvalid, "a symlink is not allowed"},
      {"blob name that is not a digest",
       [](Items& i, Good&) {
         i.push_back({{.path = "blobs/sha256/passwd", .size = 1}, "x"});
       },
       Errc::kInvalid, "not a sha256 digest"},
      {"uppercase blob name",
       [](Items& i, Good& g) {
         TarItem* b = find_item(i, path_of(g.layer_digest));
         for (char& c : b->entry.path) c = static_cast<char>(std::toupper(c));
         b->entry.path.replace(0, 13, "blobs/sha256/");
       },
       Errc::kInvalid, "not a sha256 digest"},
      {"digest with path traversal in index.json",
       [](Items& i, Good&) {
         edit_index(i, [](core::Json& j) {
           j["manifests"][0]["digest"] = "sha256:../../../../etc/passwd";
         });
       },
       Errc::kInvalid, "invalid digest \"sha256:../../../../etc/passwd\""},
      {"foreign URL in index.json",
       [](Items& i, Good&) {
         edit_index(
             i, [](core::Json& j) { j["manifests"][0]["urls"] = {"https://example.com/evil"}; });
       },
       Errc::kInvalid, "foreign layer URLs are not allowed offline"},
      {"foreign layer in the manifest",
       [](Items& i, Good& g) {
         rewrite_manifest(
             i, g, [](core::Json& m) { m["layers"][0]["mediaType"] = kDockerForeignLayerGzip; });
       },
       Errc::kInvalid, "not allowed offline"},
      {"manifest without layers for the config's diff_ids",
       [](Items& i, Good& g) {
         rewrite_manifest(i, g, [](core::Json& m) { m["layers"].push_back(m["layers"][0]); });
       },
       Errc::kInvalid, "2 layers but the config has 1 diff_ids"},
      {"index claims another platform than the config",
       [](Items& i, Good&) {
         edit_index(i, [](core::Json& j) {
           j["manifests"][0]["platform"] = {{"os", "linux"}, {"architecture", "s390x"}};
         });
       },
       Errc::kInvalid, "platform linux/s390x but its config says linux/amd64"},
      {"descriptor says index, blob is a manifest",
       [](Items& i, Good&) {
         edit_index(i, [](core::Json& j) { j["manifests"][0]["mediaType"] = kOciIndex; });
       },
       Errc::kInvalid, "index: media type"},
      {"image without a name",
       [](Items& i, Good&) {
         edit_index(i, [](core::Json& j) {
           j["manifests"][0]["annotations"].erase(std::string(kAnnotationImageName));
         });
       },
       Errc::kInvalid, "has no io.containerd.image.name annotation"},
      {"bad image name",
       [](Items& i, Good&) {
         edit_index(i, [](core::Json& j) {
           j["manifests"][0]["annotations"][std::string(kAnnotationImageName)] = "Evil/../x";
         });
       },
       Errc::kInvalid, "reference"},
      {"OCI tag annotation names another tag",
       [](Items& i, Good&) {
         edit_index(i, [](core::Json& j) {
           j["manifests"][0]["annotations"][std::string(kAnnotationRefName)] = "latest";
         });
       },
       Errc::kInvalid, "org.opencontainers.image.ref.name \"latest\""},
      {"manifest.json shows other layers",
       [](Items& i, Good& g) {
         TarItem* dm = find_item(i, "manifest.json");
         core::Json j = json_of(dm);
         j[0]["Layers"] = {path_of(g.config_digest)};
         dm->data = core::dump_json(j);
       },
       Errc::kInvalid, "not an image of index.json"},
      {"manifest.json tags another name",
       [](Items& i, Good&) {
         TarItem* dm = find_item(i, "manifest.json");
         core::Json j = json_of(dm);
         j[0]["RepoTags"] = {"docker.io/library/evil:test"};
         dm->data = core::dump_json(j);
       },
       Errc::kInvalid, "names another image"},
      {"no index.json",
       [](Items& i, Good&) {
         std::erase_if(i, [](const TarItem& t) { return t.entry.path == "index.json"; });
       },
       Errc::kInvalid, "no index.json"},
      {"no oci-layout",
       [](Items& i, Good&) {
         std::erase_if(i, [](const TarItem& t) { return t.entry.path == "oci-layout"; });
       },
       Errc::kInvalid, "no oci-layout"},
      {"unknown layout version",
       [](Items& i, Good&) {
         TarItem* l = find_item(i, "oci-layout");
         l->data = R"({"imageLayoutVersion":"2.0.0"})";
       },
       Errc::kUnsupported, "2.0.0"},
      {"index.json over 20 MiB",
       [](Items& i, Good&) { find_item(i, "index.json")->data = std::string(21 << 20, ' '); },
       Errc::kTooLarge, "archive entry index.json: 22020096 bytes is over the JSON limit"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Items items = good_.items;
    Good g = good_;
    c.mutate(items, g);
    for (TarItem& item : items) item.entry.size = item.data.size();
    auto r = verify(testing::write_tar(items));
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(core::errc_name(r.error().code()), core::errc_name(c.code)) << r.error().message();
    EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
    EXPECT_EQ(r.error().message().find('\n'), std::string::npos);
  }
}

TEST_F(HostileArchiveTest, TruncatedOrTrailingDataIsRefused) {
  std::string good = testing::write_tar(good_.items);
  EXPECT_FALSE(verify(good.substr(0, good.size() / 2)));
  std::string hidden = testing::write_tar({{{.path = "evil", .size = 1}, "x"}});
  auto trailing = verify(good + hidden);
  ASSERT_FALSE(trailing);
  EXPECT_NE(trailing.error().message().find("after the end-of-archive"), std::string::npos);
}

}  // namespace
}  // namespace images
