// Small string helpers shared by every component. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace core {

// The views point into `s`: keep what it views alive while they are used (a temporary
// std::string in a range-for's expression is gone before the loop body runs).
std::vector<std::string_view> split(std::string_view s, char sep);
std::string_view trim(std::string_view s);
bool starts_with_ci(std::string_view s, std::string_view prefix);
std::string to_lower(std::string_view s);
// Lowercase hex of the bytes.
std::string hex_encode(std::string_view bytes);
// Parses a decimal unsigned integer; nullopt on anything else (sign, spaces, overflow).
std::optional<uint64_t> parse_u64(std::string_view s);
// Quotes a string for logs: printable ASCII kept, everything else as \xNN, so names taken from
// untrusted input cannot inject terminal escapes or line breaks.
std::string quote(std::string_view s);
// "1.5 MiB", "320 B".
std::string human_bytes(uint64_t n);
// Rows as aligned columns, like Go's tabwriter (minwidth 10, padding 3) that kubectl-style
// listings use: every column but the last is padded to its widest cell plus `padding`.
std::string format_columns(const std::vector<std::vector<std::string>>& rows, size_t padding = 3,
                           size_t min_width = 10);

}  // namespace core
