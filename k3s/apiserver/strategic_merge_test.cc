// Strategic merge cases from testdata/smp/*.yaml: each case names the kind, the original
// object, the patch and either the expected result (compared exactly) or an error pattern.
#include "k3s/apiserver/strategic_merge.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "core/fs/files.h"
#include "core/serde/json.h"
#include "tests/support/test_support.h"

namespace k3s::apiserver {
namespace {

class StrategicMerge : public testing::TestWithParam<std::string> {};

TEST_P(StrategicMerge, Cases) {
  auto text = core::read_file(GetParam());
  ASSERT_TRUE(text);
  auto cases = core::parse_yaml(*text);
  ASSERT_TRUE(cases && cases->is_array() && !cases->empty()) << "a list of cases";
  for (const auto& c : *cases) {
    SCOPED_TRACE(c.value("name", "?"));
    auto got = strategic_merge(c["original"], c["patch"], c.value("kind", ""));
    if (c.contains("error")) {
      ASSERT_FALSE(got) << got->dump();
      EXPECT_TRUE(
          std::regex_search(got.error().message(), std::regex(c["error"].get<std::string>())))
          << got.error().message();
      continue;
    }
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(*got, c["expected"])
        << "got      " << got->dump() << "\nexpected " << c["expected"].dump();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Files, StrategicMerge,
    testing::ValuesIn(testing_support::data_files("k3s/apiserver/testdata/smp")),
    [](const testing::TestParamInfo<std::string>& info) {
      return testing_support::data_file_test_name(info.param);
    });

}  // namespace
}  // namespace k3s::apiserver
