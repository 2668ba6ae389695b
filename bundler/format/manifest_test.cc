#include "bundler/format/manifest.h"

#include "bundler/bundle_test_support.h"
#include "tests/support/test_support.h"

namespace bundler {

TEST(BundleManifest, RoundTripIsCanonical) {
  BundleManifest m = testing::manifest_for({{"bin/b", "2"}, {"bin/a", "1"}});
  m.expires = "2027-12-31T00:00:00Z";
  m.images.push_back({"docker.io/rancher/mirrored-pause:3.6",
                      "sha256:" + std::string(64, 'a'),
                      {{"linux/amd64", "sha256:" + std::string(64, 'b')}}});
  std::string json = serialize_manifest(m);
  ASSERT_OK_AND_ASSIGN(BundleManifest back, parse_manifest(json));
  EXPECT_EQ(serialize_manifest(back), json);
  EXPECT_EQ(back.files[0].path, "bin/a");
  ASSERT_NE(back.find_file("bin/b"), nullptr);
  EXPECT_EQ(back.find_file("bin/c"), nullptr);
  EXPECT_EQ(back.total_file_bytes(), 2u);
}

TEST(BundleManifest, StrictParsing) {
  std::string good = serialize_manifest(testing::manifest_for({{"bin/a", "1"}}));
  struct Case {
    std::string from, to, message;
  };
  for (const Case& c : std::vector<Case>{
           {"\"bin/a\"", "\"../a\"", "'..'"},
           {"\"bin/a\"", "\"/bin/a\"", "absolute"},
           {"\"0755\"", "\"4755\"", "mode"},
           {"\"artifact\"", "\"weird\"", "role"},
           {"\"schemaVersion\": 1", "\"schemaVersion\": 9", "schemaVersion"},
           {"\"sequence\": 1", "\"sequence\": -1", "sequence"},
           {"\"2026-01-01T00:00:00Z\"", "\"yesterday\"", "RFC 3339"},
       }) {
    std::string bad = good;
    size_t pos = bad.find(c.from);
    ASSERT_NE(pos, std::string::npos) << c.from;
    bad.replace(pos, c.from.size(), c.to);
    auto r = parse_manifest(bad);
    ASSERT_FALSE(r) << c.to;
    EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
  }
  BundleManifest dup = testing::manifest_for({{"bin/a", "1"}});
  dup.files.push_back(dup.files[0]);
  EXPECT_FALSE(parse_manifest(serialize_manifest(dup)));
}

}  // namespace bundler
