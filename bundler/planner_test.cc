#include "bundler/planner.h"

#include <atomic>

#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "core/http/server.h"
#include "tests/support/test_support.h"

namespace bundler {
namespace {

// A local stand-in for the release server and the channel server.
class ReleaseServer {
 public:
  ReleaseServer() {
    auto s = core::http::Server::start(
        {}, [this](const core::http::ServerRequest& req, core::http::ResponseWriter& w) {
          ++requests;
          if (req.path == "/channels/stable") {
            w.set_status(302);
            w.add_header("Location", "https://github.com/k3s-io/k3s/releases/tag/v1.32.4+k3s1");
            w.send("");
          } else if (req.path == "/kubectl") {
            w.send(kBinary);
          } else {
            w.set_status(404);
            w.send("not found");
          }
        });
    EXPECT_TRUE(s) << s.error().message();
    server = std::move(*s);
  }
  static constexpr char kBinary[] = "kubectl binary bytes";
  std::unique_ptr<core::http::Server> server;
  std::atomic<int> requests{0};
};

class PlannerTest : public ::testing::Test {
 protected:
  BundleSpec spec() {
    BundleSpec s;
    s.name = "site";
    s.sequence = 1;
    s.k3s_channel = "stable";
    s.channel_url = release_.server->url() + "/channels";
    s.arch = {"amd64"};
    s.artifacts = {{.name = "kubectl",
                    .url = release_.server->url() + "/kubectl",
                    .sha256 = core::Sha256::hex_of(ReleaseServer::kBinary)}};
    return s;
  }
  PlanOptions options() {
    return {.now = 1767225600,
            .cache_dir = dir_.sub("cache"),
            .progress = core::Progress::Output::kNever};
  }
  core::TempDir dir_ = testing_support::make_temp_dir();
  ReleaseServer release_;
};

TEST_F(PlannerTest, ResolvesChannelAndFetchesUrlArtifactsIntoTheCache) {
  ASSERT_OK_AND_ASSIGN(Plan plan, plan_bundle(spec(), options()));
  EXPECT_EQ(plan.manifest.k3s_version, "v1.32.4+k3s1");
  EXPECT_EQ(plan.lock.k3s_version, "v1.32.4+k3s1");
  const FileRecord* f = plan.manifest.find_file("bin/kubectl");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->sha256, core::Sha256::hex_of(ReleaseServer::kBinary));
  ASSERT_NE(plan.manifest.find_file("sha256sum-amd64.txt"), nullptr);
  // The second plan takes the artifact from the cache: only the channel is asked again.
  int before = release_.requests;
  ASSERT_OK(plan_bundle(spec(), options()));
  EXPECT_EQ(release_.requests, before + 1);
  // From the lock nothing is resolved at all.
  PlanOptions locked = options();
  locked.lock = &plan.lock;
  locked.from_lock = true;
  before = release_.requests;
  ASSERT_OK_AND_ASSIGN(Plan again, plan_bundle(spec(), locked));
  EXPECT_EQ(release_.requests, before);
  EXPECT_EQ(serialize_manifest(again.manifest), serialize_manifest(plan.manifest));
}

TEST_F(PlannerTest, WrongDigestAndMissingArtifactsAreNamed) {
  BundleSpec s = spec();
  s.artifacts[0].sha256 = std::string(64, '0');
  auto r = plan_bundle(s, options());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(r.error().message().find("kubectl"), std::string::npos) << r.error().message();
  EXPECT_FALSE(core::path_exists(dir_.sub("cache/artifacts/" + std::string(64, '0'))));

  s = spec();
  s.artifacts[0].url = release_.server->url() + "/missing";
  r = plan_bundle(s, options());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("404"), std::string::npos) << r.error().message();

  s = spec();
  s.channel_url = release_.server->url() + "/nowhere";
  r = plan_bundle(s, options());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("channel stable"), std::string::npos) << r.error().message();
}

}  // namespace
}  // namespace bundler
