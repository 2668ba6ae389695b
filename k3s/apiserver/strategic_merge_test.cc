// Strategic merge cases from testdata/smp/*.yaml: each case names the kind, the original
// object, the patch and either the expected result (compared exactly) or an error pattern.
#include "k3s/apiserver/strategic_merge.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>

#include "core/fs/files.h"
#include "core/serde/json.h"

namespace k3s::apiserver {
namespace {

std::vector<std::string> case_files() {
  std::string dir = std::string(K3A_SOURCE_DIR) + "/k3s/apiserver/testdata/smp";
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (std::string(e->d_name).ends_with(".yaml")) out.push_back(dir + "/" + e->d_name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

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

INSTANTIATE_TEST_SUITE_P(Files, StrategicMerge, testing::ValuesIn(case_files()),
                         [](const testing::TestParamInfo<std::string>& info) {
                           std::string n = core::base_name(info.param);
                           n = n.substr(0, n.size() - 5);
                           std::replace_if(
                               n.begin(), n.end(), [](char c) { return !isalnum(c); }, '_');
                           return n;
                         });

}  // namespace
}  // namespace k3s::apiserver
