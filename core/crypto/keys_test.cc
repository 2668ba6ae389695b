#include "core/crypto/keys.h"

#include "core/crypto/base64.h"
#include "core/fs/files.h"
#include "tests/support/test_support.h"

namespace core {

TEST(Keys, SignVerifyRoundTripAndTamper) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::generate());
  ASSERT_OK_AND_ASSIGN(std::string sig, key.sign("hello"));
  EXPECT_OK(key.public_key().verify("hello", sig));
  auto bad = key.public_key().verify("hellp", sig);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Errc::kIntegrity);
  EXPECT_FALSE(key.public_key().verify("hello", ""));
  EXPECT_FALSE(key.public_key().verify("hello", sig.substr(0, sig.size() - 3)));
  EXPECT_FALSE(key.public_key().verify("hello", std::string(4096, 'x')));
}

TEST(Keys, PemRoundTripKeepsKeyId) {
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::generate());
  ASSERT_OK_AND_ASSIGN(PrivateKey again, PrivateKey::from_pem(key.to_pem()));
  ASSERT_OK_AND_ASSIGN(PublicKey pub, PublicKey::from_pem(key.public_key().to_pem()));
  EXPECT_EQ(again.public_key().key_id(), key.public_key().key_id());
  EXPECT_EQ(pub.key_id(), key.public_key().key_id());
  EXPECT_FALSE(PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  EXPECT_FALSE(PrivateKey::from_pem(""));
}

// Our signatures are accepted by openssl, and openssl's by us: the cosign blob format.
TEST(Keys, InteroperatesWithOpenssl) {
  if (!testing_support::have_program("openssl")) GTEST_SKIP() << "openssl not installed";
  TempDir dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(PrivateKey key, PrivateKey::generate());
  ASSERT_OK(write_file_atomic(dir.sub("k.pub"), key.public_key().to_pem()));
  ASSERT_OK(write_file_atomic(dir.sub("k.key"), key.to_pem(), 0600));
  ASSERT_OK(write_file_atomic(dir.sub("data"), "payload bytes"));
  ASSERT_OK_AND_ASSIGN(std::string sig, key.sign("payload bytes"));
  ASSERT_OK(write_file_atomic(dir.sub("data.sig"), sig));
  auto out = testing_support::run({"openssl", "dgst", "-sha256", "-verify", dir.sub("k.pub"),
                                   "-signature", dir.sub("data.sig"), dir.sub("data")});
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_NE(out.out.find("Verified OK"), std::string::npos);

  out = testing_support::run({"openssl", "dgst", "-sha256", "-sign", dir.sub("k.key"), "-out",
                              dir.sub("ossl.sig"), dir.sub("data")});
  ASSERT_EQ(out.exit_code, 0) << out.out;
  ASSERT_OK_AND_ASSIGN(std::string ossl_sig, read_file(dir.sub("ossl.sig")));
  EXPECT_OK(key.public_key().verify("payload bytes", ossl_sig));
}

}  // namespace core
