#include "core/archive/decompress.h"

#include <gtest/gtest.h>

#include "core/fs/files.h"
#include "core/fs/temp_dir.h"
#include "core/proc/process.h"

namespace core {
namespace {

std::string drain(ByteSource& s) {
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = s.read(buf, sizeof buf);
    EXPECT_TRUE(n);
    if (!n || *n == 0) return out;
    out.append(buf, *n);
  }
}

// Compresses with the command-line tool (an independent encoder), then decodes.
void round_trip(const std::vector<std::string>& tool, Compression c) {
  auto dir = TempDir::create("k3a-decompress");
  ASSERT_TRUE(dir);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + "\n";
  ASSERT_TRUE(write_file_atomic(dir->sub("plain"), text));
  std::string packed_path = dir->sub("packed");
  std::vector<std::string> argv = tool;
  argv.push_back(dir->sub("plain"));
  argv.push_back(packed_path);
  auto r =
      run_command({"sh", "-c", argv[0] + " " + argv[1] + " < \"$0\" > \"$1\"", argv[2], argv[3]});
  if (!r || r->exit_code != 0) GTEST_SKIP() << tool[0] << " is not installed";
  auto packed = read_file(packed_path);
  ASSERT_TRUE(packed);
  StringSource in(*packed);
  auto s = decompressing_source(in, c);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(drain(**s), text);
}

TEST(Decompress, Lz4) { round_trip({"lz4", "-c"}, Compression::kLz4); }
TEST(Decompress, Bzip2) { round_trip({"bzip2", "-c"}, Compression::kBzip2); }

TEST(Decompress, RefusesOtherData) {
  StringSource in("this is not compressed at all");
  auto s = decompressing_source(in, Compression::kBzip2);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Errc::kIntegrity);
}

}  // namespace
}  // namespace core
