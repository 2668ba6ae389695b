#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>

#include <ctime>

#include "core/base/strings.h"
#include "core/http/server.h"

namespace core::http {
namespace {

// RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string http_date(time_t t) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", kDays[tm.tm_wday], tm.tm_mday,
                     kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

// If-None-Match: "*" or a list of entity tags, compared weakly (RFC 9110 section 13.1.2).
bool etag_listed(std::string_view list, std::string_view etag) {
  for (std::string_view entry : split(list, ',')) {
    entry = trim(entry);
    if (entry == "*") return true;
    if (entry.starts_with("W/")) entry.remove_prefix(2);
    if (entry == etag) return true;
  }
  return false;
}

struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

enum class RangeKind { kNone, kSatisfiable, kUnsatisfiable };

// One "bytes=" range; anything else (other units, several ranges, bad syntax) is ignored, which
// RFC 9110 allows: the whole file is sent.
RangeKind parse_range(std::string_view header, uint64_t size, ByteRange* range) {
  header = trim(header);
  if (!header.starts_with("bytes=")) return RangeKind::kNone;
  std::string_view spec = trim(header.substr(6));
  size_t dash = spec.find('-');
  if (dash == spec.npos || spec.find(',') != spec.npos) return RangeKind::kNone;
  std::string_view first_text = trim(spec.substr(0, dash));
  std::string_view last_text = trim(spec.substr(dash + 1));
  if (first_text.empty()) {  // suffix range: the last N bytes
    auto suffix = parse_u64(last_text);
    if (!suffix) return RangeKind::kNone;
    if (*suffix == 0 || size == 0) return RangeKind::kUnsatisfiable;
    *range = {size - std::min(*suffix, size), size - 1};
    return RangeKind::kSatisfiable;
  }
  auto first = parse_u64(first_text);
  auto last = last_text.empty() ? std::optional<uint64_t>(UINT64_MAX) : parse_u64(last_text);
  if (!first || !last || *last < *first) return RangeKind::kNone;
  if (*first >= size) return RangeKind::kUnsatisfiable;
  *range = {*first, std::min(*last, size - 1)};
  return RangeKind::kSatisfiable;
}

// The part of a file the request asks for; an If-Range naming another version voids the Range.
RangeKind requested_range(const ServerRequest& request, uint64_t size, std::string_view etag,
                          std::string_view last_modified, ByteRange* range) {
  auto range_header = request.header("Range");
  if (!range_header) return RangeKind::kNone;
  auto if_range = request.header("If-Range");
  if (if_range && *if_range != etag && *if_range != last_modified) return RangeKind::kNone;
  return parse_range(*range_header, size, range);
}

}  // namespace

void ResponseWriter::add_header(std::string name, std::string value) {
  headers_.emplace_back(std::move(name), std::move(value));
}

bool ResponseWriter::begin_send() {
  if (sent_) return false;
  sent_ = true;
  return true;
}

void ResponseWriter::send(std::string body) {
  if (begin_send()) body_ = std::move(body);
}

void ResponseWriter::stream(StreamStart start) {
  if (begin_send()) streamer_ = std::move(start);
}

void ResponseWriter::upgrade(UpgradeStart start) {
  if (begin_send()) upgrader_ = std::move(start);
}

void ResponseWriter::send_file(const std::string& path, std::string content_type) {
  if (!begin_send()) return;
  auto fd = Fd::open(path, O_RDONLY);
  struct stat st {};
  if (!fd || ::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    // A directory or device is "not found" too: only regular files are served.
    bool missing = fd ? !S_ISREG(st.st_mode) : fd.error().code() == Errc::kNotFound;
    status_ = missing ? 404 : 500;
    body_ = missing ? "not found\n" : "cannot read file\n";
    return;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  const std::string etag = fmt::format("\"{:x}-{:x}\"", size, mtime_ns);
  const std::string last_modified = http_date(st.st_mtim.tv_sec);
  add_header("ETag", etag);
  add_header("Last-Modified", last_modified);
  add_header("Accept-Ranges", "bytes");
  if (!content_type.empty()) add_header("Content-Type", std::move(content_type));
  if (auto inm = request_.header("If-None-Match"); inm && etag_listed(*inm, etag)) {
    status_ = 304;
    return;
  }
  status_ = 200;
  ByteRange range;
  switch (requested_range(request_, size, etag, last_modified, &range)) {
    case RangeKind::kUnsatisfiable:
      status_ = 416;
      add_header("Content-Range", fmt::format("bytes */{}", size));
      return;
    case RangeKind::kSatisfiable:
      status_ = 206;
      add_header("Content-Range", fmt::format("bytes {}-{}/{}", range.first, range.last, size));
      file_ = FilePart{std::move(*fd), range.first, range.last - range.first + 1};
      return;
    case RangeKind::kNone:
      file_ = FilePart{std::move(*fd), 0, size};
      return;
  }
}

}  // namespace core::http
