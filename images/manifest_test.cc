#include "images/manifest.h"

#include "core/fs/files.h"
#include "images/reference.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

std::string data_file(const std::string& name) {
  auto text = core::read_file(testing_support::source_dir() + "/tests/data/images/" + name);
  EXPECT_TRUE(text) << text.error().message();
  return text.value_or("");
}

// Replaces the first occurrence of `from` in `s`.
std::string replace(std::string s, std::string_view from, std::string_view to) {
  size_t pos = s.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  if (pos != std::string::npos) s.replace(pos, from.size(), to);
  return s;
}

TEST(Manifest, ParsesOciManifest) {
  std::string text = data_file("oci-manifest.json");
  ASSERT_OK_AND_ASSIGN(std::string type, detect_media_type(text));
  EXPECT_EQ(type, kOciManifest);
  ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(text));
  EXPECT_EQ(m.media_type, kOciManifest);
  EXPECT_EQ(m.config.media_type, kOciConfig);
  EXPECT_EQ(m.config.size, 1457);
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].media_type, kOciLayerGzip);
  EXPECT_EQ(m.layers[0].size, 2152262);
  EXPECT_TRUE(is_valid_digest(m.layers[0].digest));
  EXPECT_EQ(m.annotations.at("org.opencontainers.image.url"), "https://hub.docker.com/_/busybox");
}

TEST(Manifest, ParsesDockerManifestAndConfig) {
  std::string text = data_file("docker-manifest.json");
  ASSERT_OK_AND_ASSIGN(std::string type, detect_media_type(text));
  EXPECT_EQ(type, kDockerManifest);
  ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(text));
  EXPECT_EQ(m.config.media_type, kDockerConfig);
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_TRUE(is_layer_type(m.layers[1].media_type));
  ASSERT_OK_AND_ASSIGN(ImageConfig c, parse_image_config(data_file("docker-config.json")));
  EXPECT_EQ(c.platform.str(), "linux/amd64");
  EXPECT_EQ(c.diff_ids.size(), 2u);
}

TEST(Manifest, ParsesIndexesKeepingPlatforms) {
  ASSERT_OK_AND_ASSIGN(Index oci, parse_index(data_file("oci-index.json")));
  EXPECT_EQ(oci.media_type, kOciIndex);
  ASSERT_EQ(oci.manifests.size(), 4u);
  ASSERT_TRUE(oci.manifests[1].platform);
  EXPECT_EQ(oci.manifests[1].platform->str(), "linux/arm64/v8");
  EXPECT_EQ(oci.manifests[3].annotations.at("vnd.docker.reference.type"), "attestation-manifest");
  ASSERT_OK_AND_ASSIGN(Index docker, parse_index(data_file("docker-manifest-list.json")));
  EXPECT_EQ(docker.media_type, kDockerManifestList);
  ASSERT_EQ(docker.manifests.size(), 3u);
  EXPECT_TRUE(docker.manifests[1].platform->matches(Platform{"linux", "arm", "v6"}));
  ASSERT_OK_AND_ASSIGN(std::string type, detect_media_type(data_file("docker-manifest-list.json")));
  EXPECT_EQ(type, kDockerManifestList);
}

TEST(Manifest, MediaTypeByShapeWhenAbsent) {
  std::string index = replace(data_file("oci-index.json"),
                              "\"mediaType\": \"application/vnd.oci.image.index.v1+json\",", "");
  ASSERT_OK_AND_ASSIGN(std::string t1, detect_media_type(index));
  EXPECT_EQ(t1, kOciIndex);
  std::string manifest =
      replace(data_file("oci-manifest.json"),
              "\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",", "");
  ASSERT_OK_AND_ASSIGN(std::string t2, detect_media_type(manifest));
  EXPECT_EQ(t2, kOciManifest);
  ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(manifest));
  EXPECT_EQ(m.media_type, "");
  auto schema1 = detect_media_type(data_file("docker-schema1.json"));
  ASSERT_FALSE(schema1);
  EXPECT_EQ(schema1.error().code(), core::Errc::kUnsupported);
  EXPECT_FALSE(detect_media_type("[]"));
  EXPECT_FALSE(detect_media_type("{\"schemaVersion\":2}"));
}

// CVE-2020-15157: foreign layers would make an offline install reach out to the internet.
TEST(Manifest, ForeignLayersAreRefused) {
  auto urls = parse_manifest(data_file("foreign-urls-manifest.json"));
  ASSERT_FALSE(urls);
  EXPECT_EQ(urls.error().code(), core::Errc::kInvalid);
  EXPECT_NE(urls.error().message().find("foreign layer URLs are not allowed offline"),
            std::string::npos)
      << urls.error().message();
  EXPECT_NE(urls.error().message().find("layers[0]"), std::string::npos);
  auto type = parse_manifest(data_file("foreign-type-manifest.json"));
  ASSERT_FALSE(type);
  EXPECT_NE(type.error().message().find("not allowed offline"), std::string::npos);
  // urls on an index entry are refused too.
  std::string index = replace(data_file("oci-index.json"), "\"size\": 610,",
                              "\"size\": 610, \"urls\": [\"https://example.com/x\"],");
  auto idx = parse_index(index);
  ASSERT_FALSE(idx);
  EXPECT_NE(idx.error().message().find("manifests[0]"), std::string::npos);
}

