#include "k3s/apiserver/bootstrap_token.h"

#include <gtest/gtest.h>

#include <regex>

#include "core/crypto/base64.h"

namespace k3s::apiserver {
namespace {

constexpr int64_t kNow = 1'800'000'000;

TEST(BootstrapToken, GeneratedTokensMatchThePatternAndDiffer) {
  std::regex pattern("^[a-z0-9]{6}\\.[a-z0-9]{16}$");
  std::string a = generate_bootstrap_token(), b = generate_bootstrap_token();
  EXPECT_TRUE(std::regex_match(a, pattern)) << a;
  EXPECT_NE(a, b);
}

TEST(BootstrapToken, ParsesShortAndSecureForms) {
  auto t = parse_bootstrap_token("abcdef.0123456789abcdef");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->id, "abcdef");
  EXPECT_EQ(t->secret, "0123456789abcdef");
  std::string hash(64, 'a');
  EXPECT_EQ(parse_bootstrap_token("K10" + hash + "::abcdef.0123456789abcdef")->id, "abcdef");
  for (const char* bad :
       {"", "abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde",
        "abcdef.0123456789abcdef0", "abc_ef.0123456789abcdef"}) {
    EXPECT_FALSE(parse_bootstrap_token(bad)) << bad;
  }
}

TEST(BootstrapToken, ValidatesUsagesAndGroups) {
  BootstrapToken t{.id = "abcdef", .secret = "0123456789abcdef"};
  EXPECT_TRUE(validate_bootstrap_token(t));
  t.usages = {"signing", "everything"};
  EXPECT_FALSE(validate_bootstrap_token(t));
  t.usages = {"authentication"};
  t.groups = {"system:bootstrappers:edge-01"};
  EXPECT_TRUE(validate_bootstrap_token(t));
  for (const char* bad : {"system:masters", "system:bootstrappers:", "system:bootstrappers:Edge"}) {
    t.groups = {bad};
    EXPECT_FALSE(validate_bootstrap_token(t)) << bad;
  }
}

TEST(BootstrapToken, SecretRoundTripsInKubeadmsLayout) {
  BootstrapToken t{.id = "abcdef",
                   .secret = "0123456789abcdef",
                   .description = "edge",
                   .expires = kNow + 3600,
                   .groups = {"system:bootstrappers:a", "system:bootstrappers:b"}};
  nlohmann::json s = bootstrap_token_secret(t);
  EXPECT_EQ(s["metadata"]["name"], "bootstrap-token-abcdef");
  EXPECT_EQ(s["metadata"]["namespace"], "kube-system");
  EXPECT_EQ(s["type"], kBootstrapTokenType);
  EXPECT_EQ(*core::base64_decode(s["data"]["expiration"].get<std::string>()),
            "2027-01-15T09:00:00Z");
  EXPECT_EQ(*core::base64_decode(s["data"]["usage-bootstrap-authentication"].get<std::string>()),
            "true");
  EXPECT_EQ(*core::base64_decode(s["data"]["auth-extra-groups"].get<std::string>()),
            "system:bootstrappers:a,system:bootstrappers:b");
  auto back = bootstrap_token_from_secret(s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->secret, t.secret);
  EXPECT_EQ(back->description, "edge");
  EXPECT_EQ(back->expires, t.expires);
  EXPECT_EQ(back->usages, t.usages);
  EXPECT_EQ(back->groups, t.groups);

  s["metadata"]["name"] = "bootstrap-token-zzzzzz";  // the name must agree with the id
  EXPECT_FALSE(bootstrap_token_from_secret(s));
  s["metadata"]["name"] = "bootstrap-token-abcdef";
  s["type"] = "Opaque";
  EXPECT_FALSE(bootstrap_token_from_secret(s));
}

TEST(BootstrapToken, AuthenticatesOnlyTheRightUnexpiredAuthenticationToken) {
  BootstrapToken t{.id = "abcdef", .secret = "0123456789abcdef", .expires = kNow + 60};
  nlohmann::json s = bootstrap_token_secret(t);
  auto id = authenticate_bootstrap_token("abcdef.0123456789abcdef", s, kNow);
  ASSERT_TRUE(id);
  EXPECT_EQ(id->user, "system:bootstrap:abcdef");
  EXPECT_EQ(id->groups, (std::vector<std::string>{"system:bootstrappers", kDefaultBootstrapGroup}));
  EXPECT_FALSE(authenticate_bootstrap_token("abcdef.0123456789abcdee", s, kNow));
  EXPECT_FALSE(authenticate_bootstrap_token("abcdef.0123456789abcdef", s, kNow + 60));
  t.usages = {"signing"};
  EXPECT_FALSE(
      authenticate_bootstrap_token("abcdef.0123456789abcdef", bootstrap_token_secret(t), kNow));
}

}  // namespace
}  // namespace k3s::apiserver
