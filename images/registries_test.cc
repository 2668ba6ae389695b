// registries.yaml parsing and the endpoint list it gives (k3s/containerd hosts semantics).
#include "images/registries.h"

#include "images/registry_impl.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

Reference ref(std::string_view text) { return Reference::parse(text).value(); }

std::vector<std::string> apis(const std::vector<Endpoint>& endpoints) {
  std::vector<std::string> out;
  for (const auto& e : endpoints) out.push_back(e.api + " " + e.repository);
  return out;
}

TEST(RegistriesTest, ParsesMirrorsAndConfigs) {
  ASSERT_OK_AND_ASSIGN(RegistryConfig config, RegistryConfig::parse_yaml(R"Y(
mirrors:
  docker.io:
    endpoint:
      - "http://127.0.0.1:5000"
      - "https://mirror.example.com/v2/hub"
    rewrite:
      "^rancher/(.*)": "mirrored/rancher/$1"
  "*":
    endpoint: ["https://catchall.example.com"]
configs:
  "127.0.0.1:5000":
    auth: {username: user, password: pass}
    tls: {ca_file: /etc/ca.pem, insecure_skip_verify: true}
  mirror.example.com:
    auth: {auth: "dXNlcjI6cGFzczI="}
)Y"));
  ASSERT_EQ(config.mirrors.size(), 2u);
  EXPECT_EQ(config.mirrors["docker.io"].endpoints.size(), 2u);
  ASSERT_EQ(config.mirrors["docker.io"].rewrites.size(), 1u);
  const RegistryHostConfig* local = config.config_for("127.0.0.1:5000");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->auth->username, "user");
  EXPECT_EQ(local->tls->ca_file, "/etc/ca.pem");
  EXPECT_TRUE(local->tls->insecure_skip_verify);
  const RegistryHostConfig* mirror = config.config_for("mirror.example.com");
  ASSERT_NE(mirror, nullptr);
  auto credentials = basic_credentials(*mirror->auth);
  ASSERT_TRUE(credentials);
  EXPECT_EQ(credentials->first, "user2");
  EXPECT_EQ(credentials->second, "pass2");
  EXPECT_EQ(config.config_for("other.example.com"), nullptr);
}

