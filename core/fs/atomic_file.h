// AtomicFile: writes to a temporary file beside the destination and publishes it only on
// commit(): fsync the file, rename over the destination, fsync the directory. Destroyed without
// commit() (an error, an exception, an early return), it removes the temporary file and the
// destination is untouched. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/fs/fd.h"
#include "core/fs/stream.h"

namespace core {

class AtomicFile : public ByteSink {
 public:
  static Result<AtomicFile> create(std::string path, mode_t mode = 0644);
  AtomicFile(AtomicFile&&) noexcept = default;
  AtomicFile& operator=(AtomicFile&&) noexcept = default;
  ~AtomicFile() override;

  const Fd& fd() const { return fd_; }
  const std::string& path() const { return path_; }
  Result<void> write(std::string_view data) override { return fd_.write_all(data); }
  // Publishes the file. On failure the destination keeps its old content.
  Result<void> commit();

 private:
  AtomicFile(std::string path, std::string tmp, Fd fd)
      : path_(std::move(path)), tmp_(std::move(tmp)), fd_(std::move(fd)) {}

  std::string path_;
  std::string tmp_;
  Fd fd_;
};

}  // namespace core
