#include "images/blob_store.h"

#include <dirent.h>
#include <sys/stat.h>

#include <thread>

#include "core/crypto/sha256.h"
#include "core/fs/files.h"
#include "images/reference.h"
#include "images/test_images.h"
#include "tests/support/test_support.h"

namespace images {
namespace {

using testing::StringSource;

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string digest_of(std::string_view data) { return sha256_digest(core::Sha256::hex_of(data)); }

TEST(BlobStore, PutReadHasPath) {
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir.sub("store")));
  ASSERT_OK_AND_ASSIGN(std::string digest, store.put("hello"));
  EXPECT_EQ(digest, digest_of("hello"));
  EXPECT_TRUE(store.has(digest));
  ASSERT_OK_AND_ASSIGN(std::string path, store.path(digest));
  EXPECT_EQ(path, dir.sub("store") + "/blobs/sha256/" + digest_hex(digest));
  ASSERT_OK_AND_ASSIGN(std::string back, store.read(digest));
  EXPECT_EQ(back, "hello");
  ASSERT_OK_AND_ASSIGN(uint64_t size, store.size(digest));
  EXPECT_EQ(size, 5u);
  // Idempotent.
  ASSERT_OK_AND_ASSIGN(std::string again, store.put("hello"));
  EXPECT_EQ(again, digest);
  auto too_big = store.read(digest, 4);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code(), core::Errc::kTooLarge);
  auto missing = store.read(digest_of("absent"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), core::Errc::kNotFound);
  EXPECT_TRUE(list_dir(dir.sub("store/.tmp")).empty());
}

// CVE-2024-3727: a digest is validated before it becomes a path.
TEST(BlobStore, InvalidDigestsNeverBecomePaths) {
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir.path()));
  ASSERT_OK(core::write_file_atomic(dir.sub("secret"), "x"));
  const std::vector<std::string> bad_digests = {"sha256:../../secret", "sha256:", "md5:abc",
                                                "../secret", "sha256:" + std::string(64, 'A')};
  for (const std::string& bad : bad_digests) {
    EXPECT_FALSE(store.has(bad));
    auto p = store.path(bad);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error().code(), core::Errc::kInvalid);
    EXPECT_FALSE(store.read(bad));
    StringSource src("x");
    EXPECT_FALSE(store.put_stream(src, bad, 1));
  }
}

TEST(BlobStore, PutStreamVerifiesSizeThenDigest) {
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir.path()));
  std::string data(3 << 20, 'z');
  std::string digest = digest_of(data);

  StringSource longer(data + std::string(1 << 20, '!'), 4096);
  auto r1 = store.put_stream(longer, digest, data.size());
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(r1.error().message().find("longer than the expected"), std::string::npos);
  // It stopped reading at the first chunk past the size.
  EXPECT_LE(longer.consumed(), data.size() + 4096);

  StringSource shorter(data.substr(1));
  auto r2 = store.put_stream(shorter, digest, data.size());
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message().find(digest), std::string::npos);
  EXPECT_NE(r2.error().message().find("expected " + std::to_string(data.size())), std::string::npos)
      << r2.error().message();

  std::string other = data;
  other[100] = 'y';
  StringSource tampered(other);
  auto r3 = store.put_stream(tampered, digest, data.size());
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code(), core::Errc::kIntegrity);
  EXPECT_EQ(r3.error().message(), "blob " + digest + ": content has digest " + digest_of(other));

  EXPECT_FALSE(store.has(digest));
  EXPECT_TRUE(list_dir(dir.sub("blobs/sha256")).empty());
  EXPECT_TRUE(list_dir(dir.sub(".tmp")).empty());

  StringSource good(data, 1000);
  ASSERT_OK(store.put_stream(good, digest, data.size()));
  EXPECT_TRUE(store.has(digest));
}

TEST(BlobStore, WriterAbandonedLeavesNothing) {
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir.path()));
  {
    ASSERT_OK_AND_ASSIGN(BlobWriter w, store.writer());
    ASSERT_OK(w.write("partial"));
    EXPECT_EQ(list_dir(dir.sub(".tmp")).size(), 1u);
  }
  EXPECT_TRUE(list_dir(dir.sub(".tmp")).empty());
  EXPECT_TRUE(list_dir(dir.sub("blobs/sha256")).empty());
  ASSERT_OK_AND_ASSIGN(BlobWriter w, store.writer());
  ASSERT_OK(w.write("com"));
  ASSERT_OK(w.write("plete"));
  ASSERT_OK_AND_ASSIGN(std::string digest, w.commit());
  EXPECT_EQ(digest, digest_of("complete"));
  EXPECT_FALSE(w.commit());
}

TEST(BlobStore, PutFileAndDetectsCorruptionOnRead) {
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir.sub("s")));
  ASSERT_OK(core::write_file_atomic(dir.sub("f"), "file content"));
  ASSERT_OK_AND_ASSIGN(std::string digest, store.put_file(dir.sub("f")));
  EXPECT_EQ(digest, digest_of("file content"));
  ASSERT_EQ(::symlink("f", dir.sub("link").c_str()), 0);
  EXPECT_FALSE(store.put_file(dir.sub("link")));
  EXPECT_FALSE(store.put_file(dir.path()));
  // Someone edits the stored blob: read() notices.
  ASSERT_OK_AND_ASSIGN(std::string path, store.path(digest));
  ASSERT_OK(core::write_file_atomic(path, "file kontent"));
  auto r = store.read(digest);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Errc::kIntegrity);
  EXPECT_NE(r.error().message().find(digest), std::string::npos);
}

TEST(BlobStore, ConcurrentPutsOfSameAndDifferentBlobs) {
  auto dir = testing_support::make_temp_dir();
  ASSERT_OK_AND_ASSIGN(BlobStore store, BlobStore::open(dir.path()));
  std::string shared(1 << 20, 's');
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      StringSource src(shared, 777);
      bool a = store.put_stream(src, digest_of(shared), shared.size()).has_value();
      bool b = store.put("own " + std::to_string(i)).has_value();
      ok[i] = a && b ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ok[i], 1) << i;
  EXPECT_EQ(list_dir(dir.sub("blobs/sha256")).size(), 9u);
  ASSERT_OK_AND_ASSIGN(std::string back, store.read(digest_of(shared)));
  EXPECT_EQ(back, shared);
  EXPECT_TRUE(list_dir(dir.sub(".tmp")).empty());
}

}  // namespace
}  // namespace images
