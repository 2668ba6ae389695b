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
// Seconds since the epoch now; SOURCE_DATE_EPOCH is not consulted here.
int64_t system_now();

}  // namespace core
