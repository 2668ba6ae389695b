// The installer end to end in-process, into a temporary root: the file set it writes, a
// repeated install, upgrade and rollback, the policy refusals, and hostile bundles — after each
// refusal the tree must be exactly as before (paths, types, modes, sizes, inodes, mtimes).
#include "installer/install.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "bundler/bundle_test_support.h"
#include "bundler/format/signatures.h"
#include "bundler/writer.h"
#include "core/base/time.h"
#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "tests/support/test_support.h"

namespace installer {
namespace {

using bundler::BundleManifest;
using bundler::FileRecord;
using bundler::FileRole;

class Capture : public Reporter {
 public:
  void info(std::string_view m) override { infos.emplace_back(m); }
  void warn(std::string_view m) override { warnings.emplace_back(m); }
  std::vector<std::string> infos, warnings;
};

// Everything about a tree that an install could change.
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  std::vector<std::string> todo{""};
  while (!todo.empty()) {
    std::string rel = todo.back();
    todo.pop_back();
    DIR* d = ::opendir((root + rel).c_str());
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string p = rel + "/" + name;
      struct stat st {};
      ::lstat((root + p).c_str(), &st);
      char link[4096] = {0};
      if (S_ISLNK(st.st_mode)) (void)!::readlink((root + p).c_str(), link, sizeof link - 1);
      out[p] = fmt::format("mode={:o} size={} ino={} mtime={}.{} -> {}", st.st_mode,
                           S_ISDIR(st.st_mode) ? 0 : st.st_size, st.st_ino, st.st_mtim.tv_sec,
                           st.st_mtim.tv_nsec, link);
      if (S_ISDIR(st.st_mode)) todo.push_back(p);
    }
    ::closedir(d);
  }
  return out;
}

constexpr char kVersions[] = "/var/lib/rancher/k3s/airgap/versions";

// The installer's own bookkeeping, which a refused install may leave: the store's empty
// skeleton (created with its lock before staging can begin), and the mtime of versions/, the
// parent of the staging directory.
bool bookkeeping(const std::string& path) {
  for (const char* p :
       {"/var", "/var/lib", "/var/lib/rancher", "/var/lib/rancher/k3s",
        "/var/lib/rancher/k3s/airgap", "/var/lib/rancher/k3s/airgap/.lock", kVersions}) {
    if (path == p) return true;
  }
  return false;
}

// The paths whose entries differ, for a readable failure.
std::string diff(const std::map<std::string, std::string>& a,
                 const std::map<std::string, std::string>& b) {
  std::string out;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      out += "\n  only before: " + k;
    } else if (it->second != v && k != kVersions) {
      out += "\n  changed: " + k + ": " + v + " => " + it->second;
    }
  }
  for (const auto& [k, v] : b) {
    if (!a.count(k) && !bookkeeping(k)) out += "\n  only after: " + k;
  }
  return out;
}

std::string read(const std::string& path) {
  auto r = core::read_file(path);
  return r ? *r : "<" + r.error().message() + ">";
}

std::string link_of(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, n);
}

class InstallTest : public ::testing::Test {
 protected:
  struct BundleArgs {
    uint64_t sequence = 1;
    std::string k3s = "#!/bin/sh\necho k3s v1\n";
    std::optional<std::string> expires;
    std::vector<std::string> arch = {"amd64"};
    std::string manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n";
    std::map<std::string, std::string> artifacts;  // more bin/<name> files
  };

