// Whole-file helpers and directory operations. Stateless; thread-safe as the OS calls are.
// Every function names the path in its error.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace core {

// Reads a regular file whole; refuses files over max_size (kTooLarge) and non-regular files
// (a FIFO would block).
Result<std::string> read_file(const std::string& path, uint64_t max_size = 64u << 20);
// Writes through an AtomicFile: the path holds the old content or the new, never a mix.
Result<void> write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);
// mkdir -p with the given mode for the directories it creates.
Result<void> make_dirs(const std::string& path, mode_t mode = 0755);
// fsync of a directory, making renames and creations in it durable.
Result<void> fsync_dir(const std::string& path);
// rm -rf that never follows symlinks; a missing path is success.
Result<void> remove_all(const std::string& path);
bool path_exists(const std::string& path);
// The directory part of a path ("." when there is none) and the last component.
std::string dir_name(std::string_view path);
std::string base_name(std::string_view path);
// Joins a base and a relative path; an absolute rel is returned as it is.
std::string join_path(std::string_view base, std::string_view rel);

}  // namespace core
