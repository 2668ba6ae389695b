// `k3s check-config` against host trees built in a temporary directory: a host with everything
// passes; a missing binary, controller or kernel facility is named and fails the check; optional
// items only warn.
#include "k3s/ctl/check_config.h"

#include <gtest/gtest.h>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"

namespace k3s::ctl {
namespace {

class CheckConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<core::TempDir>(*core::TempDir::create("k3a-check"));
    for (const char* f :
         {"usr/bin/containerd", "usr/bin/containerd-shim-runc-v2", "usr/sbin/runc",
          "usr/sbin/iptables", "usr/lib/cni/bridge", "usr/lib/cni/host-local",
          "usr/lib/cni/portmap", "usr/lib/cni/loopback", "proc/self/ns/net", "proc/self/ns/pid",
          "proc/self/ns/ipc", "proc/self/ns/uts", "proc/self/ns/mnt"})
      write(f, "");
    write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
    write("proc/filesystems", "nodev\ttmpfs\nnodev\toverlay\n");
    write("proc/modules", "bridge 1 0 - Live\nveth 1 0 - Live\nnf_nat 1 0 - Live\n");
    write("proc/sys/net/ipv4/ip_forward", "1\n");
    write("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n");
  }
  void write(const std::string& rel, const std::string& text) {
    ASSERT_TRUE(core::make_dirs(core::dir_name(dir_->sub(rel))));
    ASSERT_TRUE(core::write_file_atomic(dir_->sub(rel), text));
  }
  std::vector<CheckItem> run() { return check_config({.root = dir_->sub("")}); }
  static const CheckItem* item(const std::vector<CheckItem>& items, const std::string& name) {
    for (const auto& i : items)
      if (i.name == name) return &i;
    return nullptr;
  }
  std::unique_ptr<core::TempDir> dir_;
};

TEST_F(CheckConfigTest, CompleteHostPasses) {
  auto items = run();
  for (const auto& i : items) {
    EXPECT_TRUE(i.ok || !i.required) << i.name << ": " << i.detail;
  }
  EXPECT_EQ(item(items, "runc")->detail, "/usr/sbin/runc");
  EXPECT_TRUE(item(items, "cgroup memory controller")->ok);
  FILE* out = std::tmpfile();
  EXPECT_TRUE(print_check_config(items, out));
  std::rewind(out);
  char buf[8192] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, out);
  std::fclose(out);
  std::string text(buf, n);
  EXPECT_NE(text.find("- overlay filesystem: ok"), std::string::npos) << text;
  EXPECT_NE(text.find("STATUS: pass"), std::string::npos) << text;
}

TEST_F(CheckConfigTest, MissingPiecesFailTheCheck) {
  ASSERT_TRUE(core::remove_all(dir_->sub("usr/sbin/runc")));
  write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io pids\n");
  write("proc/modules", "bridge 1 0 - Live\nnf_nat 1 0 - Live\n");
  auto items = run();
  EXPECT_FALSE(item(items, "runc")->ok);
  EXPECT_FALSE(item(items, "cgroup memory controller")->ok);
  EXPECT_FALSE(item(items, "veth")->ok);
  EXPECT_TRUE(item(items, "bridge")->ok);
  FILE* out = std::tmpfile();
  auto printed = print_check_config(items, out);
  std::fclose(out);
  ASSERT_FALSE(printed);
  EXPECT_NE(printed.error().message().find("3 required items missing"), std::string::npos);
}

TEST_F(CheckConfigTest, OptionalItemsOnlyWarnAndCgroupV1Counts) {
  write("proc/sys/net/ipv4/ip_forward", "0\n");
  write("proc/modules", "bridge 1 0 - Live\nnf_nat 1 0 - Live\n");
  auto items = run();
  EXPECT_FALSE(item(items, "net.ipv4.ip_forward")->ok);
  EXPECT_FALSE(item(items, "net.ipv4.ip_forward")->required);
  EXPECT_FALSE(item(items, "veth")->ok);
  // A cgroup v1 host: the controllers are mounted directories.
  ASSERT_TRUE(core::remove_all(dir_->sub("sys/fs/cgroup/cgroup.controllers")));
  for (const char* c : {"cpu", "cpuset", "memory", "pids"})
    write(std::string("sys/fs/cgroup/") + c + "/tasks", "");
  items = run();
  EXPECT_TRUE(item(items, "cgroup pids controller")->ok);
  EXPECT_EQ(item(items, "cgroup pids controller")->detail, "cgroup v1");
}

}  // namespace
}  // namespace k3s::ctl