  std::string bundle(const BundleArgs& a, const std::string& name,
                     std::vector<const core::PrivateKey*> keys = {}) {
    BundleManifest m;
    m.name = "site";
    m.sequence = a.sequence;
    m.created = "2026-01-01T00:00:00Z";
    m.expires = a.expires;
    m.k3s_version = "v1.32.4+k3s1";
    m.arch = a.arch;
    std::vector<bundler::PlannedFile> files;
    auto add = [&](FileRecord r, const std::string& content) {
      r.size = content.size();
      r.sha256 = core::Sha256::hex_of(content);
      files.push_back({r, "", content});
    };
    add({.path = "bin/k3s", .mode = 0755, .role = FileRole::kArtifact, .name = "k3s"}, a.k3s);
    add({.path = "bin/runc", .mode = 0755, .role = FileRole::kArtifact, .name = "runc"}, "runc");
    for (const auto& [name, content] : a.artifacts) {
      add({.path = "bin/" + name, .mode = 0644, .role = FileRole::kArtifact, .name = name},
          content);
    }
    add({.path = "images/k3s-images.txt", .mode = 0644, .role = FileRole::kImageList},
        "docker.io/rancher/mirrored-pause:3.6\n");
    add({.path = "manifests/x.yaml", .mode = 0644, .role = FileRole::kManifest}, a.manifest);
    std::sort(files.begin(), files.end(),
              [](const auto& x, const auto& y) { return x.record.path < y.record.path; });
    for (const auto& f : files) m.files.push_back(f.record);
    if (keys.empty()) keys = {&key_};
    std::string path = dir_.sub(name);
    auto r = bundler::create_bundle_file(
        path, m, files, {.keys = keys, .progress = core::Progress::Output::kNever});
    EXPECT_TRUE(r) << r.error().message();
    return path;
  }

  Plan plan(std::map<std::string, std::string> env = {}, std::vector<std::string> words = {}) {
    auto p = make_plan(env, words, root_);
    EXPECT_TRUE(p) << p.error().message();
    return *p;
  }

  InstallOptions options(const std::string& bundle) {
    return {.bundle = bundle,
            .trust = {pub_},
            .skip_preflight = {"disk"},
            .arch = "amd64",
            .now = *core::parse_rfc3339("2026-06-01T00:00:00Z")};
  }

  core::Result<InstallResult> run(const InstallOptions& o, const Plan& p) {
    return install(p, o, capture_);
  }
  core::Result<InstallResult> run(const InstallOptions& o) { return run(o, plan()); }

  // The install must fail with `message`, and leave the tree exactly as it was.
  void expect_refused(const InstallOptions& o, const std::string& message) {
    auto before = snapshot(root_);
    auto r = run(o);
    ASSERT_FALSE(r) << "installed " << o.bundle;
    EXPECT_NE(r.error().message().find(message), std::string::npos) << r.error().message();
    EXPECT_EQ(diff(before, snapshot(root_)), "") << "after: " << r.error().message();
  }

  std::string host(const std::string& p) const { return root_ + p; }
  // A file's content as the target system sees it: absolute links resolve inside the root.
  std::string read_target(std::string p) const {
    for (std::string l; !(l = link_of(host(p))).empty() && l.starts_with('/');) p = l;
    return read(host(p));
  }

