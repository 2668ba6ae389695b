#include "core/base/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

namespace core::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
}

void set_level(Level level) { g_level = level; }
bool enabled(Level level) { return level >= g_level.load(); }

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  static const char* names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  std::string line = fmt::format("{} {}\n", names[static_cast<int>(level)], message);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace core::log
