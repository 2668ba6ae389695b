// End-to-end tests of the k3s-airgap binary as users run it.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "core/fs/files.h"
#include "core/serde/json.h"
#include "tests/support/test_support.h"

namespace {

using testing_support::run;

std::string airgap() { return testing_support::bin_dir() + "/k3s-airgap"; }

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto out = run({airgap(), "key", "generate", "--out", dir_.sub("keys")});
    ASSERT_EQ(out.exit_code, 0) << out.out;
    ASSERT_OK(core::make_dirs(dir_.sub("in/manifests")));
    ASSERT_OK(core::write_file_atomic(dir_.sub("in/k3s"), std::string(2 << 20, 'k')));
    ASSERT_OK(core::write_file_atomic(dir_.sub("in/manifests/app.yaml"), "kind: ConfigMap\n"));
    ASSERT_OK(core::write_file_atomic(dir_.sub("in/bundle.yaml"), R"(apiVersion: k3s-airgap/v1
kind: Bundle
name: site-a
sequence: 1
k3s: {version: v1.32.4+k3s1}
arch: [amd64]
artifacts:
  - {name: k3s, path: ./k3s}
images: []
manifests: ./manifests
)"));
  }
  core::ProcessOutput create(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {airgap(),
                                     "bundle",
                                     "create",
                                     "-f",
                                     dir_.sub("in/bundle.yaml"),
                                     "-o",
                                     dir_.sub("site.tar.zst"),
                                     "--sign-key",
                                     dir_.sub("keys/bundle.key")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run(argv);
  }
  core::TempDir dir_ = testing_support::make_temp_dir();
};

TEST_F(CliTest, BinaryIsStaticAndRunsInAnEmptyChroot) {
  auto file = run({"file", "-L", airgap()});
  EXPECT_NE(file.out.find("statically linked"), std::string::npos) << file.out;
  std::string root = dir_.sub("chroot");
  ASSERT_OK(core::make_dirs(root));
  ASSERT_EQ(run({"cp", airgap(), root + "/k3s-airgap"}).exit_code, 0);
  auto out = run({"chroot", root, "/k3s-airgap", "--version"});
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_NE(out.out.find("k3s-airgap"), std::string::npos);
  out = run({"chroot", root, "/k3s-airgap", "key", "generate", "--out", "/keys"});
  EXPECT_EQ(out.exit_code, 0) << out.out;
}

TEST_F(CliTest, KeyFilesAndOpensslInterop) {
  struct stat st;
  ASSERT_EQ(::stat(dir_.sub("keys/bundle.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = run({airgap(), "key", "generate", "--out", dir_.sub("keys")});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.out.find("refusing to overwrite"), std::string::npos);

  auto out = create();
  ASSERT_EQ(out.exit_code, 0) << out.out;
  auto check = run({"bash", "-c",
                    "openssl dgst -sha256 -verify " + dir_.sub("keys/bundle.pub") +
                        " -signature <(base64 -d " + dir_.sub("site.tar.zst.sig") + ") " +
                        dir_.sub("site.tar.zst")});
  EXPECT_EQ(check.exit_code, 0) << check.out;
  EXPECT_NE(check.out.find("Verified OK"), std::string::npos);
  // Independent readers: zstd + GNU tar list the same entries in order.
  auto list = run({"bash", "-c", "zstd -dc " + dir_.sub("site.tar.zst") + " | tar -tvf -"});
  ASSERT_EQ(list.exit_code, 0) << list.out;
  std::string first = list.out.substr(0, list.out.find('\n'));
  EXPECT_TRUE(first.ends_with(" bundle.json")) << first;
  EXPECT_NE(first.find("0/0"), std::string::npos) << first;
  EXPECT_LT(list.out.find(" bundle.json\n"), list.out.find(" bundle.json.sig\n"));
  EXPECT_NE(list.out.find("manifests/app.yaml"), std::string::npos);
  EXPECT_NE(list.out.find("sha256sum-amd64.txt"), std::string::npos);
}

TEST_F(CliTest, VerifyInspectAndJson) {
  ASSERT_EQ(create().exit_code, 0);
  auto v = run({airgap(), "bundle", "verify", dir_.sub("site.tar.zst"), "--trust",
                dir_.sub("keys/bundle.pub"), "-o", "json"});
  ASSERT_EQ(v.exit_code, 0) << v.out;
  EXPECT_NE(v.out.find("\"verified\": true"), std::string::npos) << v.out;
  auto wrong = run({airgap(), "key", "generate", "--out", dir_.sub("other")});
  v = run({airgap(), "bundle", "verify", dir_.sub("site.tar.zst"), "--trust",
           dir_.sub("other/bundle.pub")});
  EXPECT_EQ(v.exit_code, 4) << v.out;
  EXPECT_NE(v.out.find("required trusted signatures"), std::string::npos) << v.out;
  auto i = run({airgap(), "bundle", "inspect", dir_.sub("site.tar.zst"), "-o", "json"});
  ASSERT_EQ(i.exit_code, 0) << i.out;
  EXPECT_NE(i.out.find("\"bin/k3s\""), std::string::npos);
}

TEST_F(CliTest, ReproducibleUnderDifferentEnvironments) {
  ASSERT_EQ(create().exit_code, 0);
  ASSERT_OK(core::write_file_atomic(dir_.sub("first.tar.zst"),
                                    *core::read_file(dir_.sub("site.tar.zst"), 1 << 30)));
  // Another time zone, umask, locale, working directory and clock; inputs touched.
  ASSERT_EQ(
      run({"touch", "-d", "2001-01-01", dir_.sub("in/k3s"), dir_.sub("in/manifests/app.yaml")})
          .exit_code,
      0);
  std::string cmd =
      "cd / && umask 077 && TZ=Asia/Tokyo LC_ALL=C.UTF-8 faketime '2031-05-05 05:05:05' " +
      airgap() + " bundle create -f " + dir_.sub("in/bundle.yaml") + " -o " +
      dir_.sub("second.tar.zst") + " --sign-key " + dir_.sub("keys/bundle.key") +
      " --from-lock --check-reproducible " + dir_.sub("first.tar.zst");
  if (!testing_support::have_program("faketime"))
    cmd.replace(cmd.find("faketime '2031-05-05 05:05:05' "), 31, "");
  auto out = run({"bash", "-c", cmd});
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_NE(out.out.find("reproducible: every entry"), std::string::npos) << out.out;
  // A changed input is caught against the lock.
  ASSERT_OK(core::write_file_atomic(dir_.sub("in/k3s"), "different"));
  out = create({"--from-lock"});
  EXPECT_EQ(out.exit_code, 3) << out.out;
  EXPECT_NE(out.out.find("from the lock"), std::string::npos) << out.out;
}

TEST_F(CliTest, DiffNamesWhatChanged) {
  ASSERT_EQ(create().exit_code, 0);
  ASSERT_EQ(run({"mv", dir_.sub("site.tar.zst"), dir_.sub("old.tar.zst")}).exit_code, 0);
  ASSERT_OK(core::write_file_atomic(dir_.sub("in/k3s"), std::string(3 << 20, 'n')));
  ASSERT_OK(core::write_file_atomic(dir_.sub("in/manifests/extra.yaml"), "kind: Secret\n"));
  auto spec = *core::read_file(dir_.sub("in/bundle.yaml"));
  spec.replace(spec.find("sequence: 1"), 11, "sequence: 2");
  ASSERT_OK(core::write_file_atomic(dir_.sub("in/bundle.yaml"), spec));
  ASSERT_EQ(create().exit_code, 0);
  auto d = run({airgap(), "bundle", "diff", dir_.sub("old.tar.zst"), dir_.sub("site.tar.zst"), "-o",
                "json"});
  ASSERT_EQ(d.exit_code, 0) << d.out;
  ASSERT_OK_AND_ASSIGN(core::Json j, core::parse_json(d.out));
  EXPECT_EQ(j["a"]["sequence"], 1);
  EXPECT_EQ(j["b"]["sequence"], 2);
  EXPECT_EQ(j["files"]["changed"], core::Json::array({"bin/k3s", "sha256sum-amd64.txt"}));
  EXPECT_EQ(j["files"]["added"], core::Json::array({"manifests/extra.yaml"}));
  EXPECT_EQ(j["byte_delta"], (1 << 20) + 13);
}

TEST_F(CliTest, MissingInputWritesNothing) {
  ASSERT_OK(core::write_file_atomic(dir_.sub("in/bundle.yaml"), R"(apiVersion: k3s-airgap/v1
kind: Bundle
name: site-a
sequence: 1
k3s: {version: v1.32.4+k3s1}
artifacts:
  - {name: k3s, path: ./does-not-exist}
images: []
)"));
  auto out = create();
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE(out.out.find("artifact k3s"), std::string::npos) << out.out;
  EXPECT_FALSE(core::path_exists(dir_.sub("site.tar.zst")));
}

}  // namespace
