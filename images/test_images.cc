#include "images/test_images.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "core/fs/files.h"

namespace images::testing {

bool make_busybox_rootfs(const std::string& dir) {
  auto busybox = core::read_file("/bin/busybox", 16u << 20);
  if (!busybox) return false;
  EXPECT_TRUE(core::make_dirs(dir + "/bin"));
  EXPECT_TRUE(core::make_dirs(dir + "/etc"));
  EXPECT_TRUE(core::make_dirs(dir + "/tmp"));
  EXPECT_TRUE(core::write_file_atomic(dir + "/bin/busybox", *busybox, 0755));
  EXPECT_TRUE(core::write_file_atomic(dir + "/etc/hostname", "airgap\n", 0644));
  EXPECT_EQ(::symlink("busybox", (dir + "/bin/sh").c_str()), 0);
  EXPECT_EQ(::chmod((dir + "/tmp").c_str(), 01777), 0);
  EXPECT_EQ(::chmod((dir + "/bin").c_str(), 0755), 0);
  EXPECT_EQ(::chmod((dir + "/etc").c_str(), 0755), 0);
  return true;
}

BuildSpec busybox_spec(const std::string& rootfs, Platform platform) {
  BuildSpec spec;
  spec.rootfs_dir = rootfs;
  spec.entrypoint = {"/bin/sh"};
  spec.cmd = {"-c", "echo hello"};
  spec.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  spec.workdir = "/";
  spec.platform = std::move(platform);
  spec.labels = {{"org.opencontainers.image.title", "busybox-test"}};
  spec.created = 1700000000;
  return spec;
}

std::vector<TarItem> read_tar(const std::string& bytes) {
  std::vector<TarItem> items;
  StringSource src(bytes);
  auto reader = core::TarReader::open(src);
  EXPECT_TRUE(reader);
  while (true) {
    auto e = (*reader)->next();
    EXPECT_TRUE(e);
    if (!e || !*e) break;
    TarItem item{**e, ""};
    while (true) {
      auto block = (*reader)->read_block();
      EXPECT_TRUE(block);
      if (!block || block->empty()) break;
      item.data.append(*block);
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::string write_tar(const std::vector<TarItem>& items) {
  StringSink sink;
  auto w = core::TarWriter::create(sink);
  EXPECT_TRUE(w);
  for (const TarItem& item : items) {
    if (item.entry.type == core::TarType::kFile) {
      EXPECT_TRUE((*w)->add_file(item.entry, item.data));
    } else {
      EXPECT_TRUE((*w)->begin(item.entry));
    }
  }
  EXPECT_TRUE((*w)->finish());
  return sink.str();
}

TarItem* find_item(std::vector<TarItem>& items, std::string_view path) {
  for (TarItem& item : items) {
    if (item.entry.path == path) return &item;
  }
  return nullptr;
}

}  // namespace images::testing
