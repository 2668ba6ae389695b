// A fake registry (core::http::Server) serving content that a real registry would not: a manifest
// other than the one asked for, a lying Docker-Content-Digest, a blob whose bytes do not match its
// digest or are too many. The client must refuse each with kIntegrity naming the digest and leave
// nothing of the bad blob in the store. Also checks the request paths for a mirror endpoint with a
// path prefix.
#include <dirent.h>

#include <algorithm>
#include <mutex>

#include "core/http/server.h"
#include "images/registry_client.h"
#include "images/registry_test_support.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

// Serves repository "app" from a BlobStore: tags map to manifest digests; tamper may change the
// body (and headers) of any answer before it goes out.
class FakeRegistry {
 public:
  using Tamper = std::function<void(const std::string& path, std::string& body,
                                    core::http::ResponseWriter& out)>;

  FakeRegistry(BlobStore& store, std::string prefix) : store_(store), prefix_(std::move(prefix)) {
    server_ = core::http::Server::start({}, [this](const auto& request, auto& out) {
                handle(request, out);
              }).value();
  }
  std::string url() const { return server_->url(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  std::vector<std::string> targets() {
    std::lock_guard lock(mu_);
    return targets_;
  }
  std::map<std::string, std::string> tags;
  Tamper tamper;

 private:
  void handle(const core::http::ServerRequest& request, core::http::ResponseWriter& out) {
    {
      std::lock_guard lock(mu_);
      targets_.push_back(request.target);
    }
    std::string base = prefix_ + "/app/";
    if (!request.path.starts_with(base)) {
      out.set_status(request.path == "/v2/" ? 200 : 404);
      out.send(R"({"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]})");
      return;
    }
    std::string rest = request.path.substr(base.size());
    std::string digest = rest.substr(rest.find('/') + 1);
    if (rest.starts_with("manifests/") && tags.contains(digest)) digest = tags[digest];
    auto body = store_.read(digest);
    if (!body) {
      out.set_status(404);
      out.send(R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
      return;
    }
    std::string bytes = *body;
    if (rest.starts_with("manifests/")) {
      out.add_header("Content-Type", std::string(kOciManifest));
    }
    if (tamper) tamper(request.path, bytes, out);
    out.send(std::move(bytes));
  }

  BlobStore& store_;
  std::string prefix_;
  std::mutex mu_;
  std::vector<std::string> targets_;
  std::unique_ptr<core::http::Server> server_;
};

class RegistryHostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir_.sub("served")));
    served_.emplace(std::move(store));
    auto built = testing::build_busybox_images(dir_.path(), *served_, {"linux/amd64"});
    if (!built && built.error().code() == core::Errc::kNotFound)
      GTEST_SKIP() << built.error().message();
    ASSERT_OK(built);
    manifest_ = (*built)[0];
    ASSERT_OK_AND_ASSIGN(std::string bytes, served_->read(manifest_.digest));
    ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(bytes));
    config_ = m.config;
    layer_ = m.layers[0];
    ASSERT_OK_AND_ASSIGN(BlobStore pulled, BlobStore::open(dir_.sub("pulled")));
    pulled_.emplace(std::move(pulled));
  }

  core::Result<std::vector<ArchiveImage>> pull(FakeRegistry& fake, const std::string& rest) {
    RegistryClient client({}, {.retries = 0});
    return client.pull(Reference::parse(fake.host() + "/app" + rest).value(), *pulled_, {});
  }
  // Entries in the pulled store's temporary directory (abandoned writes must be removed).
  int leftovers() {
    int n = 0;
    DIR* d = ::opendir(dir_.sub("pulled/.tmp").c_str());
    if (d == nullptr) return 0;
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
    return n;
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  std::optional<BlobStore> served_, pulled_;
  Descriptor manifest_, config_, layer_;
};

TEST_F(RegistryHostileTest, ManifestOtherThanTheRequestedDigest) {
  FakeRegistry fake(*served_, "/v2");
  fake.tamper = [&](const std::string& path, std::string& body, core::http::ResponseWriter&) {
    if (path.find("/manifests/") != std::string::npos) body.insert(body.size() - 1, " ");
  };
  auto pulled = pull(fake, "@" + manifest_.digest);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(pulled.error().message().find("manifest " + manifest_.digest +
                                          ": the content has digest sha256:"),
            std::string::npos)
      << pulled.error().message();
  EXPECT_FALSE(pulled_->has(manifest_.digest));
  EXPECT_FALSE(pulled_->has(config_.digest));  // nothing was fetched on a bad manifest
}

TEST_F(RegistryHostileTest, DockerContentDigestThatLies) {
  FakeRegistry fake(*served_, "/v2");
  fake.tags["1"] = manifest_.digest;
  fake.tamper = [&](const std::string& path, std::string&, core::http::ResponseWriter& out) {
    if (path.find("/manifests/") != std::string::npos) {
      out.add_header("Docker-Content-Digest", layer_.digest);
    }
  };
  auto pulled = pull(fake, ":1");
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(pulled.error().message().find("Docker-Content-Digest says " + layer_.digest),
            std::string::npos)
      << pulled.error().message();
}