  void SetUp() override {
    ASSERT_OK(core::write_file_atomic(pub_, key_.public_key().to_pem()));
    ASSERT_OK(core::make_dirs(root_));
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  core::PrivateKey key_ = *core::PrivateKey::generate();
  std::string pub_ = dir_.sub("bundle.pub");
  std::string root_ = dir_.sub("root");
  Capture capture_;
};

TEST_F(InstallTest, FreshInstallWritesUpstreamsFileSet) {
  std::string b = bundle({}, "v1.tar.zst");
  Plan p = plan({{"K3S_TOKEN", "secret"}}, {"--disable", "traefik"});
  ASSERT_OK_AND_ASSIGN(InstallResult r, run(options(b), p));
  EXPECT_TRUE(r.staged);
  ASSERT_TRUE(r.installed);
  EXPECT_EQ(r.installed->sequence, 1u);

  const std::string air = "/var/lib/rancher/k3s/airgap";
  EXPECT_EQ(link_of(host(air + "/current")), "versions/" + r.installed->id);
  EXPECT_EQ(link_of(host("/usr/local/bin/k3s")), air + "/current/bin/k3s");
  EXPECT_EQ(read(host(air + "/current/bin/k3s")), "#!/bin/sh\necho k3s v1\n");
  for (const char* cmd : {"kubectl", "crictl", "ctr"}) {
    EXPECT_EQ(link_of(host(std::string("/usr/local/bin/") + cmd)), "k3s") << cmd;
  }
  EXPECT_EQ(link_of(host("/var/lib/rancher/k3s/agent/images/k3s-images.txt")),
            air + "/current/images/k3s-images.txt");
  EXPECT_EQ(link_of(host("/var/lib/rancher/k3s/server/manifests/x.yaml")),
            air + "/current/manifests/x.yaml");
  struct stat st {};
  ASSERT_EQ(::stat(host("/etc/systemd/system/k3s.service.env").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(read(host("/etc/systemd/system/k3s.service.env")), "K3S_TOKEN='secret'\n");
  ASSERT_EQ(::stat(host("/usr/local/bin/k3s-killall.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat(host("/usr/local/bin/k3s-uninstall.sh").c_str(), &st), 0);
  ASSERT_EQ(::stat(host(air + "/current/bin/k3s").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  std::string unit = read(host("/etc/systemd/system/k3s.service"));
  EXPECT_NE(unit.find("ExecStart=/usr/local/bin/k3s \\\n    server \\\n\t'--disable' \\\n"
                      "\t'traefik' \\\n"),
            std::string::npos)
      << unit;
  // The version directory also holds the signed manifest, for rollback and inspection.
  EXPECT_TRUE(core::path_exists(host(air + "/current/bundle.json")));
  EXPECT_TRUE(core::path_exists(host(air + "/current/bundle.json.sig")));
}

TEST_F(InstallTest, RegistriesFromTheEnvironmentOnlyWhenTheFileIsMissing) {
  std::string b = bundle({}, "v1.tar.zst");
  const std::string file = "/etc/rancher/k3s/registries.yaml";
  ASSERT_OK(
      run(options(b), plan({{"INSTALL_K3S_REGISTRIES", "https://mirror.site:5000,http://m2"}})));
  EXPECT_EQ(read(host(file)),
            "mirrors:\n  \"docker.io\":\n    endpoint:\n      - \"https://mirror.site:5000\"\n"
            "      - \"http://m2\"\n");
  ASSERT_OK(core::write_file_atomic(host(file), "mirrors: {}\n"));
  ASSERT_OK(run(options(b), plan({{"INSTALL_K3S_REGISTRIES", "https://other"}})));
  EXPECT_EQ(read(host(file)), "mirrors: {}\n");
}

TEST_F(InstallTest, SecondIdenticalInstallChangesNothing) {
  std::string b = bundle({}, "v1.tar.zst");
  ASSERT_OK(run(options(b)));
  auto before = snapshot(root_);
  ASSERT_OK_AND_ASSIGN(InstallResult r, run(options(b)));
  EXPECT_FALSE(r.staged);
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(diff(before, snapshot(root_)), "");
}

TEST_F(InstallTest, UpgradeRollbackAndRollForward) {
  std::string v1 = bundle({}, "v1.tar.zst");
  std::string v2 = bundle({.sequence = 2, .k3s = "#!/bin/sh\necho k3s v2\n", .manifest = "b: 2\n"},
                          "v2.tar.zst");
  ASSERT_OK(run(options(v1)));
  ASSERT_OK_AND_ASSIGN(InstallResult up, run(options(v2)));
  EXPECT_TRUE(up.changed);
  EXPECT_EQ(read_target("/usr/local/bin/k3s"), "#!/bin/sh\necho k3s v2\n");
  EXPECT_EQ(read_target("/var/lib/rancher/k3s/server/manifests/x.yaml"), "b: 2\n");

  ASSERT_OK_AND_ASSIGN(InstallResult back, rollback(plan(), options(""), capture_));
  EXPECT_EQ(back.installed->sequence, 1u);
  EXPECT_TRUE(back.changed);
  EXPECT_EQ(read_target("/usr/local/bin/k3s"), "#!/bin/sh\necho k3s v1\n");
  EXPECT_EQ(read_target("/var/lib/rancher/k3s/server/manifests/x.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n");
  // Reinstalling the version now current is not a downgrade; going forward again works.
  ASSERT_OK(run(options(v1)));
  ASSERT_OK(run(options(v2)));
  EXPECT_EQ(read_target("/usr/local/bin/k3s"), "#!/bin/sh\necho k3s v2\n");
  // Only current and previous payloads are kept.
  auto versions = snapshot(host("/var/lib/rancher/k3s/airgap/versions"));
  size_t dirs = std::count_if(versions.begin(), versions.end(), [](const auto& kv) {
    return kv.first.find('/', 1) == std::string::npos;
  });
  EXPECT_EQ(dirs, 2u);
}

TEST_F(InstallTest, RollbackWithoutPreviousIsRefused) {
  ASSERT_OK(run(options(bundle({}, "v1.tar.zst"))));
  auto before = snapshot(root_);
  auto r = rollback(plan(), options(""), capture_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no previous version"), std::string::npos);
  EXPECT_EQ(diff(before, snapshot(root_)), "");
}

TEST_F(InstallTest, RollbackEquivocationAndExpiryAreRefused) {
  std::string v1 = bundle({}, "v1.tar.zst");
  std::string v2 = bundle({.sequence = 2, .k3s = "v2"}, "v2.tar.zst");
  std::string v2b = bundle({.sequence = 2, .k3s = "other v2"}, "v2b.tar.zst");
  std::string old = bundle({.sequence = 3, .expires = "2026-02-01T00:00:00Z"}, "old.tar.zst");
  ASSERT_OK(run(options(v2)));
  expect_refused(options(v1), "rollback: bundle sequence 1 is lower than the installed 2");
  expect_refused(options(v2b), "equivocation: sequence 2 was installed");
  expect_refused(options(old), "expired at 2026-02-01T00:00:00Z");

  InstallOptions expired = options(old);
  expired.allow_expired = true;
  ASSERT_OK(run(expired));
  EXPECT_TRUE(std::any_of(capture_.warnings.begin(), capture_.warnings.end(),
                          [](const std::string& w) { return w.starts_with("EXPIRED"); }));
  InstallOptions down = options(v1);
  down.allow_downgrade = true;
  ASSERT_OK(run(down));
  EXPECT_EQ(read_target("/usr/local/bin/k3s"), "#!/bin/sh\necho k3s v1\n");
}

TEST_F(InstallTest, TrustIsRequired) {
  std::string b = bundle({}, "v1.tar.zst");
  core::PrivateKey other = *core::PrivateKey::generate();
  std::string other_pub = dir_.sub("other.pub");
  ASSERT_OK(core::write_file_atomic(other_pub, other.public_key().to_pem()));

  InstallOptions wrong = options(b);
  wrong.trust = {other_pub};
  expect_refused(wrong, "signature");
  InstallOptions none = options(b);
  none.trust.clear();
  expect_refused(none, "no trusted keys");
  InstallOptions two = options(b);
  two.trust = {pub_, other_pub};
  two.threshold = 2;
  expect_refused(two, "");

  // Keys from the trust directory in the root are used when --trust is absent.
  ASSERT_OK(core::make_dirs(host("/etc/rancher/k3s/airgap/trust")));
  ASSERT_OK(core::write_file_atomic(host("/etc/rancher/k3s/airgap/trust/site.pub"),
                                    key_.public_key().to_pem()));
  ASSERT_OK(run(none));

  // An untrusted bundle installs only with --insecure-skip-verify, loudly.
  std::string foreign = bundle({.sequence = 2}, "foreign.tar.zst", {&other});
  expect_refused(options(foreign), "signature");
  InstallOptions insecure = options(foreign);
  insecure.insecure_skip_verify = true;
  ASSERT_OK(run(insecure));
  EXPECT_FALSE(capture_.warnings.empty());
}

TEST_F(InstallTest, HostileBundlesChangeNothing) {
  std::string v1 = bundle({}, "v1.tar.zst");
  ASSERT_OK(run(options(v1)));
  std::string v2 = bundle({.sequence = 2, .k3s = std::string(200000, 'x')}, "v2.tar.zst");
  ASSERT_OK_AND_ASSIGN(std::string bytes, core::read_file(v2));
  ASSERT_OK_AND_ASSIGN(std::string detached, core::read_file(v2 + ".sig"));
  // A byte flipped at 40 offsets spread over the file. The detached signature covers the exact
  // bytes; bundle.json's signatures cover the content (a rare flip in zstd's entropy tables can
  // leave the decoded content identical, which only the detached signature notices).
  for (int i = 0; i < 40; ++i) {
    std::string bad = bytes;
    size_t at = (bad.size() - 1) * i / 39;
    bad[at] ^= 0x20;
    std::string path = dir_.sub("flip.tar.zst");
    ASSERT_OK(core::write_file_atomic(path, bad));
    ASSERT_OK(core::write_file_atomic(path + ".sig", detached));
    SCOPED_TRACE("offset " + std::to_string(at));
    expect_refused(options(path), "");
  }
  // Entries the signed manifest does not allow.
  std::map<std::string, std::string> listed = {{"bin/k3s", "k3s"}, {"bin/runc", "runc"}};
  BundleManifest m = bundler::testing::manifest_for(listed);
  m.sequence = 5;
  for (auto& f : m.files) f.name = core::base_name(f.path);
  std::string mj = bundler::serialize_manifest(m);
  std::string sig = bundler::testing::sign_json(key_, mj);
  using bundler::testing::RawEntry;
  std::vector<RawEntry> good{{{.path = "bin/k3s", .mode = 0755}, "k3s"},
                             {{.path = "bin/runc", .mode = 0755}, "runc"}};
  struct Case {
    std::string name;
    std::vector<RawEntry> entries;
    std::string message;
  };
  std::vector<Case> cases;
  auto trav = good;
  trav.push_back({{.path = "../../../../evil", .mode = 0644}, "x"});
  cases.push_back({"traversal", trav, "unsafe entry"});
  auto link = good;
  link.insert(
      link.begin(),
      {{.path = "bin/k3s", .type = core::TarType::kSymlink, .link_target = "/etc/shadow"}, ""});
  cases.push_back({"symlink", link, "only regular files"});
  auto dup = good;
  dup.push_back(good[0]);
  cases.push_back({"duplicate", dup, "duplicate entry"});
  auto extra = good;
  extra.push_back({{.path = "bin/extra", .mode = 0755}, "x"});
  cases.push_back({"extraneous", extra, "not listed in bundle.json"});
  cases.push_back({"missing", {good[0]}, "missing from the bundle"});
  auto content = good;
  content[1].data = "RUNC";
  cases.push_back({"content", content, "does not match bundle.json"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path =
        bundler::testing::write_raw_bundle(dir_, c.name + ".tar.zst", mj, sig, c.entries);
    expect_refused(options(path), c.message);
  }
  EXPECT_FALSE(core::path_exists(dir_.sub("evil")));
  EXPECT_FALSE(core::path_exists(root_ + "/evil"));
}

TEST_F(InstallTest, KeyRotationRecoversFromFastForward) {
  // A leaked key signs an absurd sequence and it gets installed.
  core::PrivateKey leaked = *core::PrivateKey::generate();
  std::string leaked_pub = dir_.sub("leaked.pub");
  ASSERT_OK(core::write_file_atomic(leaked_pub, leaked.public_key().to_pem()));
  std::string huge =
      bundle({.sequence = 9223372036854775807ull, .k3s = "evil"}, "ff.tar.zst", {&leaked});
  InstallOptions both = options(huge);
  both.trust = {pub_, leaked_pub};
  ASSERT_OK(run(both));
  std::string normal = bundle({.sequence = 2}, "v2.tar.zst");
  // While the leaked key is trusted, its sequence holds every later bundle back...
  InstallOptions still = options(normal);
  still.trust = {pub_, leaked_pub};
  expect_refused(still,
                 "rollback: bundle sequence 2 is lower than the installed 9223372036854775807");
  // ...and once it is rotated out of the trust set, a normal release installs.
  ASSERT_OK(run(options(normal)));
  EXPECT_EQ(read_target("/usr/local/bin/k3s"), "#!/bin/sh\necho k3s v1\n");
}

TEST_F(InstallTest, UnpackedBundleDirectory) {
  std::string b = bundle({}, "v1.tar.zst");
  std::string x = dir_.sub("x");
  ASSERT_OK(core::make_dirs(x));
  auto out = testing_support::run({"tar", "-I", "zstd", "-xf", b, "-C", x});
  ASSERT_EQ(out.exit_code, 0) << out.out;
  // A symlink planted in the unpacked tree is refused, not followed.
  ASSERT_OK(core::write_file_atomic(dir_.sub("elsewhere"), "#!/bin/sh\necho k3s v1\n", 0755));
  ASSERT_EQ(::rename((x + "/bin/k3s").c_str(), (x + "/bin/k3s.orig").c_str()), 0);
  ASSERT_EQ(::symlink(dir_.sub("elsewhere").c_str(), (x + "/bin/k3s").c_str()), 0);
  expect_refused(options(x), "symlink");
  ASSERT_EQ(::unlink((x + "/bin/k3s").c_str()), 0);
  ASSERT_EQ(::rename((x + "/bin/k3s.orig").c_str(), (x + "/bin/k3s").c_str()), 0);
  ASSERT_OK(core::write_file_atomic(x + "/bin/runc", "RUNC", 0755));
  expect_refused(options(x), "does not match bundle.json");
  ASSERT_OK(core::write_file_atomic(x + "/bin/runc", "runc", 0755));
  ASSERT_OK(run(options(x)));
  EXPECT_EQ(read_target("/usr/local/bin/k3s"), "#!/bin/sh\necho k3s v1\n");
}

TEST_F(InstallTest, LooseFilesFlow) {
  Plan p = plan({{"INSTALL_K3S_SKIP_DOWNLOAD", "true"}});
  auto none = run(options(""), p);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message(), "Executable k3s binary not found at /usr/local/bin/k3s");
  std::string bin = host("/usr/local/bin/k3s");
  ASSERT_OK(core::make_dirs(host("/usr/local/bin")));
  ASSERT_OK(core::write_file_atomic(bin, "loose k3s", 0755));
  ASSERT_OK(core::write_file_atomic(host("/usr/local/bin/sha256sum-amd64.txt"),
                                    std::string(64, '0') + "  k3s\n"));
  auto bad = run(options(""), p);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("does not match sha256sum-amd64.txt"), std::string::npos);
  ASSERT_OK(core::write_file_atomic(host("/usr/local/bin/sha256sum-amd64.txt"),
                                    core::Sha256::hex_of("loose k3s") + "  k3s\n"));
  ASSERT_OK(run(options(""), p));
  EXPECT_EQ(read(bin), "loose k3s");
  EXPECT_TRUE(core::path_exists(host("/etc/systemd/system/k3s.service")));
  // Without SKIP_DOWNLOAD there is nothing to install from.
  auto nothing = run(options(""));
  ASSERT_FALSE(nothing);
  EXPECT_NE(nothing.error().message().find("no bundle given"), std::string::npos);
}

TEST_F(InstallTest, PreflightAndVersionChecks) {
  std::string arm = bundle({.arch = {"arm64"}}, "arm.tar.zst");
  expect_refused(options(arm), "preflight arch: this host is amd64 but the bundle carries arm64");
  std::string b = bundle({}, "v1.tar.zst");
  auto before = snapshot(root_);
  auto r = run(options(b), plan({{"INSTALL_K3S_VERSION", "v1.33.0+k3s1"}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(),
            "INSTALL_K3S_VERSION is v1.33.0+k3s1 but the bundle carries k3s v1.32.4+k3s1");
  EXPECT_EQ(diff(before, snapshot(root_)), "");
  InstallOptions disk = options(b);
  disk.skip_preflight.clear();  // the disk check runs (and passes); host checks do not under a root
  ASSERT_OK(run(disk));
}

// A noarch RPM that installs /usr/share/selinux/packages/k3s.pp, built with rpmbuild.
std::string build_policy_rpm(const core::TempDir& dir) {
  std::string top = dir.sub("rpmbuild");
  EXPECT_OK(core::make_dirs(top + "/SPECS"));
  EXPECT_OK(core::write_file_atomic(top + "/SPECS/k3s-selinux.spec", R"(Name: k3s-selinux
Version: 1.6
Release: 1
Summary: stand-in k3s SELinux policy
License: Apache-2.0
BuildArch: noarch
%description
Stand-in policy package for tests.
%install
mkdir -p %{buildroot}/usr/share/selinux/packages
echo policy > %{buildroot}/usr/share/selinux/packages/k3s.pp
%files
/usr/share/selinux/packages/k3s.pp
)"));
  auto out = testing_support::run({"rpmbuild", "--quiet", "--define", "_topdir " + top, "-bb",
                                   top + "/SPECS/k3s-selinux.spec"});
  EXPECT_EQ(out.exit_code, 0) << out.out;
  return read(top + "/RPMS/noarch/k3s-selinux-1.6-1.noarch.rpm");
}

TEST_F(InstallTest, SelinuxPolicyComesFromTheBundle) {
  ASSERT_OK(core::make_dirs(host("/etc/selinux")));
  ASSERT_OK(core::make_dirs(host("/usr/share/selinux")));
  ASSERT_OK(core::write_file_atomic(host("/etc/selinux/config"), "SELINUX=enforcing\n"));
  // Without the policy (installed or carried) an enforcing host is refused before any change.
  expect_refused(options(bundle({}, "plain.tar.zst")), "Failed to find the k3s-selinux policy");
  // INSTALL_K3S_SELINUX_WARN=true turns that into a warning.
  ASSERT_OK(
      run(options(bundle({}, "plain.tar.zst")), plan({{"INSTALL_K3S_SELINUX_WARN", "true"}})));
  EXPECT_TRUE(std::any_of(capture_.warnings.begin(), capture_.warnings.end(),
                          [](const std::string& w) { return w.find("k3s-selinux") != w.npos; }));

  std::string with_rpm = bundle(
      {.sequence = 2, .artifacts = {{"k3s-selinux", build_policy_rpm(dir_)}}}, "rpm.tar.zst");
  // Skipping the RPM leaves the policy missing: refused again.
  auto skipped = run(options(with_rpm), plan({{"INSTALL_K3S_SKIP_SELINUX_RPM", "true"}}));
  ASSERT_FALSE(skipped);
  EXPECT_NE(skipped.error().message().find("Failed to find the k3s-selinux policy"),
            std::string::npos);
  ASSERT_OK(run(options(with_rpm)));
  EXPECT_EQ(read(host("/usr/share/selinux/packages/k3s.pp")), "policy\n");
  auto q = testing_support::run({"rpm", "--root", root_, "-q", "k3s-selinux"});
  EXPECT_EQ(q.exit_code, 0) << q.out;
}

TEST_F(InstallTest, OpenrcFilesAndSkipEnable) {
  ASSERT_OK(core::make_dirs(host("/sbin")));
  ASSERT_OK(core::write_file_atomic(host("/sbin/openrc-run"), "#!/bin/sh\n", 0755));
  Plan p = plan({{"K3S_URL", "https://10.0.0.1:6443"}, {"K3S_TOKEN", "t"}});
  ASSERT_EQ(p.init, InitSystem::kOpenrc);
  ASSERT_OK(run(options(bundle({}, "v1.tar.zst")), p));
  std::string script = read(host("/etc/init.d/k3s-agent"));
  EXPECT_TRUE(script.starts_with("#!/sbin/openrc-run\n")) << script;
  EXPECT_NE(script.find("command=\"/usr/local/bin/k3s\""), std::string::npos);
  EXPECT_NE(script.find("command_args=\"agent"), std::string::npos) << script;
  EXPECT_NE(read(host("/etc/logrotate.d/k3s-agent")).find("/var/log/k3s-agent.log"),
            std::string::npos);
  EXPECT_EQ(read(host("/etc/rancher/k3s/k3s-agent.env")),
            "K3S_TOKEN='t'\nK3S_URL='https://10.0.0.1:6443'\n");
  EXPECT_FALSE(core::path_exists(host("/etc/systemd/system/k3s-agent.service")));
}

TEST_F(InstallTest, SkipStartAndSkipEnableDoNotStart) {
  std::string b = bundle({.k3s = "#!/bin/sh\nexit 3\n"}, "v1.tar.zst");
  for (const char* var : {"INSTALL_K3S_SKIP_START", "INSTALL_K3S_SKIP_ENABLE"}) {
    InstallOptions o = options(b);
    o.supervise = true;
    ASSERT_OK_AND_ASSIGN(InstallResult r, run(o, plan({{var, "true"}})));
    EXPECT_FALSE(r.started) << var;
    EXPECT_FALSE(core::path_exists(host("/var/run/k3s.pid"))) << var;
  }
}

TEST_F(InstallTest, ConcurrentInstallerFailsFast) {
  std::string b = bundle({}, "v1.tar.zst");
  ASSERT_OK(core::make_dirs(host("/var/lib/rancher/k3s/airgap")));
  ASSERT_OK_AND_ASSIGN(Store held, Store::open(host("/var/lib/rancher/k3s/airgap")));
  expect_refused(options(b), "another installer is running");
}

}  // namespace
}  // namespace installer
