#include "core/fs/temp_dir.h"

#include <stdlib.h>

#include <cerrno>

#include "core/fs/files.h"

namespace core {

Result<TempDir> TempDir::create(const std::string& prefix, std::string parent) {
  if (parent.empty()) {
    const char* env = ::getenv("TMPDIR");
    parent = env && *env ? env : "/tmp";
  }
  std::string tmpl = join_path(parent, prefix + "XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) return fail_errno(errno, tmpl);
  return TempDir(std::move(tmpl));
}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    if (!path_.empty()) (void)remove_all(path_);
    path_ = std::move(other.path_);
    other.path_.clear();
  }
  return *this;
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)remove_all(path_);
}

std::string TempDir::release() {
  std::string p = std::move(path_);
  path_.clear();
  return p;
}

}  // namespace core
