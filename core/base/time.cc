#include "core/base/time.h"

#include <fmt/core.h>

#include <cctype>
#include <ctime>
#include <exception>
#include <string>

#include "core/base/strings.h"

namespace core {
namespace {
std::optional<int> digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}
}  // namespace

Result<int64_t> parse_rfc3339(std::string_view s) {
  auto bad = [&] { return failf(Errc::kInvalid, "{} is not an RFC 3339 time", quote(s)); };
  auto year = digits(s, 0, 4), mon = digits(s, 5, 2), day = digits(s, 8, 2);
  auto hour = digits(s, 11, 2), min = digits(s, 14, 2), sec = digits(s, 17, 2);
  if (!year || !mon || !day || !hour || !min || !sec || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':') {
    return bad();
  }
  if (*mon < 1 || *mon > 12 || *day < 1 || *day > 31 || *hour > 23 || *min > 59 || *sec > 60) {
    return bad();
  }
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  }
  int64_t offset = 0;
  std::string_view zone = s.substr(std::min(pos, s.size()));
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    auto oh = digits(zone, 1, 2), om = digits(zone, 4, 2);
    if (!oh || !om) return bad();
    offset = (*oh * 3600 + *om * 60) * (zone[0] == '+' ? 1 : -1);
  } else {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *mon - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *min;
  tm.tm_sec = *sec;
  return static_cast<int64_t>(timegm(&tm)) - offset;
}

std::string format_rfc3339(int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int64_t system_now() { return static_cast<int64_t>(std::time(nullptr)); }

Result<int64_t> parse_duration(std::string_view text) {
  auto bad = [&] {
    return failf(Errc::kInvalid, "{} is not a duration (e.g. 24h, 90m, 30s)", quote(text));
  };
  if (text == "0") return 0;
  if (text.empty()) return bad();
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == start) return bad();
    double value = 0;
    try {
      value = std::stod(std::string(text.substr(start, i - start)));
    } catch (const std::exception&) {
      return bad();
    }
    size_t unit = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view u = text.substr(unit, i - unit);
    double scale = u == "h"    ? 3600
                   : u == "m"  ? 60
                   : u == "s"  ? 1
                   : u == "ms" ? 1e-3
                   : u == "us" ? 1e-6
                   : u == "ns" ? 1e-9
                               : -1;
    if (scale < 0) return bad();
    total += value * scale;
  }
  return static_cast<int64_t>(total);
}

std::string short_human_duration(int64_t s) {
  if (s < 0) return "0s";
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h", s / 3600);
  if (s < 86400 * 365) return fmt::format("{}d", s / 86400);
  return fmt::format("{}y", s / (86400 * 365));
}

}  // namespace core
