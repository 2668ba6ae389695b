// Helpers shared by the test binaries: scratch directories, running commands, locating the
// built binaries and test data. Test-only; not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/fs/temp_dir.h"
#include "core/proc/process.h"

namespace testing_support {

// Unwraps a Result in a test, failing the test with the error message otherwise.
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                \
  auto&& K3A_CONCAT(res_, __LINE__) = (expr);          \
  ASSERT_TRUE(K3A_CONCAT(res_, __LINE__).has_value())  \
      << K3A_CONCAT(res_, __LINE__).error().message(); \
  lhs = std::move(K3A_CONCAT(res_, __LINE__)).value()
#define K3A_CONCAT_INNER(a, b) a##b
#define K3A_CONCAT(a, b) K3A_CONCAT_INNER(a, b)
#define ASSERT_OK(expr)                                  \
  do {                                                   \
    auto&& r_ = (expr);                                  \
    ASSERT_TRUE(r_.has_value()) << r_.error().message(); \
  } while (0)
#define EXPECT_OK(expr)                                  \
  do {                                                   \
    auto&& r_ = (expr);                                  \
    EXPECT_TRUE(r_.has_value()) << r_.error().message(); \
  } while (0)

core::TempDir make_temp_dir();
// The build tree's bin/ directory (shipped binaries).
std::string bin_dir();
std::string source_dir();
// Runs a command; the test fails (and output is printed) if it cannot be started.
core::ProcessOutput run(const std::vector<std::string>& argv);
bool have_program(const std::string& name);
// A TCP port on 127.0.0.1 that was free a moment ago, for peers that cannot bind port 0.
int free_port();
// The files under <source tree>/<dir> ending in `suffix`, sorted: a data-driven test's cases.
std::vector<std::string> data_files(const std::string& dir, const std::string& suffix = ".yaml");
// A GoogleTest parameter name for a data file ("testdata/01-crud.yaml" -> "01_crud").
std::string data_file_test_name(const std::string& path);

}  // namespace testing_support
