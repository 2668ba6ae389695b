#include "bundler/format/verifier.h"

#include "bundler/bundle_test_support.h"
#include "bundler/format/signatures.h"
#include "core/base/time.h"
#include "core/fs/files.h"
#include "tests/support/test_support.h"

namespace bundler {
namespace {

using testing::RawEntry;

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *core::PrivateKey::generate();
    files_ = {{"bin/k3s", std::string(300000, 'k')}, {"bin/runc", "runc binary"}};
  }
  VerifyOptions trusting(const core::PrivateKey& key) {
    return {.trusted = {key.public_key()}, .now = *core::parse_rfc3339("2026-06-01T00:00:00Z")};
  }
  // A bundle with valid bundle.json + signature and the given entries after them.
  std::string raw(const std::vector<RawEntry>& entries,
                  std::map<std::string, std::string> listed = {}) {
    if (listed.empty()) listed = files_;
    std::string mj = serialize_manifest(testing::manifest_for(listed));
    return testing::write_raw_bundle(dir_, "raw.tar.zst", mj, testing::sign_json(key_, mj),
                                     entries);
  }
  std::vector<RawEntry> good_entries() {
    std::vector<RawEntry> out;
    for (const auto& [p, d] : files_) out.push_back({{.path = p, .mode = 0755}, d});
    return out;
  }
  core::Error expect_error(const std::string& path, const VerifyOptions& options) {
    auto r = testing::verify_file(path, options);
    EXPECT_FALSE(r);
    return r ? core::Error(core::Errc::kInternal, "verified") : r.error();
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  core::PrivateKey key_ = *core::PrivateKey::generate();
  std::map<std::string, std::string> files_;
};

TEST_F(VerifierTest, ValidBundleVerifies) {
  std::string path = testing::write_valid_bundle(dir_, key_, files_);
  ASSERT_OK_AND_ASSIGN(VerifyReport r, testing::verify_file(path, trusting(key_)));
  EXPECT_EQ(r.manifest.files.size(), 2u);
  EXPECT_EQ(r.signed_by, std::vector<std::string>{key_.public_key().key_id()});
  EXPECT_EQ(r.file_bytes, 300000u + 11u);
  ASSERT_OK_AND_ASSIGN(std::string detached, core::read_file(path + ".sig"));
  EXPECT_OK(check_detached_signature(detached, r.compressed_digest, {key_.public_key()}));
}

TEST_F(VerifierTest, FlippedByteAnywhereIsRejected) {
  std::string path = testing::write_valid_bundle(dir_, key_, files_);
  ASSERT_OK_AND_ASSIGN(std::string bytes, core::read_file(path));
  for (size_t i = 0; i < 60; ++i) {
    size_t offset = i * (bytes.size() - 1) / 59;
    std::string bad = bytes;
    bad[offset] = static_cast<char>(bad[offset] ^ 0x5a);
    ASSERT_OK(core::write_file_atomic(dir_.sub("bad.tar.zst"), bad));
    auto r = testing::verify_file(dir_.sub("bad.tar.zst"), trusting(key_));
    // zstd's frame checksum, the tar checksum, the signature or an entry hash must catch it;
    // if the flip lands in ignored padding, the detached signature still does.
    if (r) {
      ASSERT_OK_AND_ASSIGN(std::string detached, core::read_file(path + ".sig"));
      EXPECT_FALSE(check_detached_signature(detached, r->compressed_digest, {key_.public_key()}))
          << "flip at offset " << offset << " went unnoticed";
    }
  }
}

TEST_F(VerifierTest, WrongKeyAndThresholds) {
  std::string path = testing::write_valid_bundle(dir_, key_, files_);
  core::PrivateKey other = *core::PrivateKey::generate();
  EXPECT_EQ(expect_error(path, trusting(other)).code(), core::Errc::kUnauthorized);
  VerifyOptions two = trusting(key_);
  two.threshold = 2;
  two.trusted.push_back(key_.public_key());  // the same key twice still counts once
  EXPECT_EQ(expect_error(path, two).code(), core::Errc::kUnauthorized);

  std::string mj = serialize_manifest(testing::manifest_for(files_));
  std::string sigs = serialize_signatures({{key_.public_key().key_id(), *key_.sign(mj)},
                                           {other.public_key().key_id(), *other.sign(mj)}});
  std::string both = testing::write_raw_bundle(dir_, "two.tar.zst", mj, sigs, good_entries());
  two.trusted = {key_.public_key(), other.public_key()};
  ASSERT_OK_AND_ASSIGN(VerifyReport r, testing::verify_file(both, two));
  EXPECT_EQ(r.signed_by.size(), 2u);
}

TEST_F(VerifierTest, MalformedSignatureFilesAreRejected) {
  std::string mj = serialize_manifest(testing::manifest_for(files_));
  std::string der = *key_.sign(mj);
  std::string id = key_.public_key().key_id();
  const std::vector<std::string> cases = {
      "{}",
      R"({"signatures":[]})",
      R"({"signatures":[{"keyid":")" + id + R"(","sig":"!!!notbase64"}]})",
      serialize_signatures({{id, der.substr(0, der.size() / 2)}}),
      serialize_signatures({{id, ""}}),
      "not json",
      std::string(70000, '{'),
  };
  for (const auto& sig : cases) {
    std::string p = testing::write_raw_bundle(dir_, "s.tar.zst", mj, sig, good_entries());
    auto e = expect_error(p, trusting(key_));
    EXPECT_FALSE(e.message().empty());
  }
}

TEST_F(VerifierTest, TamperedManifestFailsSignature) {
  std::string mj = serialize_manifest(testing::manifest_for(files_));
  std::string sig = testing::sign_json(key_, mj);
  std::string tampered = mj;
  tampered.replace(tampered.find("\"test\""), 6, "\"evil\"");
  std::string p = testing::write_raw_bundle(dir_, "t.tar.zst", tampered, sig, good_entries());
  EXPECT_EQ(expect_error(p, trusting(key_)).code(), core::Errc::kUnauthorized);
}

TEST_F(VerifierTest, EntryPolicy) {
  auto entries = good_entries();
  struct Case {
    std::string name;
    std::vector<RawEntry> entries;
    std::string message;
  };
  std::vector<Case> cases;
  auto extra = entries;
  extra.push_back({{.path = "bin/extra", .mode = 0755}, "x"});
  cases.push_back({"extraneous", extra, "not listed in bundle.json"});
  cases.push_back({"missing", {entries[0]}, "missing from the bundle"});
  auto dup = entries;
  dup.push_back(entries[1]);
  cases.push_back({"duplicate", dup, "duplicate entry"});
  auto trav = entries;
  trav.push_back({{.path = "../evil", .mode = 0644}, "x"});
  cases.push_back({"traversal", trav, "unsafe entry"});
  auto abs = entries;
  abs.push_back({{.path = "/etc/evil", .mode = 0644}, "x"});
  cases.push_back({"absolute", abs, "unsafe entry"});
  auto link = entries;
  link.insert(
      link.begin(),
      {{.path = "bin/link", .type = core::TarType::kSymlink, .link_target = "/etc/shadow"}, ""});
  cases.push_back({"symlink", link, "only regular files"});
  auto dir = entries;
  dir.insert(dir.begin(), {{.path = "bin", .type = core::TarType::kDirectory, .mode = 0755}, ""});
  cases.push_back({"directory", dir, "only regular files"});
  auto mode = entries;
  mode[0].entry.mode = 04755;
  cases.push_back({"setuid mode", mode, "mode"});
  auto size = entries;
  size[1].data += "more";
  cases.push_back({"size lie", size, "bytes, bundle.json says"});
  auto content = entries;
  content[1].data[0] ^= 1;
  cases.push_back({"content", content, "does not match bundle.json"});
  for (const auto& c : cases) {
    std::string p = raw(c.entries);
    core::Error e = expect_error(p, trusting(key_));
    EXPECT_NE(e.message().find(c.message), std::string::npos) << c.name << ": " << e.message();
  }
}

TEST_F(VerifierTest, HeaderMustComeFirst) {
  std::string mj = serialize_manifest(testing::manifest_for(files_));
  std::string p = testing::write_raw_bundle(dir_, "h.tar.zst", "", "", good_entries());
  EXPECT_NE(expect_error(p, trusting(key_)).message().find("must be bundle.json"),
            std::string::npos);
}

TEST_F(VerifierTest, TrailingBytesAfterTheBundleAreRejected) {
  std::string path = testing::write_valid_bundle(dir_, key_, files_);
  ASSERT_OK_AND_ASSIGN(std::string bytes, core::read_file(path));
  ASSERT_OK(core::write_file_atomic(dir_.sub("trail.tar.zst"), bytes + "garbage"));
  EXPECT_EQ(expect_error(dir_.sub("trail.tar.zst"), trusting(key_)).code(), core::Errc::kIntegrity);
  ASSERT_OK(core::write_file_atomic(dir_.sub("cut.tar.zst"), bytes.substr(0, bytes.size() - 100)));
  EXPECT_EQ(expect_error(dir_.sub("cut.tar.zst"), trusting(key_)).code(), core::Errc::kIntegrity);
}

TEST_F(VerifierTest, SpecialFilesFromGnuTarAreRejected) {
  // Hard links, FIFOs and device nodes cannot be made by our writer; GNU tar makes them.
  std::string mj = serialize_manifest(testing::manifest_for(files_));
  std::string root = dir_.sub("tree");
  ASSERT_OK(core::make_dirs(root + "/bin"));
  ASSERT_OK(core::write_file_atomic(root + "/bundle.json", mj));
  ASSERT_OK(core::write_file_atomic(root + "/bundle.json.sig", testing::sign_json(key_, mj)));
  for (const auto& [p, d] : files_) ASSERT_OK(core::write_file_atomic(root + "/" + p, d, 0755));
  struct Case {
    std::string name, setup;
  };
  for (const Case& c : std::vector<Case>{{"hardlink", "ln bin/k3s bin/hl"},
                                         {"fifo", "mkfifo bin/fifo"},
                                         {"device", "mknod bin/mem c 1 1"}}) {
    std::string script =
        "cd " + root + " && rm -f bin/hl bin/fifo bin/mem && " + c.setup +
        " && tar --format=pax -cf - bundle.json bundle.json.sig bin/k3s bin/runc "
        "$(ls bin | grep -v -e '^k3s$' -e '^runc$' | sed 's|^|bin/|') | zstd -q > " +
        dir_.sub(c.name + ".tar.zst");
    auto out = testing_support::run({"sh", "-c", script});
    ASSERT_EQ(out.exit_code, 0) << out.out;
    core::Error e = expect_error(dir_.sub(c.name + ".tar.zst"), trusting(key_));
    EXPECT_NE(e.message().find("only regular files"), std::string::npos)
        << c.name << ": " << e.message();
  }
}

TEST_F(VerifierTest, ExpiryIsEnforced) {
  BundleManifest m = testing::manifest_for(files_);
  m.expires = "2026-03-01T00:00:00Z";
  std::string mj = serialize_manifest(m);
  std::string p = testing::write_raw_bundle(dir_, "e.tar.zst", mj, testing::sign_json(key_, mj),
                                            good_entries());
  EXPECT_EQ(expect_error(p, trusting(key_)).code(), core::Errc::kExpired);
  VerifyOptions lenient = trusting(key_);
  lenient.allow_expired = true;
  ASSERT_OK_AND_ASSIGN(VerifyReport r, testing::verify_file(p, lenient));
  EXPECT_TRUE(r.expired);
}

}  // namespace
}  // namespace bundler
