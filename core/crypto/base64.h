// Standard-alphabet base64 with padding. Pure functions.
#pragma once

#include <string>
#include <string_view>

#include "core/base/error.h"

namespace core {

std::string base64_encode(std::string_view bytes);
// Strict decoding: padding required, whitespace (newlines) ignored, any other character or a
// bad length is kInvalid.
Result<std::string> base64_decode(std::string_view text);

}  // namespace core