TEST(RegistriesTest, DockerHubMirrorsThenDefaultWithRewrites) {
  ASSERT_OK_AND_ASSIGN(RegistryConfig config, RegistryConfig::parse_yaml(R"Y(
mirrors:
  docker.io:
    endpoint: ["http://127.0.0.1:5000", "https://mirror.example.com/v2/hub", "127.0.0.1:5001"]
    rewrite: {"^rancher/(.*)": "mirrored/rancher/$1"}
)Y"));
  auto endpoints = config.endpoints_for(ref("rancher/klipper-lb:v1"));
  EXPECT_EQ(apis(endpoints),
            (std::vector<std::string>{
                "http://127.0.0.1:5000/v2 mirrored/rancher/klipper-lb",
                "https://mirror.example.com/v2/hub mirrored/rancher/klipper-lb",
                "http://127.0.0.1:5001/v2 mirrored/rancher/klipper-lb",  // loopback: http
                "https://registry-1.docker.io/v2 rancher/klipper-lb",    // no rewrite
            }));
  EXPECT_TRUE(endpoints[0].mirror);
  EXPECT_FALSE(endpoints[3].mirror);
  EXPECT_EQ(endpoints[0].display(), "http://127.0.0.1:5000");
  EXPECT_EQ(endpoints[1].display(), "https://mirror.example.com/v2/hub");
  // Mirrors are told the original registry, as containerd does; the path prefix replaces /v2.
  EXPECT_EQ(repository_url(endpoints[1], "manifests/v1"),
            "https://mirror.example.com/v2/hub/mirrored/rancher/klipper-lb/"
            "manifests/v1"
            "?ns=docker.io");
  EXPECT_EQ(repository_url(endpoints[3], "manifests/v1"),
            "https://registry-1.docker.io/v2/rancher/klipper-lb/manifests/v1");
  // A repository the rewrite does not match stays as it is.
  EXPECT_EQ(config.endpoints_for(ref("busybox"))[0].repository, "library/busybox");
}

TEST(RegistriesTest, WildcardAppliesOnlyWithoutSpecificEntry) {
  ASSERT_OK_AND_ASSIGN(RegistryConfig config, RegistryConfig::parse_yaml(R"Y(
mirrors:
  "*": {endpoint: ["https://catchall.example.com"]}
  quay.io: {endpoint: ["https://quay-mirror.example.com:8443/"]}
)Y"));
  EXPECT_EQ(apis(config.endpoints_for(ref("ghcr.io/org/app:1"))),
            (std::vector<std::string>{"https://catchall.example.com/v2 org/app",
                                      "https://ghcr.io/v2 org/app"}));
  EXPECT_EQ(apis(config.endpoints_for(ref("quay.io/org/app:1"))),
            (std::vector<std::string>{"https://quay-mirror.example.com:8443/v2 org/app",
                                      "https://quay.io/v2 org/app"}));
  config.disable_default_endpoint = true;
  EXPECT_EQ(apis(config.endpoints_for(ref("quay.io/org/app:1"))),
            (std::vector<std::string>{"https://quay-mirror.example.com:8443/v2 org/app"}));
}

TEST(RegistriesTest, DefaultEndpointSchemes) {
  RegistryConfig none;
  EXPECT_EQ(none.default_endpoint(ref("registry.local/a:1")).api, "https://registry.local/v2");
  EXPECT_EQ(none.default_endpoint(ref("registry.local:5000/a:1")).api,
            "https://registry.local:5000/v2");
  EXPECT_EQ(none.default_endpoint(ref("127.0.0.1:5000/a:1")).api, "http://127.0.0.1:5000/v2");
  EXPECT_EQ(none.default_endpoint(ref("localhost:5000/a:1")).api, "http://localhost:5000/v2");
  EXPECT_EQ(none.default_endpoint(ref("busybox")).api, "https://registry-1.docker.io/v2");
  // The registry's own mirror entry may say it speaks plain http.
  ASSERT_OK_AND_ASSIGN(RegistryConfig plain, RegistryConfig::parse_yaml(R"({
    "mirrors": {"registry.local:5000": {"endpoint": ["http://registry.local:5000"]}}})"));
  EXPECT_EQ(plain.default_endpoint(ref("registry.local:5000/a:1")).api,
            "http://registry.local:5000/v2");
  // ... and it is not tried twice.
  EXPECT_EQ(plain.endpoints_for(ref("registry.local:5000/a:1")).size(), 1u);
  // A tls section (or an https mirror entry of its own) makes a loopback registry https.
  ASSERT_OK_AND_ASSIGN(RegistryConfig tls, RegistryConfig::parse_yaml(R"Y(
configs: {"127.0.0.1:5000": {tls: {ca_file: /ca.pem}}}
mirrors: {"127.0.0.1:5001": {endpoint: ["https://127.0.0.1:5001"]}}
)Y"));
  EXPECT_EQ(tls.default_endpoint(ref("127.0.0.1:5000/a:1")).api, "https://127.0.0.1:5000/v2");
  EXPECT_EQ(apis(tls.endpoints_for(ref("127.0.0.1:5001/a:1"))),
            (std::vector<std::string>{"https://127.0.0.1:5001/v2 a"}));
}

TEST(RegistriesTest, DockerHubConfigMatchesItsRegistryHost) {
  ASSERT_OK_AND_ASSIGN(RegistryConfig config, RegistryConfig::parse_yaml(R"Y(
configs:
  docker.io: {auth: {username: hub, password: secret}}
  "*": {tls: {insecure_skip_verify: true}}
)Y"));
  ASSERT_NE(config.config_for("registry-1.docker.io"), nullptr);
  EXPECT_EQ(config.config_for("registry-1.docker.io")->auth->username, "hub");
  ASSERT_NE(config.config_for("elsewhere:5000"), nullptr);
  EXPECT_TRUE(config.config_for("elsewhere:5000")->tls->insecure_skip_verify);
}

TEST(RegistriesTest, RefusesMalformedFiles) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"mirrors: [a]", "registries.mirrors: must be a mapping"},
      {"mirrors: {docker.io: {endpoint: http://x}}", "mirrors.docker.io.endpoint: must be a list"},
      {"mirrors: {docker.io: {endpoint: [\"ftp://x\"]}}", "mirrors.docker.io.endpoint"},
      {"mirrors: {docker.io: {rewrite: {\"(\": \"x\"}}}", "bad regex"},
      {"configs: {a: {auth: {username: [1]}}}", "configs.a.auth.username: must be a string"},
      {"configs: {a: {auth: {auth: \"%%%\"}}}", "configs.a.auth.auth: not base64"},
      {"configs: {a: {tls: {insecure_skip_verify: maybe}}}", "must be true or false"},
  };
  for (const auto& c : cases) {
    auto config = RegistryConfig::parse_yaml(c.yaml);
    ASSERT_FALSE(config) << c.yaml;
    EXPECT_EQ(config.error().code(), core::Errc::kInvalid) << c.yaml;
    EXPECT_NE(config.error().message().find(c.message), std::string::npos)
        << c.yaml << " -> " << config.error().message();
  }
  EXPECT_TRUE(RegistryConfig::parse_yaml(""));  // an empty file configures nothing
}

TEST(RegistriesTest, ParsesChallenges) {
  auto challenges = parse_challenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull", Basic realm="x\"y")");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(challenges[0].scheme, "bearer");
  EXPECT_EQ(challenges[0].params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(challenges[0].params["service"], "registry.docker.io");
  EXPECT_EQ(challenges[0].params["scope"], "repository:library/busybox:pull");
  EXPECT_EQ(challenges[1].scheme, "basic");
  EXPECT_EQ(challenges[1].params["realm"], "x\"y");
}

}  // namespace
}  // namespace images
