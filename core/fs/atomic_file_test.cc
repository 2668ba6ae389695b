#include "core/fs/atomic_file.h"

#include <sys/stat.h>

#include <filesystem>

#include "core/fs/files.h"
#include "tests/support/test_support.h"

namespace core {

TEST(AtomicFile, PublishesOnlyOnCommit) {
  TempDir dir = testing_support::make_temp_dir();
  std::string path = dir.sub("f");
  ASSERT_OK(write_file_atomic(path, "old"));
  {
    ASSERT_OK_AND_ASSIGN(AtomicFile file, AtomicFile::create(path, 0600));
    ASSERT_OK(file.write("new content"));
    // Abandoned without commit: the destination keeps the old content.
  }
  ASSERT_OK_AND_ASSIGN(std::string content, read_file(path));
  EXPECT_EQ(content, "old");
  // No temporary file is left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);

  ASSERT_OK_AND_ASSIGN(AtomicFile file, AtomicFile::create(path, 0600));
  ASSERT_OK(file.write("new"));
  ASSERT_OK(file.commit());
  ASSERT_OK_AND_ASSIGN(content, read_file(path));
  EXPECT_EQ(content, "new");
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(Files, ReadFileRefusesFifoAndLimits) {
  TempDir dir = testing_support::make_temp_dir();
  std::string fifo = dir.sub("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = read_file(fifo);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("not a regular file"), std::string::npos);
  ASSERT_OK(write_file_atomic(dir.sub("big"), std::string(100, 'x')));
  auto big = read_file(dir.sub("big"), 10);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code(), Errc::kTooLarge);
}

// /proc files report a size of 0: read_file reads to the end, with the limit still applied.
TEST(Files, ReadFileReadsProcFilesWhole) {
  auto status = read_file("/proc/self/status");
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_NE(status->find("\nPid:"), std::string::npos);
  EXPECT_GT(status->size(), 200u);
  auto small = read_file("/proc/self/status", 100);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code(), Errc::kTooLarge);
}

TEST(Files, PathHelpers) {
  EXPECT_EQ(dir_name("/a/b/c"), "/a/b");
  EXPECT_EQ(dir_name("c"), ".");
  EXPECT_EQ(base_name("/a/b/c/"), "c");
  EXPECT_EQ(join_path("/a", "b"), "/a/b");
  EXPECT_EQ(join_path("/a", "/b"), "/b");
}

}  // namespace core
