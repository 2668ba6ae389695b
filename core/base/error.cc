#include "core/base/error.h"

#include <cerrno>
#include <cstring>

namespace core {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::kInvalid:
      return "Invalid";
    case Errc::kNotFound:
      return "NotFound";
    case Errc::kAlreadyExists:
      return "AlreadyExists";
    case Errc::kConflict:
      return "Conflict";
    case Errc::kUnauthorized:
      return "Unauthorized";
    case Errc::kForbidden:
      return "Forbidden";
    case Errc::kIntegrity:
      return "Integrity";
    case Errc::kTooLarge:
      return "TooLarge";
    case Errc::kUnavailable:
      return "Unavailable";
    case Errc::kTimeout:
      return "Timeout";
    case Errc::kIo:
      return "Io";
    case Errc::kNoSpace:
      return "NoSpace";
    case Errc::kUnsupported:
      return "Unsupported";
    case Errc::kExpired:
      return "Expired";
    case Errc::kInternal:
      return "Internal";
  }
  return "Unknown";
}

int errc_exit_code(Errc code) {
  switch (code) {
    case Errc::kInvalid:
      return 2;
    case Errc::kIntegrity:
      return 3;
    case Errc::kUnauthorized:
    case Errc::kForbidden:
      return 4;
    case Errc::kNotFound:
      return 5;
    case Errc::kExpired:
      return 6;
    case Errc::kUnavailable:
    case Errc::kTimeout:
      return 7;
    case Errc::kNoSpace:
      return 8;
    default:
      return 1;
  }
}

std::unexpected<Error> fail_errno(int err, std::string_view what) {
  Errc code = (err == ENOSPC || err == EDQUOT)  ? Errc::kNoSpace
              : err == ENOENT                   ? Errc::kNotFound
              : err == EEXIST                   ? Errc::kAlreadyExists
              : (err == EACCES || err == EPERM) ? Errc::kForbidden
                                                : Errc::kIo;
  return fail(code, fmt::format("{}: {}", what, std::strerror(err)));
}

}  // namespace core
