// Independent readers of our archives: skopeo, umoci and containerd's `ctr images import`
// against a private containerd. Each test skips (with the reason) only when its tool is missing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base/strings.h"
#include "core/fs/fd.h"
#include "core/fs/files.h"
#include "core/serde/json.h"
#include "images/oci_archive.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing_support::have_program;
using testing_support::run;

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::make_busybox_rootfs(dir_.sub("rootfs"))) {
      GTEST_SKIP() << "/bin/busybox is missing (Debian package busybox-static)";
    }
    ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir_.sub("store")));
    BuildSpec spec = testing::busybox_spec(dir_.sub("rootfs"), host_platform());
    ASSERT_OK_AND_ASSIGN(manifest_, build_image(spec, store));
    ASSERT_OK_AND_ASSIGN(std::string bytes, store.read(manifest_.digest));
    ASSERT_OK_AND_ASSIGN(Manifest m, parse_manifest(bytes));
    config_digest_ = m.config.digest;
    layer_digest_ = m.layers[0].digest;
    ASSERT_OK_AND_ASSIGN(Reference ref, Reference::parse("busybox:test"));
    archive_ = dir_.sub("busybox.tar");
    ASSERT_OK_AND_ASSIGN(core::Fd fd, core::Fd::open(archive_, O_WRONLY | O_CREAT | O_TRUNC));
    core::FdSink sink(fd);
    ASSERT_OK(write_oci_archive({{ref, manifest_, std::nullopt}}, store, sink, 1700000000));
    ASSERT_OK(fd.close());

    // The same image for the host and one foreign platform under busybox:multi.
    spec.platform = host_platform().architecture == "amd64" ? Platform{"linux", "arm64", "v8"}
                                                            : Platform{"linux", "amd64", ""};
    ASSERT_OK_AND_ASSIGN(Descriptor foreign, build_image(spec, store));
    ASSERT_OK_AND_ASSIGN(Reference multi, Reference::parse("busybox:multi"));
    multi_archive_ = dir_.sub("multi.tar");
    ASSERT_OK_AND_ASSIGN(core::Fd multi_fd,
                         core::Fd::open(multi_archive_, O_WRONLY | O_CREAT | O_TRUNC));
    core::FdSink multi_sink(multi_fd);
    ASSERT_OK(write_oci_archive({{multi, manifest_, std::nullopt}, {multi, foreign, std::nullopt}},
                                store, multi_sink, 1700000000));
    ASSERT_OK(multi_fd.close());
    ASSERT_OK_AND_ASSIGN(core::Fd in, core::Fd::open(multi_archive_, O_RDONLY));
    core::FdSource src(in);
    ASSERT_OK_AND_ASSIGN(ArchiveContents contents, read_oci_archive(src, nullptr));
    ASSERT_EQ(contents.images.size(), 2u);
    multi_index_ = contents.images[0].index_digest.value_or("");
  }

  core::TempDir dir_ = testing_support::make_temp_dir();
  Descriptor manifest_;
  std::string config_digest_, layer_digest_, archive_;
  std::string multi_archive_, multi_index_;
};

TEST_F(ToolsTest, SkopeoInspectsTheArchive) {
  if (!have_program("skopeo")) GTEST_SKIP() << "skopeo is not installed";
  auto out = run({"skopeo", "inspect", "oci-archive:" + archive_ + ":test"});
  ASSERT_EQ(out.exit_code, 0) << out.out;
  ASSERT_OK_AND_ASSIGN(core::Json j, core::parse_json(out.out));
  EXPECT_EQ(j["Digest"], manifest_.digest);
  EXPECT_EQ(j["Architecture"], host_platform().architecture);
  EXPECT_EQ(j["Os"], "linux");
  EXPECT_EQ(j["Layers"], core::Json::array({layer_digest_}));
  EXPECT_EQ(j["Created"], "2023-11-14T22:13:20Z");
  // The multi-platform reference resolves to the host's manifest.
  auto multi = run({"skopeo", "inspect", "oci-archive:" + multi_archive_ + ":multi"});
  ASSERT_EQ(multi.exit_code, 0) << multi.out;
  ASSERT_OK_AND_ASSIGN(core::Json mj, core::parse_json(multi.out));
  EXPECT_EQ(mj["Architecture"], host_platform().architecture);
  EXPECT_EQ(mj["Layers"], core::Json::array({layer_digest_}));
  auto raw = run({"skopeo", "inspect", "--raw", "oci-archive:" + multi_archive_ + ":multi"});
  ASSERT_EQ(raw.exit_code, 0) << raw.out;
  ASSERT_OK_AND_ASSIGN(Index index, parse_index(raw.out));
  EXPECT_EQ(index.manifests.size(), 2u);

  auto config = run({"skopeo", "inspect", "--config", "--raw", "oci-archive:" + archive_});
  ASSERT_EQ(config.exit_code, 0) << config.out;
  ASSERT_OK_AND_ASSIGN(core::Json c, core::parse_json(config.out));
  EXPECT_EQ(c["config"]["Entrypoint"], core::Json::array({"/bin/sh"}));
}

