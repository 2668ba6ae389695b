#include "core/base/log.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <string>

namespace core::log {
namespace {
std::atomic<Level> g_level{Level::kInfo};
std::atomic<Style> g_style{Style::kPlain};

std::string logrus_line(Level level, std::string_view message) {
  static const char* names[] = {"debug", "info", "warning", "error"};
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped.push_back('\\');
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped.push_back(c);
  }
  time_t now = ::time(nullptr);
  struct tm t {};
  gmtime_r(&now, &t);
  char ts[32];
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &t);
  return fmt::format("time=\"{}\" level={} msg=\"{}\"\n", ts, names[static_cast<int>(level)],
                     escaped);
}
}  // namespace

void set_level(Level level) { g_level = level; }
void set_style(Style style) { g_style = style; }
bool enabled(Level level) { return level >= g_level.load(); }

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  static const char* names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  std::string line = g_style.load() == Style::kLogrus
                         ? logrus_line(level, message)
                         : fmt::format("{} {}\n", names[static_cast<int>(level)], message);
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace core::log
