// The gRPC client against a real containerd started on a private socket (root only).
#include "core/grpc/grpc_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "core/proc/process.h"

namespace core::grpc {
namespace {

// A length-delimited string field of a protobuf message (enough to read VersionResponse).
std::string string_field(const std::string& msg, int field) {
  size_t i = 0;
  while (i < msg.size()) {
    int tag = static_cast<unsigned char>(msg[i++]);
    size_t len = static_cast<unsigned char>(msg[i++]);
    if ((tag >> 3) == field && (tag & 7) == 2) return msg.substr(i, len);
    i += len;
  }
  return "";
}

class GrpcClientTest : public testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || !path_exists("/usr/bin/containerd"))
      GTEST_SKIP() << "needs root and containerd";
    dir_ = std::make_unique<TempDir>(*TempDir::create("k3a-grpc"));
    socket_ = dir_->sub("containerd.sock");
    std::string config = "version = 2\nroot = \"" + dir_->sub("root") + "\"\nstate = \"" +
                         dir_->sub("state") +
                         "\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                         "[grpc]\n  address = \"" +
                         socket_ + "\"\n";
    ASSERT_TRUE(write_file_atomic(dir_->sub("config.toml"), config));
    start_containerd();
  }

  void start_containerd() {
    auto p = Process::start({.argv = {"/usr/bin/containerd", "-c", dir_->sub("config.toml")},
                             .log_file = dir_->sub("log")});
    ASSERT_TRUE(p);
    containerd_ = std::make_unique<Process>(std::move(*p));
    for (int i = 0; i < 200 && !path_exists(socket_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ASSERT_TRUE(path_exists(socket_)) << *read_file(dir_->sub("log"));
  }

  std::unique_ptr<TempDir> dir_;
  std::string socket_;
  std::unique_ptr<Process> containerd_;
};

TEST_F(GrpcClientTest, CallsContainerd) {
  Client client(socket_);
  // google.protobuf.Empty in, VersionResponse {version = 1, revision = 2} out.
  auto version = client.call("/containerd.services.version.v1.Version/Version", "");
  ASSERT_TRUE(version) << version.error().message();
  EXPECT_FALSE(string_field(*version, 1).empty());
  // The connection is reused for the next call.
  auto again = client.call("/containerd.services.version.v1.Version/Version", "");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *version);
}

TEST_F(GrpcClientTest, MapsStatusesToErrors) {
  Client client(socket_);
  auto missing = client.call("/containerd.services.version.v1.Version/Nope", "");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Errc::kUnsupported);
  // GetImageRequest {name = 1} for an image that is not there, in namespace k8s.io.
  std::string request = std::string("\x0a\x07") + "nothing";
  auto image = client.call("/containerd.services.images.v1.Images/Get", request,
                           {{"containerd-namespace", "k8s.io"}});
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code(), Errc::kNotFound) << image.error().message();
}

TEST_F(GrpcClientTest, ReconnectsAfterTheDaemonRestarts) {
  Client client(socket_);
  ASSERT_TRUE(client.call("/containerd.services.version.v1.Version/Version", ""));
  containerd_->stop();
  auto down = client.call("/containerd.services.version.v1.Version/Version", "");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), Errc::kUnavailable);
  ASSERT_EQ(::unlink(socket_.c_str()) == 0 || errno == ENOENT, true);
  start_containerd();
  auto back = client.call("/containerd.services.version.v1.Version/Version", "");
  EXPECT_TRUE(back) << back.error().message();
}

TEST(GrpcClient, NoDaemonIsUnavailable) {
  Client client("/nonexistent/dir/containerd.sock", std::chrono::milliseconds(500));
  auto r = client.call("/containerd.services.version.v1.Version/Version", "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Errc::kUnavailable);
}

}  // namespace
}  // namespace core::grpc
