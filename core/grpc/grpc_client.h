// A gRPC client over HTTP/2 cleartext on a Unix socket, for the local daemons k3s drives
// (containerd's services, the CRI): unary calls with serialized protobuf messages in and out,
// per-call metadata (e.g. containerd-namespace), grpc-status mapped to errors. One connection,
// opened on first use and again after it breaks; calls are serialised by a mutex, so the
// object may be shared between threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.h"

namespace core::grpc {

using Metadata = std::vector<std::pair<std::string, std::string>>;

// gRPC status codes (those this project tells apart).
enum class Status : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kFailedPrecondition = 9,
  kUnimplemented = 12,
  kUnavailable = 14,
};

namespace detail {
struct Connection;  // the HTTP/2 session on its socket
}

class Client {
 public:
  explicit Client(std::string socket_path,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Calls `method` ("/package.Service/Method") with a serialized request; returns the
  // serialized response. Errors: kUnavailable (cannot connect, connection lost, deadline),
  // kNotFound / kAlreadyExists / kInvalid / kUnsupported (UNIMPLEMENTED) / kForbidden from the
  // grpc-status, with the server's grpc-message; the status itself via last_status().
  Result<std::string> call(const std::string& method, const std::string& request,
                           const Metadata& metadata = {});

  // A streaming call: request messages are taken from `next` as the stream has room for them
  // until it returns nullopt (a big upload never sits in memory whole); the response messages
  // come back in order. An error from `next` cancels the stream and is returned. Other errors as
  // for call().
  using NextMessage = std::function<Result<std::optional<std::string>>()>;
  const std::string& socket() const { return socket_path_; }
  Result<std::vector<std::string>> stream(const std::string& method, NextMessage next,
                                          const Metadata& metadata = {});

 private:
  Result<void> connect();

  std::string socket_path_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::unique_ptr<detail::Connection> conn_;
};

}  // namespace core::grpc
