// Authentication and TLS against a real docker-registry: htpasswd basic auth, distribution's token
// auth with our own token server (ES256 JWTs), and HTTPS with a CA from registries.yaml.
#include <fmt/core.h>

#include "core/fs/files.h"
#include "images/registry_client.h"
#include "images/registry_test_support.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing_support::have_program;
using testing_support::run;

class RegistryAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_program("docker-registry")) GTEST_SKIP() << "docker-registry is not installed";
    ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir_.sub("store")));
    store_.emplace(std::move(store));
    ASSERT_OK_AND_ASSIGN(manifests_,
                         testing::build_busybox_images(dir_.path(), *store_, {"linux/amd64"}));
  }

  Reference at_registry(const std::string& rest) {
    return Reference::parse(registry_->host() + "/" + rest).value();
  }
  std::vector<ArchiveImage> image(const std::string& rest) {
    return {{at_registry(rest), manifests_[0], std::nullopt}};
  }
  RegistryConfig config(const std::string& yaml) {
    auto parsed = RegistryConfig::parse_yaml(yaml);
    EXPECT_TRUE(parsed) << parsed.error().message();
    return parsed.value_or(RegistryConfig{});
  }
  RegistryConfig credentials(const std::string& user, const std::string& password) {
    return config(fmt::format("configs:\n  \"{}\":\n    auth: {{username: {}, password: {}}}\n",
                              registry_->host(), user, password));
  }
  core::Result<std::vector<ArchiveImage>> pull(RegistryClient& client, const std::string& rest) {
    auto store = BlobStore::open(dir_.sub("pulled-" + std::to_string(++pulls_)));
    if (!store) return std::unexpected(store.error());
    return client.pull(at_registry(rest), *store, {.platforms = {Platform{"linux", "amd64", ""}}});
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  std::unique_ptr<testing::LocalRegistry> registry_;
  std::optional<BlobStore> store_;
  std::vector<Descriptor> manifests_;
  int pulls_ = 0;
};

TEST_F(RegistryAuthTest, BasicAuthFromRegistriesYaml) {
  if (!have_program("htpasswd")) GTEST_SKIP() << "htpasswd (apache2-utils) is not installed";
  auto htpasswd = run({"htpasswd", "-Bbn", "user", "pass"});
  ASSERT_EQ(htpasswd.exit_code, 0) << htpasswd.out;
  ASSERT_OK(core::write_file_atomic(dir_.sub("htpasswd"), htpasswd.out));
  ASSERT_OK_AND_ASSIGN(
      registry_,
      testing::LocalRegistry::start(dir_.sub("registry"), {.htpasswd_file = dir_.sub("htpasswd")}));

  RegistryClient anonymous;
  auto refused = anonymous.push(at_registry("private/app:1"), image("private/app:1"), *store_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), core::Errc::kUnauthorized);
  EXPECT_NE(refused.error().message().find("(401)"), std::string::npos);
  EXPECT_NE(refused.error().message().find("no credentials for " + registry_->host()),
            std::string::npos)
      << refused.error().message();

  RegistryClient authorized(credentials("user", "pass"));
  ASSERT_OK(authorized.push(at_registry("private/app:1"), image("private/app:1"), *store_));
  ASSERT_OK_AND_ASSIGN(auto images, pull(authorized, "private/app:1"));
  EXPECT_EQ(images[0].manifest.digest, manifests_[0].digest);

  auto anonymous_pull = pull(anonymous, "private/app:1");
  ASSERT_FALSE(anonymous_pull);
  EXPECT_EQ(anonymous_pull.error().code(), core::Errc::kUnauthorized);
  EXPECT_EQ(anonymous_pull.error().message().find("pull " + registry_->host() +
                                                  "/private/app:1: " + registry_->url() + ": "),
            0u)
      << anonymous_pull.error().message();

  RegistryClient wrong(credentials("user", "wrong"));
  auto rejected = pull(wrong, "private/app:1");
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().code(), core::Errc::kUnauthorized);
  EXPECT_NE(rejected.error().message().find("refused the credentials"), std::string::npos)
      << rejected.error().message();
}

