#include "bundler/format/signatures.h"

#include "core/crypto/base64.h"
#include "tests/support/test_support.h"

namespace bundler {

TEST(Signatures, SerializeKeepsOnePerKey) {
  core::PrivateKey a = *core::PrivateKey::generate();
  std::string s1 = *a.sign("x"), s2 = *a.sign("x");
  ASSERT_OK_AND_ASSIGN(auto parsed,
                       parse_signatures(serialize_signatures(
                           {{a.public_key().key_id(), s1}, {a.public_key().key_id(), s2}})));
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].der, s2);
}

TEST(Signatures, ThresholdCountsDistinctTrustedKeys) {
  core::PrivateKey a = *core::PrivateKey::generate(), b = *core::PrivateKey::generate();
  std::string payload = "bundle.json bytes";
  std::vector<Signature> sigs = {{a.public_key().key_id(), *a.sign(payload)},
                                 {b.public_key().key_id(), *b.sign(payload)}};
  EXPECT_OK(check_signatures(payload, sigs, {a.public_key(), b.public_key()}, 2));
  EXPECT_FALSE(check_signatures(payload, sigs, {a.public_key(), a.public_key()}, 2));
  EXPECT_FALSE(check_signatures("other", sigs, {a.public_key(), b.public_key()}, 1));
  // A signature labelled with a trusted key id but made by another key does not count.
  std::vector<Signature> forged = {{a.public_key().key_id(), *b.sign(payload)}};
  auto r = check_signatures(payload, forged, {a.public_key()}, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kUnauthorized);
}

TEST(Signatures, DetachedSignatureIsPlainBase64Der) {
  core::PrivateKey a = *core::PrivateKey::generate();
  core::Sha256::Digest d = core::Sha256::of("file");
  ASSERT_OK_AND_ASSIGN(std::string text, make_detached_signature(a, d));
  EXPECT_EQ(text.back(), '\n');
  ASSERT_OK_AND_ASSIGN(std::string der, core::base64_decode(text));
  EXPECT_OK(a.public_key().verify_digest(d, der));
  EXPECT_OK(check_detached_signature(text, d, {a.public_key()}));
  EXPECT_FALSE(check_detached_signature("", d, {a.public_key()}));
  EXPECT_FALSE(check_detached_signature("@@@@", d, {a.public_key()}));
  EXPECT_FALSE(check_detached_signature(std::string(5000, 'A'), d, {a.public_key()}));
}

}  // namespace bundler