TEST_F(ToolsTest, UmociListsAndUnpacksTheLayout) {
  if (!have_program("umoci")) GTEST_SKIP() << "umoci is not installed";
  std::string layout = dir_.sub("layout");
  ASSERT_OK(core::make_dirs(layout));
  auto untar = run({"tar", "-xf", archive_, "-C", layout});
  ASSERT_EQ(untar.exit_code, 0) << untar.out;
  auto ls = run({"umoci", "ls", "--layout", layout});
  ASSERT_EQ(ls.exit_code, 0) << ls.out;
  EXPECT_EQ(ls.out, "test\n");
  std::string bundle = dir_.sub("bundle");
  auto unpack = run({"umoci", "unpack", "--image", layout + ":test", bundle});
  ASSERT_EQ(unpack.exit_code, 0) << unpack.out;
  struct stat st;
  ASSERT_EQ(::lstat((bundle + "/rootfs/bin/busybox").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::lstat((bundle + "/rootfs/bin/sh").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::lstat((bundle + "/rootfs/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  ASSERT_OK_AND_ASSIGN(std::string runtime, core::read_file(bundle + "/config.json"));
  ASSERT_OK_AND_ASSIGN(core::Json spec, core::parse_json(runtime));
  EXPECT_EQ(spec["process"]["args"], core::Json::array({"/bin/sh", "-c", "echo hello"}));
}

// A containerd of our own: private root, state and socket, no CRI, native snapshotter.
class PrivateContainerd {
 public:
  static core::Result<PrivateContainerd> start(const std::string& dir) {
    PrivateContainerd c;
    c.socket_ = dir + "/containerd.sock";
    std::string config = fmt::format(
        "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n"
        "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
        "[grpc]\n  address = \"{1}\"\n"
        "[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"{0}/opt\"\n",
        dir, c.socket_);
    K3A_CHECK(core::write_file_atomic(dir + "/config.toml", config));
    c.log_ = dir + "/containerd.log";
    c.process_ = K3A_TRY(core::Process::start(
        {.argv = {"containerd", "-c", dir + "/config.toml"}, .log_file = c.log_}));
    K3A_CHECK(c.wait_ready());
    return c;
  }

  core::ProcessOutput ctr(std::vector<std::string> args) const {
    args.insert(args.begin(), {"ctr", "-a", socket_});
    return run(args);
  }
  std::string log() const { return core::read_file(log_).value_or("(no log)"); }

 private:
  // Polls `ctr version` (bounded: 30 s) until the daemon answers.
  core::Result<void> wait_ready() {
    for (int attempt = 0; attempt < 600; ++attempt) {
      if (auto code = process_->poll()) {
        return core::failf(core::Errc::kUnavailable, "containerd exited with {}: {}", *code, log());
      }
      if (core::path_exists(socket_) && ctr({"version"}).exit_code == 0) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return core::failf(core::Errc::kTimeout, "containerd did not answer: {}", log());
  }

  std::string socket_, log_;
  std::optional<core::Process> process_;
};

TEST_F(ToolsTest, CtrImportsIntoPrivateContainerd) {
  if (!have_program("containerd") || !have_program("ctr")) {
    GTEST_SKIP() << "containerd/ctr are not installed";
  }
  if (::geteuid() != 0) GTEST_SKIP() << "containerd needs root";
  ASSERT_OK_AND_ASSIGN(PrivateContainerd containerd, PrivateContainerd::start(dir_.path()));
  auto import =
      containerd.ctr({"-n", "k8s.io", "images", "import", "--snapshotter", "native", archive_});
  ASSERT_EQ(import.exit_code, 0) << import.out << containerd.log();
  auto multi = containerd.ctr(
      {"-n", "k8s.io", "images", "import", "--snapshotter", "native", multi_archive_});
  ASSERT_EQ(multi.exit_code, 0) << multi.out << containerd.log();
  auto ls = containerd.ctr({"-n", "k8s.io", "images", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.out;
  std::map<std::string, std::string> listed;  // name → line
  for (std::string_view line : core::split(ls.out, '\n')) {
    listed[std::string(line.substr(0, line.find(' ')))] = line;
  }
  ASSERT_TRUE(listed.contains("docker.io/library/busybox:test")) << ls.out;
  EXPECT_NE(listed["docker.io/library/busybox:test"].find(manifest_.digest), std::string::npos);
  ASSERT_TRUE(listed.contains("docker.io/library/busybox:multi")) << ls.out;
  EXPECT_NE(listed["docker.io/library/busybox:multi"].find(multi_index_), std::string::npos);
  EXPECT_NE(listed["docker.io/library/busybox:multi"].find(std::string(kOciIndex)),
            std::string::npos);
  // Config and layer present, and the layer unpacked: its diff_id matched the config.
  auto check = containerd.ctr({"-n", "k8s.io", "images", "check", "--snapshotter", "native"});
  ASSERT_EQ(check.exit_code, 0) << check.out;
  int checked = 0;
  for (std::string_view line : core::split(check.out, '\n')) {
    if (!line.starts_with("docker.io/")) continue;
    ++checked;
    EXPECT_NE(line.find("complete (2/2)"), std::string::npos) << line;
    EXPECT_NE(line.find(" true"), std::string::npos) << line;
  }
  EXPECT_EQ(checked, 2) << check.out;

  // And the other way round: containerd's own export passes our verifier unchanged.
  std::string exported = dir_.sub("exported.tar");
  auto out = containerd.ctr(
      {"-n", "k8s.io", "images", "export", exported, "docker.io/library/busybox:test"});
  ASSERT_EQ(out.exit_code, 0) << out.out;
  ASSERT_OK_AND_ASSIGN(core::Fd fd, core::Fd::open(exported, O_RDONLY));
  core::FdSource src(fd);
  ASSERT_OK_AND_ASSIGN(ArchiveContents contents, read_oci_archive(src, nullptr));
  ASSERT_EQ(contents.images.size(), 1u);
  EXPECT_EQ(contents.images[0].ref.str(), "docker.io/library/busybox:test");
  EXPECT_EQ(contents.images[0].manifest.digest, manifest_.digest);
}

}  // namespace
}  // namespace images
