// Error and Result: the failure values every library in the project returns.
//
// An Error carries a code (which maps onto a Kubernetes status reason and onto a process exit
// code) and one human-readable line naming the cause. Libraries return Result<T>; exceptions are
// caught inside wrappers of throwing libraries and turned into Errors. Values, no shared state:
// safe to move between threads.
#pragma once

#include <fmt/core.h>

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace core {

enum class Errc {
  kInvalid,        // malformed input or arguments
  kNotFound,       // a named thing does not exist
  kAlreadyExists,  // creating something that exists
  kConflict,       // concurrent change, lock held, precondition failed
  kUnauthorized,   // no or bad credentials
  kForbidden,      // credentials fine, not allowed
  kIntegrity,      // digest, size or signature mismatch; tampered or truncated data
  kTooLarge,       // a limit was exceeded
  kUnavailable,    // peer unreachable or answered 5xx; retryable
  kTimeout,        // an operation ran out of time
  kIo,             // the operating system refused (open, write, fsync ...)
  kNoSpace,        // ENOSPC / EDQUOT
  kUnsupported,    // known but not implemented here
  kExpired,        // past an expiry date
  kInternal,       // a bug
};

std::string_view errc_name(Errc code);
// Process exit code for a failure of this kind (always non-zero).
int errc_exit_code(Errc code);

class Error {
 public:
  Error(Errc code, std::string message) : code_(code), message_(std::move(message)) {}

  Errc code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prefixes the message with "what: ", to say where a lower-level error happened.
  Error&& context(std::string_view what) && {
    message_ = fmt::format("{}: {}", what, message_);
    return std::move(*this);
  }

 private:
  Errc code_;
  std::string message_;
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected<Error>(Error(code, std::move(message)));
}

template <typename... Args>
std::unexpected<Error> failf(Errc code, fmt::format_string<Args...> f, Args&&... args) {
  return fail(code, fmt::format(f, std::forward<Args>(args)...));
}

// An Error from errno: "<what>: <strerror>", ENOSPC/EDQUOT mapped to kNoSpace.
std::unexpected<Error> fail_errno(int err, std::string_view what);

}  // namespace core

// Propagation helpers (GCC statement expressions).
// K3A_TRY(expr): evaluates a Result; on error returns it, else yields the value.
#define K3A_TRY(expr)                                                                 \
  __extension__({                                                                     \
    auto&& k3a_try_result_ = (expr);                                                  \
    if (!k3a_try_result_) return std::unexpected(std::move(k3a_try_result_).error()); \
    std::move(k3a_try_result_).value();                                               \
  })

// K3A_CHECK(expr): for Result<void>; returns the error if there is one.
#define K3A_CHECK(expr)                                                                   \
  do {                                                                                    \
    auto&& k3a_check_result_ = (expr);                                                    \
    if (!k3a_check_result_) return std::unexpected(std::move(k3a_check_result_).error()); \
  } while (0)
