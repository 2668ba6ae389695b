// The deploy controller against the real API in process: files added, changed (objects pruned),
// skipped, disabled; manifests that do not parse or name unknown kinds.
#include "k3s/deploy/deploy_controller.h"

#include <gtest/gtest.h>

#include "core/crypto/keys.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "k3s/apiserver/apiserver.h"
#include "k3s/datastore/sqlite_backend.h"

namespace k3s::deploy {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class DeployControllerTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<core::TempDir>(*core::TempDir::create("k3a-deploy"));
    store_ = *datastore::open_sqlite({.path = dir_->sub("state.db")});
    api_ = std::make_unique<apiserver::ApiServer>(
        apiserver::ApiOptions{.version = "v1.32.4+k3s1",
                              .server_token_password = "t",
                              .service_key_pem = core::PrivateKey::generate()->to_pem()},
        *store_);
    ASSERT_TRUE(api_->rest().seed("10.43.0.1", 6443));
    local_ = std::make_unique<controllers::LocalApi>(*api_);
    events_ = std::make_unique<controllers::EventRecorder>(*local_);
    manifests_ = dir_->sub("manifests");
    ASSERT_TRUE(core::make_dirs(manifests_));
  }

  // A controller whose thread makes only the first, forced pass; tests call scan() themselves.
  std::unique_ptr<DeployController> controller(std::set<std::string> disabled = {}) {
    auto c = std::make_unique<DeployController>(
        *local_, api_->catalog(), *events_,
        DeployOptions{.dir = manifests_, .interval = std::chrono::hours(1), .disabled = disabled});
    EXPECT_TRUE(c->start());
    return c;
  }

  void write(const std::string& file, const std::string& text) {
    ASSERT_TRUE(core::write_file_atomic(manifests_ + "/" + file, text));
  }
  core::Result<json> get(const std::string& path) { return local_->get(path); }
  std::string addon_checksum(const std::string& name) {
    auto a = get("/apis/k3s.cattle.io/v1/namespaces/kube-system/addons/" + name);
    return a ? (*a)["spec"].value("checksum", "") : "";
  }
  bool event(const std::string& reason) {
    auto list = get("/api/v1/namespaces/kube-system/events?fieldSelector=reason%3D" + reason);
    return list && !(*list)["items"].empty();
  }
  // Waits for the first pass (running on the controller's thread) to have made `what` true.
  template <typename F>
  bool eventually(F what) {
    for (int i = 0; i < 200; ++i) {
      if (what()) return true;
      std::this_thread::sleep_for(25ms);
    }
    return false;
  }

  std::unique_ptr<core::TempDir> dir_;
  std::unique_ptr<datastore::Backend> store_;
  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<controllers::LocalApi> local_;
  std::unique_ptr<controllers::EventRecorder> events_;
  std::string manifests_;
};

constexpr char kTwo[] = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {v: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: kube-system}
)";

TEST_F(DeployControllerTest, AppliesChangesPrunesSkipsAndDisables) {
  write("web.yaml", kTwo);
  auto c = controller();
  ASSERT_TRUE(eventually([&] { return !addon_checksum("web").empty(); }));
  EXPECT_EQ(addon_checksum("web"), core::Sha256::hex_of(kTwo));
  auto addon = get("/apis/k3s.cattle.io/v1/namespaces/kube-system/addons/web");
  EXPECT_EQ((*addon)["metadata"]["annotations"]["addon.k3s.cattle.io/gvks"], "/v1, Kind=ConfigMap");
  EXPECT_EQ((*addon)["spec"]["source"], manifests_ + "/web.yaml");
  auto a = get("/api/v1/namespaces/default/configmaps/a");  // no namespace: default
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)["data"]["v"], "1");
  EXPECT_TRUE((*a)["metadata"]["labels"].contains("objectset.rio.cattle.io/hash"));
  EXPECT_TRUE(get("/api/v1/namespaces/kube-system/configmaps/b"));
  EXPECT_TRUE(event("ApplyingManifest"));
  EXPECT_TRUE(event("AppliedManifest"));

  // A change: a is updated, b is no longer in the file and is pruned.
  std::string changed = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {v: \"2\"}\n";
  write("web.yaml", changed);
  c->scan(false);
  EXPECT_EQ((*get("/api/v1/namespaces/default/configmaps/a"))["data"]["v"], "2");
  EXPECT_FALSE(get("/api/v1/namespaces/kube-system/configmaps/b"));
  EXPECT_EQ(addon_checksum("web"), core::Sha256::hex_of(changed));

  // .skip freezes it.
  write("web.yaml.skip", "");
  write("web.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {v: \"3\"}\n");
  c->scan(false);
  EXPECT_EQ((*get("/api/v1/namespaces/default/configmaps/a"))["data"]["v"], "2");
  ASSERT_EQ(::unlink((manifests_ + "/web.yaml.skip").c_str()), 0);
  c->scan(false);
  EXPECT_EQ((*get("/api/v1/namespaces/default/configmaps/a"))["data"]["v"], "3");

  // --disable web: objects, Addon and file go.
  c->stop();
  auto off = controller({"web"});
  ASSERT_TRUE(eventually([&] { return !core::path_exists(manifests_ + "/web.yaml"); }));
  EXPECT_FALSE(get("/api/v1/namespaces/default/configmaps/a"));
  EXPECT_FALSE(get("/apis/k3s.cattle.io/v1/namespaces/kube-system/addons/web"));
  EXPECT_TRUE(event("DeletingManifest"));
}

TEST_F(DeployControllerTest, ReportsBadManifestsAndKeepsTheRest) {
  write("bad.yaml", "apiVersion: v1\nkind: [unclosed\n");
  write("mixed.yaml",
        "apiVersion: example.com/v1\nkind: Unknown\nmetadata: {name: u}\n---\n"
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: kube-system}\n");
  write(".hidden.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hidden}\n");
  write("notes.txt", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: txt}\n");
  auto c = controller();
  ASSERT_TRUE(eventually([&] { return !addon_checksum("mixed").empty(); }));
  EXPECT_TRUE(get("/api/v1/namespaces/kube-system/secrets/s"));
  EXPECT_TRUE(event("ValidateManifestFailed"));
  ASSERT_TRUE(eventually([&] { return event("ParseManifestFailed"); }));
  EXPECT_FALSE(get("/api/v1/namespaces/default/configmaps/hidden"));
  EXPECT_FALSE(get("/api/v1/namespaces/default/configmaps/txt"));
}

}  // namespace
}  // namespace k3s::deploy
