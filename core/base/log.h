// Process-wide logging to stderr: one line per message, "LEVEL message". Thread-safe (a line
// is written with a single write(2)). The level is set once at start by the composition root.
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace core::log {

enum class Level { kDebug, kInfo, kWarn, kError };
// kPlain: "INFO message". kLogrus: upstream k3s's lines,
// time="2026-01-02T03:04:05Z" level=info msg="message".
enum class Style { kPlain, kLogrus };

void set_level(Level level);
void set_style(Style style);
bool enabled(Level level);
void write(Level level, std::string_view message);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace core::log
