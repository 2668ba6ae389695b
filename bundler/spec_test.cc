#include "bundler/spec.h"

#include <algorithm>

#include "tests/support/test_support.h"

namespace bundler {

constexpr char kSpec[] = R"(apiVersion: k3s-airgap/v1
kind: Bundle
name: site-a
sequence: 1
expires: "2027-12-31T00:00:00Z"
k3s: {version: v1.32.4+k3s1}
arch: [amd64]
artifacts:
  - {name: k3s, path: ./build/bin/k3s}
  - {name: kubectl, url: "https://example.invalid/kubectl", sha256: "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}
images:
  - docker.io/rancher/mirrored-pause:3.6
registries:
  mirrors: {"docker.io": {endpoint: ["http://127.0.0.1:5000"]}}
manifests: ./manifests
)";

TEST(Spec, ParsesTheDocumentedExample) {
  ASSERT_OK_AND_ASSIGN(BundleSpec s, parse_spec(kSpec, "/specs"));
  EXPECT_EQ(s.name, "site-a");
  EXPECT_EQ(s.k3s_version, "v1.32.4+k3s1");
  ASSERT_EQ(s.artifacts.size(), 2u);
  EXPECT_EQ(s.artifacts[0].path, "/specs/./build/bin/k3s");
  EXPECT_EQ(s.artifacts[1].sha256.substr(0, 6), "abcdef");
  EXPECT_EQ(s.manifests_dir, "/specs/./manifests");
  EXPECT_NE(s.registries_yaml.find("127.0.0.1:5000"), std::string::npos);
}

TEST(Spec, ImagesDefaultToThePackagedComponents) {
  std::string spec = kSpec;
  spec.replace(spec.find("images:"), spec.find("registries:") - spec.find("images:"), "");
  ASSERT_OK_AND_ASSIGN(BundleSpec s, parse_spec(spec, "/specs"));
  EXPECT_EQ(s.images, default_images());
  EXPECT_EQ(s.images.size(), 6u);
  EXPECT_NE(std::find(s.images.begin(), s.images.end(),
                      "docker.io/rancher/mirrored-coredns-coredns:1.13.1"),
            s.images.end());
  EXPECT_NE(std::find(s.images.begin(), s.images.end(), "docker.io/rancher/mirrored-pause:3.6"),
            s.images.end());
  spec.insert(spec.find("registries:"), "images: []\n");
  ASSERT_OK_AND_ASSIGN(BundleSpec none, parse_spec(spec, "/specs"));
  EXPECT_TRUE(none.images.empty());
}

TEST(Spec, RejectsBadSpecsNamingTheField) {
  struct Case {
    std::string from, to, message;
  };
  for (const Case& c : std::vector<Case>{
           {"sequence: 1", "sequence: 0", "sequence"},
           {"name: site-a", "name: Site_A", "name"},
           {"arch: [amd64]", "arch: [amd64, amd64]", "twice"},
           {"arch: [amd64]", "arch: [sparc]", "unknown arch"},
           {"k3s: {version: v1.32.4+k3s1}", "k3s: {}", "k3s needs"},
           {"path: ./build/bin/k3s", "path: ./x, url: http://x", "exactly one"},
           {"name: kubectl, url", "name: ../kubectl, url", "plain file name"},
           {"expires: \"2027-12-31T00:00:00Z\"", "expires: soon", "RFC 3339"},
           {"apiVersion: k3s-airgap/v1", "apiVersion: v2", "apiVersion"},
       }) {
    std::string bad = kSpec;
    size_t pos = bad.find(c.from);
    ASSERT_NE(pos, std::string::npos) << c.from;
    bad.replace(pos, c.from.size(), c.to);
    auto r = parse_spec(bad, "/specs");
    ASSERT_FALSE(r) << c.to;
    EXPECT_NE(r.error().message().find(c.message), std::string::npos) << r.error().message();
  }
}

TEST(Lock, RoundTrip) {
  BundleLock lock;
  lock.created = 1767225600;
  lock.k3s_version = "v1.32.4+k3s1";
  lock.artifacts = {{"k3s", std::string(64, 'a'), 10}};
  lock.images = {{"docker.io/library/busybox:1",
                  "sha256:" + std::string(64, 'c'),
                  {{"linux/amd64", "sha256:" + std::string(64, 'd')}}}};
  ASSERT_OK_AND_ASSIGN(BundleLock back, parse_lock(serialize_lock(lock)));
  EXPECT_EQ(serialize_lock(back), serialize_lock(lock));
  ASSERT_NE(back.artifact("k3s"), nullptr);
  EXPECT_EQ(back.artifact("k3s")->size, 10u);
  EXPECT_FALSE(parse_lock("{}"));
}

}  // namespace bundler
