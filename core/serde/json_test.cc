#include "core/serde/json.h"

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace core {

TEST(Serde, YamlScalarsFollowCoreSchema) {
  ASSERT_OK_AND_ASSIGN(Json j,
                       parse_yaml("a: 1\nb: \"1\"\nc: true\nd: ~\ne: v1.32.4+k3s1\nf: 1.5\n"));
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_TRUE(j["b"].is_string());
  EXPECT_TRUE(j["c"].is_boolean());
  EXPECT_TRUE(j["d"].is_null());
  EXPECT_EQ(j["e"], "v1.32.4+k3s1");
  EXPECT_DOUBLE_EQ(j["f"].get<double>(), 1.5);
}

TEST(Serde, MalformedInputIsAnError) {
  EXPECT_FALSE(parse_json("{\"a\":"));
  EXPECT_FALSE(parse_yaml("a: [1, 2"));
  ASSERT_OK_AND_ASSIGN(auto docs, parse_yaml_all("a: 1\n---\n---\nb: 2\n"));
  EXPECT_EQ(docs.size(), 2u);
}

TEST(Serde, DumpSortsKeys) {
  ASSERT_OK_AND_ASSIGN(Json j, parse_json(R"({"b":1,"a":2})"));
  EXPECT_EQ(dump_json(j), R"({"a":2,"b":1})");
}

}  // namespace core
