#include "core/crypto/csr.h"

#include <gtest/gtest.h>

namespace core {
namespace {

TEST(Csr, CarriesTheKeyAndVerifies) {
  auto key = PrivateKey::generate();
  ASSERT_TRUE(key);
  auto der = make_csr(*key, "system:node:worker-1");
  ASSERT_TRUE(der);
  auto pub = csr_public_key(*der);
  ASSERT_TRUE(pub) << pub.error().message();
  EXPECT_EQ(pub->key_id(), key->public_key().key_id());
}

TEST(Csr, RefusesTamperedAndGarbage) {
  auto key = PrivateKey::generate();
  std::string der = *make_csr(*key, "system:node:worker-1");
  std::string tampered = der;
  tampered[tampered.find("worker-1")] = 'W';  // the subject changes under the signature
  auto r = csr_public_key(tampered);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kInvalid);
  EXPECT_FALSE(csr_public_key("not a request"));
  EXPECT_FALSE(csr_public_key(""));
}

}  // namespace
}  // namespace core
