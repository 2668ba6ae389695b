#include "images/platform.h"

#include "tests/support/test_support.h"

namespace images {
namespace {

TEST(Platform, ParseNormalises) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"linux/amd64", "linux/amd64"},       {"linux/x86_64", "linux/amd64"},
      {"Linux/X86-64", "linux/amd64"},      {"linux/amd64/v1", "linux/amd64"},
      {"linux/amd64/v3", "linux/amd64/v3"}, {"linux/arm64", "linux/arm64/v8"},
      {"linux/aarch64", "linux/arm64/v8"},  {"linux/arm64/8", "linux/arm64/v8"},
      {"linux/arm64/v9", "linux/arm64/v9"}, {"linux/arm", "linux/arm/v7"},
      {"linux/armhf", "linux/arm/v7"},      {"linux/armel", "linux/arm/v6"},
      {"linux/arm/6", "linux/arm/v6"},      {"linux/i386", "linux/386"},
      {"macos/arm64", "darwin/arm64/v8"},   {"linux/s390x", "linux/s390x"},
      {"windows/amd64", "windows/amd64"},
  };
  for (const auto& [in, want] : cases) {
    ASSERT_OK_AND_ASSIGN(Platform p, Platform::parse(in));
    EXPECT_EQ(p.str(), want) << in;
  }
}

TEST(Platform, SingleComponentUsesTheHost) {
  Platform host = host_platform();
  EXPECT_EQ(host.os, "linux");
  ASSERT_OK_AND_ASSIGN(Platform os_only, Platform::parse("linux"));
  EXPECT_EQ(os_only, host);
  ASSERT_OK_AND_ASSIGN(Platform arch_only, Platform::parse("arm64"));
  EXPECT_EQ(arch_only.str(), "linux/arm64/v8");
  ASSERT_OK_AND_ASSIGN(Platform aarch, Platform::parse("aarch64"));
  EXPECT_EQ(aarch.str(), "linux/arm64/v8");
}

TEST(Platform, BadSpecifiers) {
  const std::vector<std::string> bad_specifiers = {"",
                                                   "/",
                                                   "linux/",
                                                   "/amd64",
                                                   "linux/amd64/v8/x",
                                                   "linux/am d64",
                                                   "linux/../amd64",
                                                   "plan10",
                                                   "linux/amd64/"};
  for (const std::string& bad : bad_specifiers) {
    auto p = Platform::parse(bad);
    EXPECT_FALSE(p) << bad;
    if (!p) {
      EXPECT_EQ(p.error().code(), core::Errc::kInvalid);
      EXPECT_NE(p.error().message().find("platform"), std::string::npos);
    }
  }
}

TEST(Platform, Matching) {
  auto P = [](std::string os, std::string arch, std::string variant = "") {
    return Platform{std::move(os), std::move(arch), std::move(variant)};
  };
  EXPECT_TRUE(P("linux", "arm64").matches(P("linux", "arm64", "v8")));
  EXPECT_TRUE(P("linux", "aarch64").matches(P("linux", "arm64")));
  EXPECT_TRUE(P("linux", "arm").matches(P("linux", "arm", "v7")));
  EXPECT_TRUE(P("linux", "x86_64").matches(P("linux", "amd64")));
  EXPECT_TRUE(P("Linux", "amd64", "v1").matches(P("linux", "amd64")));
  EXPECT_FALSE(P("linux", "arm", "v6").matches(P("linux", "arm", "v7")));
  EXPECT_FALSE(P("linux", "arm64").matches(P("linux", "arm", "v8")));
  EXPECT_FALSE(P("linux", "amd64").matches(P("windows", "amd64")));
  EXPECT_FALSE(P("linux", "amd64", "v3").matches(P("linux", "amd64")));
  EXPECT_TRUE(host_platform().matches(host_platform()));
}

}  // namespace
}  // namespace images
