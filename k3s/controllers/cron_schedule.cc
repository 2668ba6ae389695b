#include "k3s/controllers/cron_schedule.h"

#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <mutex>
#include <vector>

#include "core/base/strings.h"

namespace k3s::controllers {
namespace {

using core::Errc;

const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",
                             "jul", "aug", "sep", "oct", "nov", "dec"};
const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

std::optional<int> number(std::string text, int low, const char** names, int count) {
  text = core::to_lower(text);
  for (int i = 0; names && i < count; ++i) {
    if (text == names[i]) return low + i;
  }
  if (text.empty() || text.size() > 4) return std::nullopt;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return std::stoi(text);
}

// One field into `bits` (indexes low..high); false when it does not parse.
template <size_t N>
bool parse_field(const std::string& field, int low, int high, const char** names, int count,
                 std::bitset<N>& bits, bool* any) {
  *any = field == "*" || field == "?";
  for (auto part : core::split(field, ',')) {
    std::string p(part);
    int step = 1;
    if (size_t slash = p.find('/'); slash != std::string::npos) {
      auto s = number(p.substr(slash + 1), 0, nullptr, 0);
      if (!s || *s <= 0) return false;
      step = *s;
      p = p.substr(0, slash);
    }
    int from, to;
    if (p == "*" || p == "?") {
      from = low;
      to = high;
    } else if (size_t dash = p.find('-'); dash != std::string::npos) {
      auto a = number(p.substr(0, dash), low, names, count);
      auto b = number(p.substr(dash + 1), low, names, count);
      if (!a || !b) return false;
      from = *a;
      to = *b;
    } else {
      auto a = number(p, low, names, count);
      if (!a) return false;
      from = *a;
      to = step > 1 ? high : *a;
    }
    if (from < low || to > high || from > to) return false;
    for (int i = from; i <= to; i += step) bits.set(static_cast<size_t>(i));
  }
  return true;
}

// Local time in `tz`: the C library reads zones through TZ, which is process-wide.
std::mutex zone_mu;

bool utc(const std::string& tz) { return tz.empty() || tz == "UTC" || tz == "Etc/UTC"; }

struct ZoneScope {
  explicit ZoneScope(const std::string& tz) : lock(zone_mu) {
    const char* old = std::getenv("TZ");
    had = old != nullptr;
    if (had) saved = old;
    setenv("TZ", tz.c_str(), 1);
    tzset();
  }
  ~ZoneScope() {
    if (had) {
      setenv("TZ", saved.c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  std::lock_guard<std::mutex> lock;
  bool had = false;
  std::string saved;
};

std::tm to_local(int64_t t, const std::string& tz) {
  std::tm tm{};
  time_t tt = static_cast<time_t>(t);
  if (utc(tz)) {
    gmtime_r(&tt, &tm);
  } else {
    ZoneScope scope(tz);
    localtime_r(&tt, &tm);
  }
  return tm;
}

int64_t from_local(std::tm tm, const std::string& tz) {
  if (utc(tz)) return timegm(&tm);
  ZoneScope scope(tz);
  tm.tm_isdst = -1;
  return mktime(&tm);
}

}  // namespace

core::Result<CronSchedule> CronSchedule::parse(const std::string& spec) {
  std::string s(core::trim(spec));
  static const std::pair<const char*, const char*> kMacros[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  for (const auto& [macro, fields] : kMacros) {
    if (s == macro) s = fields;
  }
  std::vector<std::string> fields;
  for (auto f : core::split(s, ' ')) {
    if (!f.empty()) fields.emplace_back(f);
  }
  if (fields.size() != 5)
    return core::failf(Errc::kInvalid, "expected exactly 5 fields, found {}: {}", fields.size(),
                       spec);
  CronSchedule c;
  bool any = false;
  if (!parse_field(fields[0], 0, 59, nullptr, 0, c.minutes_, &any))
    return core::failf(Errc::kInvalid, "invalid minute field: {}", fields[0]);
  if (!parse_field(fields[1], 0, 23, nullptr, 0, c.hours_, &any))
    return core::failf(Errc::kInvalid, "invalid hour field: {}", fields[1]);
  if (!parse_field(fields[2], 1, 31, nullptr, 0, c.days_, &c.any_day_))
    return core::failf(Errc::kInvalid, "invalid day-of-month field: {}", fields[2]);
  if (!parse_field(fields[3], 1, 12, kMonthNames, 12, c.months_, &any))
    return core::failf(Errc::kInvalid, "invalid month field: {}", fields[3]);
  std::bitset<8> weekdays;  // 7 is Sunday too
  if (!parse_field(fields[4], 0, 7, kDayNames, 7, weekdays, &c.any_weekday_))
    return core::failf(Errc::kInvalid, "invalid day-of-week field: {}", fields[4]);
  for (size_t i = 0; i < 7; ++i) c.weekdays_[i] = weekdays[i];
  if (weekdays[7]) c.weekdays_.set(0);
  return c;
}

bool CronSchedule::known_zone(const std::string& tz) {
  if (utc(tz)) return true;
  if (tz.find("..") != std::string::npos || tz.starts_with("/")) return false;
  struct stat st;
  return ::stat(("/usr/share/zoneinfo/" + tz).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool CronSchedule::day_matches(int mday, int wday) const {
  bool d = days_[static_cast<size_t>(mday)], w = weekdays_[static_cast<size_t>(wday)];
  if (any_day_ || any_weekday_) return d && w;
  return d || w;
}

std::optional<int64_t> CronSchedule::next(int64_t after, const std::string& tz) const {
  int64_t t = (after / 60 + 1) * 60;
  int64_t limit = after + 5LL * 366 * 24 * 3600;
  while (t <= limit) {
    std::tm tm = to_local(t, tz);
    if (!months_[static_cast<size_t>(tm.tm_mon + 1)]) {
      tm.tm_mon += 1;
      tm.tm_mday = 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    } else if (!day_matches(tm.tm_mday, tm.tm_wday)) {
      tm.tm_mday += 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    } else if (!hours_[static_cast<size_t>(tm.tm_hour)]) {
      tm.tm_hour += 1;
      tm.tm_min = tm.tm_sec = 0;
    } else if (!minutes_[static_cast<size_t>(tm.tm_min)]) {
      tm.tm_min += 1;
      tm.tm_sec = 0;
    } else {
      return t;
    }
    int64_t moved = from_local(tm, tz);
    t = moved > t ? moved : t + 60;  // a DST gap never moves time backwards
  }
  return std::nullopt;
}

std::optional<int64_t> CronSchedule::latest(int64_t after, int64_t until,
                                            const std::string& tz) const {
  // Look back over a growing window so that frequent schedules take few steps.
  for (int64_t span : {3600LL, 86400LL, 32 * 86400LL, 366 * 86400LL, 5 * 366 * 86400LL}) {
    int64_t from = std::max(after, until - span);
    auto t = next(from, tz);
    if (!t || *t > until) {
      if (from == after) return std::nullopt;
      continue;
    }
    for (auto n = next(*t, tz); n && *n <= until; n = next(*t, tz)) t = n;
    return t;
  }
  return std::nullopt;
}

}  // namespace k3s::controllers
