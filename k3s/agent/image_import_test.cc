// Importing archives into a real containerd (private socket; root only): images pinned with the
// CRI's labels, blobs containerd holds skipped, a tampered archive refused with nothing of it
// imported.
#include "k3s/agent/image_import.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "core/proc/process.h"
#include "images/builder.h"
#include "images/oci_archive.h"
#include "images/test_images.h"
#include "k3s/agent/containerd.h"

namespace k3s::agent {
namespace {

class ImageImportTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !find_binary("containerd") || !find_binary("ctr"))
      GTEST_SKIP() << "needs root, containerd and ctr";
    dir_ = std::make_unique<core::TempDir>(*core::TempDir::create("k3a-import"));
    if (!images::testing::make_busybox_rootfs(dir_->sub("rootfs"))) GTEST_SKIP() << "no busybox";
    ContainerdSettings s{.binary = *find_binary("containerd"),
                         .root = dir_->sub("containerd"),
                         .state = dir_->sub("run"),
                         .socket = dir_->sub("run/containerd.sock"),
                         .config_dir = dir_->sub("etc"),
                         .cri = false};
    containerd_ = std::make_unique<ContainerdSupervisor>(s);
    ASSERT_TRUE(containerd_->start({}));
    socket_ = s.socket;
    auto store = images::BlobStore::open(dir_->sub("build"));
    ASSERT_TRUE(store);
    auto manifest = images::build_image(
        images::testing::busybox_spec(dir_->sub("rootfs"), images::host_platform()), *store);
    ASSERT_TRUE(manifest);
    core::StringSink sink;
    ASSERT_TRUE(images::write_oci_archive(
        {{*images::Reference::parse("busybox:preload"), *manifest, std::nullopt}}, *store, sink,
        0));
    archive_ = sink.str();
  }

  std::string ctr(std::vector<std::string> args) {
    args.insert(args.begin(), {*find_binary("ctr"), "-a", socket_, "-n", "k8s.io"});
    auto out = core::run_command(args);
    EXPECT_TRUE(out && out->exit_code == 0);
    return out ? out->out : "";
  }

  std::unique_ptr<core::TempDir> dir_;
  std::unique_ptr<ContainerdSupervisor> containerd_;
  std::string socket_;
  std::string archive_;
};

TEST_F(ImageImportTest, ImportsPinnedAndSkipsWhatIsThere) {
  ASSERT_TRUE(core::write_file_atomic(dir_->sub("busybox.tar"), archive_));
  core::grpc::Client client(socket_);
  auto report = import_archive(client, dir_->sub("busybox.tar"), dir_->sub("staging"));
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_EQ(report->images, std::vector<std::string>{"docker.io/library/busybox:preload"});
  EXPECT_EQ(report->blobs_written, 3u);  // manifest, config, layer
  std::string listed = ctr({"images", "ls"});
  EXPECT_NE(listed.find("docker.io/library/busybox:preload"), std::string::npos) << listed;
  EXPECT_NE(listed.find("io.cri-containerd.pinned=pinned"), std::string::npos) << listed;
  EXPECT_NE(ctr({"images", "check"}).find("complete"), std::string::npos);
  // Unpacked: the layer's snapshot (its chain ID is the diff_id), kept by the config's label.
  EXPECT_EQ(report->layers_unpacked, 1u);
  std::string snapshots = ctr({"snapshots", "ls"});
  EXPECT_NE(snapshots.find("sha256:"), std::string::npos) << snapshots;
  EXPECT_NE(snapshots.find("Committed"), std::string::npos) << snapshots;
  std::string top = snapshots.substr(snapshots.find("sha256:"), 71);
  EXPECT_NE(ctr({"content", "ls"}).find("containerd.io/gc.ref.snapshot.overlayfs=" + top),
            std::string::npos);
  // Again: nothing to write.
  auto again = import_archive(client, dir_->sub("busybox.tar"), dir_->sub("staging"));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->blobs_written, 0u);
  EXPECT_EQ(again->blobs_present, 3u);
  EXPECT_EQ(again->layers_unpacked, 0u);
}

TEST_F(ImageImportTest, CompressedArchives) {
  ASSERT_TRUE(core::write_file_atomic(dir_->sub("plain.tar"), archive_));
  core::grpc::Client client(socket_);
  for (const auto& [tool, file] :
       {std::pair{"lz4 -c", "busybox.tar.lz4"}, std::pair{"bzip2 -c", "busybox.tar.bz2"},
        std::pair{"zstd -q -c", "busybox.tar.zst"}, std::pair{"gzip -c", "busybox.tgz"}}) {
    auto packed = core::run_command({"sh", "-c", std::string(tool) + " < \"$0\" > \"$1\"",
                                     dir_->sub("plain.tar"), dir_->sub(file)});
    ASSERT_TRUE(packed && packed->exit_code == 0) << tool;
    auto report = import_archive(client, dir_->sub(file), dir_->sub("staging"));
    ASSERT_TRUE(report) << file << ": " << report.error().message();
    EXPECT_EQ(report->images, std::vector<std::string>{"docker.io/library/busybox:preload"});
  }
  auto odd = import_archive(client, dir_->sub("plain.tar") + ".rar", dir_->sub("staging"));
  EXPECT_FALSE(odd);
}

TEST_F(ImageImportTest, TamperedArchiveImportsNothing) {
  auto items = images::testing::read_tar(archive_);
  for (auto& item : items) {
    // The largest blob is the layer: flip one byte in it.
    if (item.entry.path.starts_with("blobs/sha256/") && item.data.size() > 1000) {
      item.data[item.data.size() / 2] ^= 1;
      break;
    }
  }
  ASSERT_TRUE(core::write_file_atomic(dir_->sub("bad.tar"), images::testing::write_tar(items)));
  core::grpc::Client client(socket_);
  auto report = import_archive(client, dir_->sub("bad.tar"), dir_->sub("staging"));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code(), core::Errc::kIntegrity) << report.error().message();
  EXPECT_EQ(ctr({"images", "ls", "-q"}), "");
  EXPECT_EQ(ctr({"content", "ls", "-q"}), "");
}

}  // namespace
}  // namespace k3s::agent