class TokenAuthTest : public RegistryAuthTest {
 protected:
  void SetUp() override {
    RegistryAuthTest::SetUp();
    if (IsSkipped()) return;
    if (!have_program("openssl")) GTEST_SKIP() << "openssl is not installed";
    ASSERT_OK_AND_ASSIGN(testing::CertFiles signing, testing::make_cert(dir_.path(), "token"));
    ASSERT_OK_AND_ASSIGN(tokens_,
                         testing::TokenServer::start(signing, "test-registry", "test-issuer"));
    RegistryOptions options;
    options.token =
        RegistryOptions::Token{tokens_->realm(), "test-registry", "test-issuer", signing.cert};
    ASSERT_OK_AND_ASSIGN(registry_, testing::LocalRegistry::start(dir_.sub("registry"), options));
  }
  using RegistryOptions = testing::RegistryOptions;
  std::unique_ptr<testing::TokenServer> tokens_;
};

TEST_F(TokenAuthTest, GetsCachesAndUsesTokens) {
  RegistryClient client(credentials("user", "pass"));
  ASSERT_OK(client.push(at_registry("tokens/app:1"), image("tokens/app:1"), *store_));
  // One token for "pull,push" served every request of the push.
  EXPECT_EQ(tokens_->issued(), 1) << registry_->log();
  ASSERT_OK_AND_ASSIGN(auto images, pull(client, "tokens/app:1"));
  EXPECT_EQ(images[0].manifest.digest, manifests_[0].digest);
  EXPECT_EQ(tokens_->issued(), 2);  // a "pull" token: another scope
  ASSERT_OK(pull(client, "tokens/app:1"));
  ASSERT_OK(client.resolve(at_registry("tokens/app:1")));
  EXPECT_EQ(tokens_->issued(), 2);  // cached

  // An identity token (OAuth2 refresh token) instead of a password.
  RegistryClient robot(config(fmt::format(
      "configs:\n  \"{}\":\n    auth: {{identitytoken: refresh-me}}\n", registry_->host())));
  ASSERT_OK(pull(robot, "tokens/app:1"));
  EXPECT_EQ(tokens_->issued(), 3);
}

TEST_F(TokenAuthTest, WrongPasswordFailsClearly) {
  RegistryClient client(credentials("user", "nope"));
  auto failed = pull(client, "tokens/app:1");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), core::Errc::kUnauthorized);
  EXPECT_NE(failed.error().message().find("token server 127.0.0.1:"), std::string::npos);
  EXPECT_NE(failed.error().message().find("invalid credentials (401)"), std::string::npos)
      << failed.error().message();
  EXPECT_EQ(tokens_->refused(), 1);
  EXPECT_EQ(tokens_->issued(), 0);
}

TEST_F(RegistryAuthTest, HttpsWithCaFromRegistriesYaml) {
  if (!have_program("openssl")) GTEST_SKIP() << "openssl is not installed";
  ASSERT_OK_AND_ASSIGN(testing::CertFiles tls, testing::make_cert(dir_.path(), "registry"));
  ASSERT_OK_AND_ASSIGN(registry_,
                       testing::LocalRegistry::start(dir_.sub("registry"), {.tls = tls}));
  // A tls section says the registry speaks https (loopback would default to plain http).
  RegistryClient trusting(config(fmt::format("configs:\n  \"{}\":\n    tls:\n      ca_file: {}\n",
                                             registry_->host(), tls.cert)));
  ASSERT_OK(trusting.push(at_registry("secure/app:1"), image("secure/app:1"), *store_));
  ASSERT_OK_AND_ASSIGN(auto images, pull(trusting, "secure/app:1"));
  EXPECT_EQ(images[0].manifest.digest, manifests_[0].digest);

  RegistryClient skipping(config(fmt::format(
      "configs:\n  \"{}\":\n    tls: {{insecure_skip_verify: true}}\n", registry_->host())));
  ASSERT_OK(skipping.resolve(at_registry("secure/app:1")));

  // So does the registry's own mirror entry; without the CA the certificate is refused.
  RegistryClient untrusting(
      config(fmt::format("mirrors:\n  \"{0}\":\n    endpoint: [\"https://{0}\"]\n",
                         registry_->host())),
      {.retries = 0});
  auto failed = untrusting.resolve(at_registry("secure/app:1"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), core::Errc::kUnavailable);
  EXPECT_NE(failed.error().message().find("certificate"), std::string::npos)
      << failed.error().message();
}

}  // namespace
}  // namespace images
