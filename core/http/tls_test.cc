#include <gtest/gtest.h>

#include <cstdlib>

#include "core/http/client.h"
#include "core/http/server.h"
#include "core/http/test_peers.h"
#include "tests/support/test_support.h"

namespace core::http {
namespace {

// OpenSSL reads its configuration once, at first use; point it (and the openssl commands the
// tests run) at a lax one before that, so the TLS 1.2 minimum must come from our code.
const bool kLaxOpenSslConfig =
    ::setenv("OPENSSL_CONF", K3A_SOURCE_DIR "/core/http/testdata/openssl-lax.cnf", 1) == 0;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kLaxOpenSslConfig);
    pki_ = testing::shared_test_pki();
    if (pki_ == nullptr) GTEST_SKIP() << "no openssl command to make certificates";
    Handler hello = [](const ServerRequest& r, ResponseWriter& w) { w.send("secure " + r.path); };
    ASSERT_OK_AND_ASSIGN(
        server_,
        Server::start({.tls_cert_file = pki_->leaf_cert, .tls_key_file = pki_->leaf_key}, hello));
    ASSERT_OK_AND_ASSIGN(wrong_name_, Server::start({.tls_cert_file = pki_->wrong_name_cert,
                                                     .tls_key_file = pki_->wrong_name_key},
                                                    hello));
  }

  ClientOptions options(std::string ca_file) const {
    ClientOptions options;
    options.ca_file = std::move(ca_file);
    options.retries = 0;
    return options;
  }

  void expect_verify_failure(const Result<Response>& result, std::string_view detail = "") {
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code(), Errc::kUnavailable);
    const std::string& message = result.error().message();
    EXPECT_NE(message.find("certificate verify failed"), std::string::npos) << message;
    EXPECT_NE(message.find("127.0.0.1:"), std::string::npos) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << message;
  }

  const testing::TestPki* pki_ = nullptr;
  std::unique_ptr<Server> server_, wrong_name_;
};

TEST_F(TlsTest, VerifiesAgainstTheCaFile) {
  EXPECT_TRUE(server_->url().starts_with("https://127.0.0.1:"));
  Client client(options(pki_->ca_cert));
  ASSERT_OK_AND_ASSIGN(Response by_ip, client.send({.url = server_->url() + "/ip"}));
  EXPECT_EQ(by_ip.body, "secure /ip");
  std::string by_name_url = "https://localhost:" + std::to_string(server_->port()) + "/name";
  ASSERT_OK_AND_ASSIGN(Response by_name, client.send({.url = by_name_url}));
  EXPECT_EQ(by_name.body, "secure /name");
}

TEST_F(TlsTest, FailsWithoutTheCa) {
  Client client(options(""));  // OpenSSL's default paths do not know our CA
  expect_verify_failure(client.send({.url = server_->url()}));
}

TEST_F(TlsTest, FailsWithAnotherCa) {
  Client client(options(pki_->other_ca_cert));
  expect_verify_failure(client.send({.url = server_->url()}));
}

TEST_F(TlsTest, ChecksTheHostName) {
  Client client(options(pki_->ca_cert));
  expect_verify_failure(client.send({.url = wrong_name_->url()}), "mismatch");
}

TEST_F(TlsTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  ClientOptions opts = options("");
  opts.insecure_skip_verify = true;
  Client client(opts);
  ASSERT_OK_AND_ASSIGN(Response response, client.send({.url = wrong_name_->url()}));
  EXPECT_EQ(response.status, 200);
}

TEST_F(TlsTest, MissingCaFileIsInvalid) {
  Client client(options("/nonexistent/ca.pem"));
  auto result = client.send({.url = server_->url()});
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), Errc::kInvalid);
  EXPECT_NE(result.error().message().find("/nonexistent/ca.pem"), std::string::npos);
}

TEST_F(TlsTest, KeepAliveOverTls) {
  Client client(options(pki_->ca_cert));
  for (int i = 0; i < 3; ++i) ASSERT_OK(client.send({.url = server_->url()}));
  EXPECT_EQ(server_->connections_accepted(), 1u);
}

TEST_F(TlsTest, RefusesTls11Clients) {
  if (!testing_support::have_program("openssl")) GTEST_SKIP() << "no openssl command";
  std::string address = "127.0.0.1:" + std::to_string(server_->port());
  // Control: the same command speaking TLS 1.2 gets through.
  auto tls12 = testing_support::run({"openssl", "s_client", "-connect", address, "-tls1_2"});
  EXPECT_EQ(tls12.exit_code, 0) << tls12.out;
  EXPECT_NE(tls12.out.find("TLSv1.2"), std::string::npos) << tls12.out;
  auto tls11 = testing_support::run({"openssl", "s_client", "-connect", address, "-tls1_1"});
  EXPECT_NE(tls11.exit_code, 0) << tls11.out;
  EXPECT_NE(tls11.out.find("protocol version"), std::string::npos) << tls11.out;
}

}  // namespace
}  // namespace core::http
