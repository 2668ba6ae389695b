#include "k3s/apiserver/admission.h"

#include <gtest/gtest.h>

namespace k3s::apiserver {
namespace {

TEST(Quantity, ParsesUpstreamsSuffixes) {
  EXPECT_DOUBLE_EQ(*parse_quantity("500m"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_quantity("2"), 2);
  EXPECT_DOUBLE_EQ(*parse_quantity("1.5"), 1.5);
  EXPECT_DOUBLE_EQ(*parse_quantity("128Mi"), 128.0 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(*parse_quantity("1G"), 1e9);
  EXPECT_DOUBLE_EQ(*parse_quantity("2e3"), 2000);
  EXPECT_DOUBLE_EQ(*parse_quantity("1E"), 1e18);
  for (const char* bad : {"", "Mi", "1 Mi", "1mi", "1e", "abc"})
    EXPECT_FALSE(parse_quantity(bad)) << bad;
}

}  // namespace
}  // namespace k3s::apiserver
