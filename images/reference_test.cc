#include "images/reference.h"

#include "tests/support/test_support.h"

namespace images {
namespace {

constexpr std::string_view kHex =
    "6e8b8c6fbd1f0a9b1dc4f1b1bd0c3d8b6e0c45c0b9a3e6ad1b2f9e7f0c1d2e3f";

struct Case {
  std::string input;
  std::string registry, repository, tag, digest;
  std::string str, familiar;
};

TEST(Reference, NormalisationTable) {
  const std::string d = "sha256:" + std::string(kHex);
  const std::vector<Case> cases = {
      {"busybox", "docker.io", "library/busybox", "", "", "docker.io/library/busybox", "busybox"},
      {"busybox:1.36", "docker.io", "library/busybox", "1.36", "", "docker.io/library/busybox:1.36",
       "busybox:1.36"},
      {"docker.io/busybox", "docker.io", "library/busybox", "", "", "docker.io/library/busybox",
       "busybox"},
      {"index.docker.io/library/busybox:1", "docker.io", "library/busybox", "1", "",
       "docker.io/library/busybox:1", "busybox:1"},
      {"rancher/klipper-lb:v0.4.13", "docker.io", "rancher/klipper-lb", "v0.4.13", "",
       "docker.io/rancher/klipper-lb:v0.4.13", "rancher/klipper-lb:v0.4.13"},
      {"localhost/app", "localhost", "app", "", "", "localhost/app", "localhost/app"},
      {"localhost:5000/a/b:t", "localhost:5000", "a/b", "t", "", "localhost:5000/a/b:t",
       "localhost:5000/a/b:t"},
      {"registry.local/app", "registry.local", "app", "", "", "registry.local/app",
       "registry.local/app"},
      {"ghcr.io/k3s-io/pause@" + d, "ghcr.io", "k3s-io/pause", "", d, "ghcr.io/k3s-io/pause@" + d,
       "ghcr.io/k3s-io/pause@" + d},
      {"busybox:1.36@" + d, "docker.io", "library/busybox", "1.36", d,
       "docker.io/library/busybox:1.36@" + d, "busybox:1.36@" + d},
      // ':' in the first component without '/' is a tag, not a port.
      {"localhost:5000", "docker.io", "library/localhost", "5000", "",
       "docker.io/library/localhost:5000", "localhost:5000"},
      {"[::1]:5000/app:v1", "[::1]:5000", "app", "v1", "", "[::1]:5000/app:v1",
       "[::1]:5000/app:v1"},
      {"a.b/c__d/e-f---g/h.i_j:Tag_1.x-y", "a.b", "c__d/e-f---g/h.i_j", "Tag_1.x-y", "",
       "a.b/c__d/e-f---g/h.i_j:Tag_1.x-y", "a.b/c__d/e-f---g/h.i_j:Tag_1.x-y"},
      // docker.io with a nested "library/x/y" keeps the prefix in the familiar form.
      {"library/a/b", "docker.io", "library/a/b", "", "", "docker.io/library/a/b", "library/a/b"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    ASSERT_OK_AND_ASSIGN(Reference r, Reference::parse(c.input));
    EXPECT_EQ(r.registry, c.registry);
    EXPECT_EQ(r.repository, c.repository);
    EXPECT_EQ(r.tag, c.tag);
    EXPECT_EQ(r.digest, c.digest);
    EXPECT_EQ(r.str(), c.str);
    EXPECT_EQ(r.familiar(), c.familiar);
    EXPECT_EQ(r.name(), c.registry + "/" + c.repository);
    // The fully qualified form parses back to the same value.
    ASSERT_OK_AND_ASSIGN(Reference again, Reference::parse(r.str()));
    EXPECT_EQ(again, r);
  }
}

TEST(Reference, BadInputsAreRefusedWithTheRule) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "empty"},
      {"Busybox", "must be lowercase"},
      {"docker.io/Library/busybox", "must be lowercase"},
      {"rancher/Klipper", "must be lowercase"},
      {std::string(kHex), "64-digit"},
      {"busybox@sha256:abc", "invalid digest"},
      {"busybox@sha256:" + std::string(kHex.substr(0, 63)) + "G", "invalid digest"},
      {"busybox@sha256:" + std::string(64, 'A'), "invalid digest"},
      {"busybox@sha256:../../../../etc/passwd", "invalid"},
      {"busybox@sha512:" + std::string(128, 'a'), "only sha256"},
      {"busybox:", "invalid tag"},
      {"busybox:-x", "invalid tag"},
      {"busybox:" + std::string(129, 'a'), "invalid tag"},
      {"busybox:a/b", "invalid"},
      {"-busybox", "invalid repository"},
      {"busy..box", "invalid repository"},
      {"busybox/", "invalid repository"},
      {"a//b", "invalid repository"},
      {"reg.io:/x", "invalid registry"},
      {"reg-.io/x", "invalid registry"},
      {"a.io/" + std::string(256, 'a'), "255 characters"},
      {"../etc/passwd", "invalid"},
      {"busybox\n", "invalid"},
  };
  for (const auto& [input, why] : bad) {
    SCOPED_TRACE(input);
    auto r = Reference::parse(input);
    ASSERT_FALSE(r) << r->str();
    EXPECT_EQ(r.error().code(), core::Errc::kInvalid);
    EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
  }
}

TEST(Reference, DefaultTag) {
  ASSERT_OK_AND_ASSIGN(Reference r, Reference::parse("busybox"));
  EXPECT_EQ(r.with_default_tag().str(), "docker.io/library/busybox:latest");
  ASSERT_OK_AND_ASSIGN(Reference tagged, Reference::parse("busybox:1"));
  EXPECT_EQ(tagged.with_default_tag().str(), "docker.io/library/busybox:1");
}

TEST(Reference, DigestHelpers) {
  std::string d = "sha256:" + std::string(kHex);
  EXPECT_TRUE(is_valid_digest(d));
  EXPECT_EQ(digest_hex(d), kHex);
  EXPECT_EQ(sha256_digest(kHex), d);
  for (const std::string& bad :
       {std::string("sha256:"), std::string(kHex), "sha512:" + std::string(kHex),
        "SHA256:" + std::string(kHex), d + "0", d.substr(0, 70),
        std::string("sha256:../../../etc/passwd"), "sha256:" + std::string(63, 'a') + "/"}) {
    EXPECT_FALSE(is_valid_digest(bad)) << bad;
    EXPECT_EQ(digest_hex(bad), "") << bad;
    EXPECT_FALSE(check_digest(bad, "test"));
  }
  auto r = check_digest("sha256:../x", "layer 3");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "layer 3: invalid digest \"sha256:../x\"");
}

}  // namespace
}  // namespace images