TEST_F(RegistryHostileTest, BlobWhoseContentDoesNotMatch) {
  FakeRegistry fake(*served_, "/v2");
  fake.tags["1"] = manifest_.digest;
  fake.tamper = [&](const std::string& path, std::string& body, core::http::ResponseWriter&) {
    if (path.ends_with(layer_.digest)) body[body.size() / 2] ^= 1;  // same size, other bytes
  };
  auto pulled = pull(fake, ":1");
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(pulled.error().message().find("blob " + layer_.digest), std::string::npos)
      << pulled.error().message();
  EXPECT_TRUE(pulled_->has(config_.digest));  // fetched before the layer, and good
  EXPECT_FALSE(pulled_->has(layer_.digest));
  EXPECT_FALSE(pulled_->has(manifest_.digest));  // stored only after all its blobs
  EXPECT_EQ(leftovers(), 0);
}

TEST_F(RegistryHostileTest, BlobLongerThanItsDescriptor) {
  FakeRegistry fake(*served_, "/v2");
  fake.tags["1"] = manifest_.digest;
  fake.tamper = [&](const std::string& path, std::string& body, core::http::ResponseWriter&) {
    if (path.ends_with(layer_.digest)) body += std::string(1 << 20, 'x');
  };
  auto pulled = pull(fake, ":1");
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(pulled.error().message().find(layer_.digest), std::string::npos)
      << pulled.error().message();
  EXPECT_FALSE(pulled_->has(layer_.digest));
  EXPECT_EQ(leftovers(), 0);
}

TEST_F(RegistryHostileTest, MirrorWithPathPrefix) {
  FakeRegistry fake(*served_,
                    "/v2/hub/library");  // the mirror's API root is /v2/hub
  fake.tags["1"] = manifest_.digest;
  ASSERT_OK_AND_ASSIGN(RegistryConfig config,
                       RegistryConfig::parse_yaml(fmt::format(
                           "mirrors:\n  docker.io:\n    endpoint: [\"{}/v2/hub\"]\n", fake.url())));
  config.disable_default_endpoint = true;
  RegistryClient client(config);
  ASSERT_OK_AND_ASSIGN(auto images, client.pull(Reference::parse("app:1").value(), *pulled_, {}));
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].ref.str(), "docker.io/library/app:1");
  EXPECT_EQ(images[0].manifest.digest, manifest_.digest);
  auto targets = fake.targets();
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(targets[0], "/v2/hub/library/app/manifests/1?ns=docker.io");
  EXPECT_NE(std::find(targets.begin(), targets.end(),
                      "/v2/hub/library/app/blobs/" + layer_.digest + "?ns=docker.io"),
            targets.end());

  // Blobs already in the store are not fetched again; the manifest is (the tag may have moved).
  ASSERT_OK(client.pull(Reference::parse("app:1").value(), *pulled_, {}));
  auto again = fake.targets();
  ASSERT_EQ(again.size(), targets.size() + 1);
  EXPECT_EQ(again.back(), "/v2/hub/library/app/manifests/1?ns=docker.io");
}

// Registries may answer an upload with a relative Location that carries its own query; the
// digest is added to that query, and the upload goes to that path.
TEST_F(RegistryHostileTest, PushFollowsRelativeLocationWithQuery) {
  std::mutex mu;
  std::vector<std::string> seen;
  std::string layer_body;
  auto server = core::http::Server::start({}, [&](const auto& request, auto& out) {
    std::lock_guard lock(mu);
    seen.push_back(request.method + " " + request.target);
    if (request.method == "HEAD") return out.set_status(404);
    if (request.method == "POST") {
      out.set_status(202);
      out.add_header("Location", "uploads/u1?_state=abc");  // relative to .../blobs/uploads/
      return;
    }
    if (request.target.find(layer_.digest.substr(7)) != std::string::npos) {
      layer_body = request.body;
    }
    out.set_status(201);
  });
  ASSERT_OK(server);
  std::string host = "127.0.0.1:" + std::to_string((*server)->port());
  Reference target = Reference::parse(host + "/app:1").value();
  RegistryClient client;
  ASSERT_OK(client.push(target, {{target, manifest_, std::nullopt}}, *served_));
  std::lock_guard lock(mu);
  std::string put =
      "PUT /v2/app/blobs/uploads/uploads/u1?_state=abc&digest=sha256%3A" + layer_.digest.substr(7);
  EXPECT_NE(std::find(seen.begin(), seen.end(), put), seen.end()) << ::testing::PrintToString(seen);
  EXPECT_EQ(seen.back(), "PUT /v2/app/manifests/1");
  ASSERT_OK_AND_ASSIGN(std::string layer, served_->read(layer_.digest));
  EXPECT_EQ(layer_body, layer);
}

}  // namespace
}  // namespace images
