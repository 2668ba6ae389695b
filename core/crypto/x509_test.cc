#include "core/crypto/x509.h"

#include <gtest/gtest.h>

#include "core/base/time.h"
#include "core/fs/files.h"
#include "tests/support/test_support.h"

namespace core {
namespace {

TEST(X509, CaAndLeafVerifyWithOpenssl) {
  int64_t now = system_now();
  auto ca_key = *PrivateKey::generate();
  ASSERT_OK_AND_ASSIGN(Certificate ca, Certificate::issue({.common_name = "k3s-server-ca@1",
                                                           .is_ca = true,
                                                           .not_before = now - 60,
                                                           .not_after = now + 3650 * 86400},
                                                          ca_key.public_key(), ca_key, nullptr));
  auto leaf_key = *PrivateKey::generate();
  ASSERT_OK_AND_ASSIGN(Certificate leaf,
                       Certificate::issue({.common_name = "kube-apiserver",
                                           .organizations = {"k3s"},
                                           .dns_names = {"kubernetes", "localhost"},
                                           .ip_addresses = {"127.0.0.1", "10.43.0.1", "::1"},
                                           .server_auth = true,
                                           .not_before = now - 60,
                                           .not_after = now + 365 * 86400},
                                          leaf_key.public_key(), ca_key, &ca));
  EXPECT_TRUE(ca.is_ca());
  EXPECT_FALSE(leaf.is_ca());
  EXPECT_TRUE(leaf.signed_by(ca));
  EXPECT_FALSE(ca.signed_by(leaf));
  EXPECT_EQ(leaf.common_name(), "kube-apiserver");
  EXPECT_EQ(leaf.organizations(), std::vector<std::string>{"k3s"});
  EXPECT_EQ(leaf.dns_names(), (std::vector<std::string>{"kubernetes", "localhost"}));
  EXPECT_EQ(leaf.ip_addresses(), (std::vector<std::string>{"127.0.0.1", "10.43.0.1", "::1"}));
  EXPECT_NEAR(static_cast<double>(leaf.not_after()), static_cast<double>(now + 365 * 86400), 1);
  ASSERT_OK_AND_ASSIGN(Certificate back, Certificate::from_pem(leaf.to_pem()));
  EXPECT_EQ(back.der(), leaf.der());

  // openssl, independently: the chain verifies for TLS server use, and a foreign CA does not.
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK(write_file_atomic(dir.sub("ca.pem"), ca.to_pem()));
  ASSERT_OK(write_file_atomic(dir.sub("leaf.pem"), leaf.to_pem()));
  auto ok = testing_support::run({"openssl", "verify", "-purpose", "sslserver", "-CAfile",
                                  dir.sub("ca.pem"), dir.sub("leaf.pem")});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  auto other_key = *PrivateKey::generate();
  auto other = *Certificate::issue(
      {.common_name = "other-ca", .is_ca = true, .not_before = now, .not_after = now + 86400},
      other_key.public_key(), other_key, nullptr);
  ASSERT_OK(write_file_atomic(dir.sub("other.pem"), other.to_pem()));
  auto bad = testing_support::run(
      {"openssl", "verify", "-CAfile", dir.sub("other.pem"), dir.sub("leaf.pem")});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_FALSE(leaf.signed_by(other));
  auto text = testing_support::run({"openssl", "x509", "-noout", "-ext",
                                    "subjectAltName,extendedKeyUsage", "-in", dir.sub("leaf.pem")});
  EXPECT_NE(text.out.find("IP Address:10.43.0.1"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("TLS Web Server Authentication"), std::string::npos) << text.out;
  EXPECT_FALSE(Certificate::from_pem("not a certificate"));
}

}  // namespace
}  // namespace core
