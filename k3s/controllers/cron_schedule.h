// Cron schedules as CronJobs write them: five fields (minute, hour, day of month, month, day of
// week) with *, lists, ranges, steps and month and day names, or @yearly, @annually, @monthly,
// @weekly, @daily, @midnight and @hourly; evaluated in UTC or in an IANA time zone from the
// system's zoneinfo. Day of month and day of week, when both are restricted, match either
// (as cron does). Immutable after parse; thread-safe.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

#include "core/base/error.h"

namespace k3s::controllers {

class CronSchedule {
 public:
  // kInvalid naming the field that does not parse.
  static core::Result<CronSchedule> parse(const std::string& spec);
  // Whether `tz` names a zone this machine knows ("" and "UTC" always).
  static bool known_zone(const std::string& tz);

  // The first matching minute strictly after `after` (Unix seconds); nullopt when none comes
  // within five years.
  std::optional<int64_t> next(int64_t after, const std::string& tz) const;
  // The latest matching minute in (after, until]; nullopt when there is none.
  std::optional<int64_t> latest(int64_t after, int64_t until, const std::string& tz) const;

 private:
  bool day_matches(int mday, int wday) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;
  std::bitset<13> months_;
  std::bitset<7> weekdays_;
  bool any_day_ = true, any_weekday_ = true;
};

}  // namespace k3s::controllers
