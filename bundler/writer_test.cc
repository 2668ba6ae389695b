#include "bundler/writer.h"

#include "bundler/bundle_test_support.h"
#include "bundler/reproducible.h"
#include "bundler/sign.h"
#include "core/fs/files.h"
#include "tests/support/test_support.h"

namespace bundler {

TEST(Writer, SameInputsGiveSameEntries) {
  core::TempDir dir = testing_support::make_temp_dir();
  core::PrivateKey key = *core::PrivateKey::generate();
  std::map<std::string, std::string> files = {{"bin/k3s", std::string(40 << 20, 'x')},
                                              {"bin/a", "a"}};
  std::string a = testing::write_valid_bundle(dir, key, files, "a.tar.zst");
  std::string b = testing::write_valid_bundle(dir, key, files, "b.tar.zst");
  ASSERT_OK_AND_ASSIGN(auto diffs, compare_bundle_entries(a, b));
  EXPECT_TRUE(diffs.empty()) << diffs[0];
  files["bin/a"] = "b";
  std::string c = testing::write_valid_bundle(dir, key, files, "c.tar.zst");
  ASSERT_OK_AND_ASSIGN(diffs, compare_bundle_entries(a, c));
  EXPECT_FALSE(diffs.empty());
}

TEST(Writer, NothingIsPublishedWhenASourceChanged) {
  core::TempDir dir = testing_support::make_temp_dir();
  core::PrivateKey key = *core::PrivateKey::generate();
  ASSERT_OK(core::write_file_atomic(dir.sub("k3s"), "original"));
  BundleManifest m = testing::manifest_for({{"bin/k3s", "original"}});
  ASSERT_OK(core::write_file_atomic(dir.sub("k3s"), "modified"));
  std::vector<PlannedFile> planned = {{m.files[0], dir.sub("k3s"), ""}};
  auto r = create_bundle_file(dir.sub("out.tar.zst"), m, planned,
                              {.keys = {&key}, .progress = core::Progress::Output::kNever});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("changed while the bundle was written"), std::string::npos);
  EXPECT_FALSE(core::path_exists(dir.sub("out.tar.zst")));
  EXPECT_FALSE(core::path_exists(dir.sub("out.tar.zst.sig")));
}

TEST(Sign, SecondSignatureKeepsEveryOtherEntry) {
  core::TempDir dir = testing_support::make_temp_dir();
  core::PrivateKey a = *core::PrivateKey::generate(), b = *core::PrivateKey::generate();
  std::map<std::string, std::string> files = {{"bin/k3s", std::string(100000, 'k')}};
  std::string path = testing::write_valid_bundle(dir, a, files);
  std::string copy = dir.sub("copy.tar.zst");
  ASSERT_OK(core::write_file_atomic(copy, *core::read_file(path)));
  ASSERT_OK_AND_ASSIGN(SignResult r, add_signature(path, b, {}));
  EXPECT_EQ(r.signatures, 2u);
  ASSERT_OK_AND_ASSIGN(auto diffs, compare_bundle_entries(copy, path));
  EXPECT_TRUE(diffs.empty());
  VerifyOptions both{.trusted = {a.public_key(), b.public_key()}, .threshold = 2};
  ASSERT_OK_AND_ASSIGN(VerifyReport report, testing::verify_file(path, both));
  EXPECT_EQ(report.signed_by.size(), 2u);
}

}  // namespace bundler
