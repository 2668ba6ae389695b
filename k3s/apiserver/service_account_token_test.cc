#include "k3s/apiserver/service_account_token.h"

#include <gtest/gtest.h>

namespace k3s::apiserver {
namespace {

constexpr int64_t kNow = 1'800'000'000;

class ServiceAccountToken : public testing::Test {
 protected:
  core::PrivateKey key_ = *core::PrivateKey::generate();
  ServiceAccountClaims claims_{.ns = "default",
                               .name = "bot",
                               .uid = "u-1",
                               .audiences = {"k3s"},
                               .issued = kNow,
                               .expires = kNow + 600};
  std::vector<std::string> ours_ = {kServiceAccountIssuer, "k3s"};
};

TEST_F(ServiceAccountToken, RoundTrips) {
  std::string token = *sign_service_account_token(key_, claims_);
  auto c = verify_service_account_token(key_.public_key(), token, ours_, kNow + 1);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->ns, "default");
  EXPECT_EQ(c->name, "bot");
  EXPECT_EQ(c->uid, "u-1");
  EXPECT_EQ(c->expires, kNow + 600);
}

TEST_F(ServiceAccountToken, RefusesTamperedExpiredForeignAndOtherAudiences) {
  std::string token = *sign_service_account_token(key_, claims_);
  std::string tampered = token;
  tampered[token.find('.') + 5] ^= 1;
  EXPECT_FALSE(verify_service_account_token(key_.public_key(), tampered, ours_, kNow));
  EXPECT_FALSE(verify_service_account_token(key_.public_key(), token, ours_, kNow + 600));
  EXPECT_FALSE(verify_service_account_token(key_.public_key(), token, ours_, kNow - 10));
  EXPECT_FALSE(verify_service_account_token(key_.public_key(), token, {"elsewhere"}, kNow));
  core::PrivateKey other = *core::PrivateKey::generate();
  EXPECT_FALSE(verify_service_account_token(other.public_key(), token, ours_, kNow));
  for (const char* junk : {"", "a.b", "a.b.c", "eyJ.eyJ.AAAA"}) {
    auto r = verify_service_account_token(key_.public_key(), junk, ours_, kNow);
    ASSERT_FALSE(r) << junk;
    EXPECT_EQ(r.error().code(), core::Errc::kUnauthorized);
  }
}

}  // namespace
}  // namespace k3s::apiserver
