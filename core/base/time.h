// RFC 3339 timestamps (UTC) and the clock seam. Pure functions except system_now().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace core {

// Seconds since the epoch from "2027-12-31T00:00:00Z" or with a numeric offset
// ("...+02:00"); fractional seconds are accepted and dropped. kInvalid otherwise.
Result<int64_t> parse_rfc3339(std::string_view text);
// "2027-12-31T00:00:00Z".
std::string format_rfc3339(int64_t seconds);
// Whole seconds of a Go duration ("24h0m0s", "90m", "1.5h", "30s", "0"); fractions of a
// second are dropped. kInvalid for anything else or a negative duration.
Result<int64_t> parse_duration(std::string_view text);
// Kubernetes' short human duration: "45s", "12m", "23h", "6d", "2y" ("0s" below zero).
std::string short_human_duration(int64_t seconds);
// Seconds since the epoch now; SOURCE_DATE_EPOCH is not consulted here.
int64_t system_now();

}  // namespace core
