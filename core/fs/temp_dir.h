// TempDir: a fresh directory (mode 0700) removed with its contents when destroyed.
// Not thread-safe.
#pragma once

#include <string>

#include "core/base/error.h"

namespace core {

class TempDir {
 public:
  // Creates <parent>/<prefix>XXXXXX; parent defaults to $TMPDIR or /tmp.
  static Result<TempDir> create(const std::string& prefix, std::string parent = "");
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  std::string sub(std::string_view rel) const { return path_ + "/" + std::string(rel); }
  // Keeps the directory on destruction and returns its path.
  std::string release();

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace core
