#include "core/crypto/base64.h"

#include <gtest/gtest.h>

namespace core {

TEST(Base64, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 20; ++i) {
    auto decoded = base64_decode(base64_encode(data));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, data);
    data.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
}

TEST(Base64, RejectsMalformedInput) {
  EXPECT_FALSE(base64_decode("Zm9"));
  EXPECT_FALSE(base64_decode("Zm9v!mFy"));
  EXPECT_FALSE(base64_decode("Zm=v"));
  EXPECT_TRUE(base64_decode("Zm9v\nYmFy\n"));
}

}  // namespace core
