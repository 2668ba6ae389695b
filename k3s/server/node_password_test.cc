#include "k3s/server/node_password.h"

#include <gtest/gtest.h>

namespace k3s::server {
namespace {

TEST(NodePassword, HashesVerifyOnlyTheirPassword) {
  std::string hash = hash_node_password("f00dfeed");
  EXPECT_TRUE(hash.starts_with("$1:"));
  EXPECT_NE(hash, hash_node_password("f00dfeed"));  // salted
  EXPECT_TRUE(verify_node_password("f00dfeed", hash));
  EXPECT_FALSE(verify_node_password("f00dfeee", hash));
  EXPECT_FALSE(verify_node_password("", hash));
}

TEST(NodePassword, MalformedHashesMatchNothing) {
  for (const char* bad : {"", "$1:abc", "$2:00:15:8:1:00", "$1:00:40:8:1:00", "$1:00:x:8:1:00"})
    EXPECT_FALSE(verify_node_password("pw", bad)) << bad;
}

}  // namespace
}  // namespace k3s::server