// CVE-2021-41190: a document that reads as both a manifest and an index.
TEST(Manifest, AmbiguousDocumentsAreRefused) {
  std::string amb = data_file("ambiguous.json");
  EXPECT_FALSE(parse_manifest(amb));
  EXPECT_FALSE(parse_index(amb));
  EXPECT_FALSE(detect_media_type(amb));
  // Types are checked against the document's own mediaType.
  EXPECT_FALSE(parse_manifest(data_file("oci-index.json")));
  EXPECT_FALSE(parse_index(data_file("oci-manifest.json")));
}

TEST(Manifest, BadDescriptorsNameTheField) {
  std::string base = data_file("oci-manifest.json");
  std::string digest = "sha256:f8c4f2ea8f0a0e2c4b17e45e6bd4d8ed8d15b2b44f5a6a1a5ae2c1e7f8c66a4f";
  ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(base));
  struct Case {
    std::string text, why;
  };
  const std::vector<Case> cases = {
      {replace(base, m.layers[0].digest, "sha256:../../../../etc/passwd"), "invalid digest"},
      {replace(base, m.layers[0].digest, "sha512:abcd"), "invalid digest"},
      {replace(base, m.layers[0].digest, digest.substr(0, 70)), "invalid digest"},
      {replace(base, "\"size\": 2152262", "\"size\": -1"), "negative size"},
      {replace(base, "\"size\": 2152262", "\"size\": 1.5"), "not an integer"},
      {replace(base, "\"size\": 2152262", "\"size\": \"12\""), "not an integer"},
      {replace(base, "\"size\": 2152262", "\"size\": 18446744073709551615"), "too large"},
      {replace(base, "\"schemaVersion\": 2", "\"schemaVersion\": 3"), "schemaVersion"},
      {replace(base, "\"config\"", "\"konfig\""), "no config"},
      {replace(base, "\"layers\"", "\"lasers\""), "layers is missing"},
      {"{\"schemaVersion\":2,", "json"},
  };
  for (const Case& c : cases) {
    auto r = parse_manifest(c.text);
    ASSERT_FALSE(r) << c.why;
    EXPECT_NE(r.error().message().find(c.why), std::string::npos) << r.error().message();
  }
  auto layer = parse_manifest(cases[0].text);
  EXPECT_NE(layer.error().message().find("manifest: layers[0]"), std::string::npos);
}

TEST(Manifest, JsonSizeLimit) {
  std::string big = data_file("oci-manifest.json");
  big.insert(big.size() - 2, std::string(kMaxJsonSize, ' '));
  auto r = parse_manifest(big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kTooLarge);
  EXPECT_EQ(detect_media_type(big).error().code(), core::Errc::kTooLarge);
}

TEST(Manifest, SerialisationIsCanonicalAndRoundTrips) {
  ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(data_file("docker-manifest.json")));
  std::string json = to_json(m);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  EXPECT_EQ(json.find(": "), std::string::npos);
  ASSERT_OK_AND_ASSIGN(Manifest back, parse_manifest(json));
  EXPECT_EQ(to_json(back), json);
  EXPECT_EQ(back.layers, m.layers);
  EXPECT_EQ(back.config, m.config);
  // Keys are sorted: "config" < "layers" < "mediaType" < "schemaVersion".
  EXPECT_LT(json.find("\"config\""), json.find("\"layers\""));
  EXPECT_LT(json.find("\"layers\""), json.find("\"schemaVersion\""));

  ASSERT_OK_AND_ASSIGN(Index index, parse_index(data_file("oci-index.json")));
  std::string ij = to_json(index);
  ASSERT_OK_AND_ASSIGN(Index index_back, parse_index(ij));
  EXPECT_EQ(index_back.manifests, index.manifests);
  EXPECT_EQ(to_json(index_back), ij);

  Descriptor d = describe(kOciConfig, "{}");
  EXPECT_EQ(d.digest, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(d.size, 2);
}

TEST(Manifest, MediaTypePredicates) {
  EXPECT_TRUE(is_index_type(kOciIndex));
  EXPECT_TRUE(is_index_type(kDockerManifestList));
  EXPECT_FALSE(is_index_type(kOciManifest));
  EXPECT_TRUE(is_manifest_type(kDockerManifest));
  EXPECT_TRUE(is_config_type(kDockerConfig));
  EXPECT_TRUE(is_layer_type(kOciLayerZstd));
  EXPECT_FALSE(is_layer_type(kOciForeignLayerGzip));
  EXPECT_TRUE(is_foreign_layer_type(kDockerForeignLayerGzip));
  EXPECT_TRUE(is_foreign_layer_type(kOciForeignLayer));
}

}  // namespace
}  // namespace images
