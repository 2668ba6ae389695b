// Typed calls to the CRI v1 services (runtime.v1.RuntimeService and ImageService) over
// core/grpc: a request message in, the answer message out, containerd's errors as they come
// (kNotFound for an unknown sandbox or container ...); and the two calls every caller makes the
// same way. Stateless.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/base/error.h"
#include "core/grpc/grpc_client.h"
#include "k3s/agent/proto/cri.pb.h"

namespace k3s::agent::cri {

namespace v1 = ::runtime::v1;

// `method` is "RuntimeService/RunPodSandbox", "ImageService/PullImage" ...
template <typename Response, typename Request>
core::Result<Response> call(core::grpc::Client& client, const std::string& method,
                            const Request& request) {
  std::string in;
  request.SerializeToString(&in);
  auto out = client.call("/runtime.v1." + method, in);
  if (!out) return std::unexpected(std::move(out.error()).context("CRI " + method));
  Response response;
  if (!response.ParseFromString(*out))
    return core::failf(core::Errc::kInvalid, "CRI {}: unreadable answer", method);
  return response;
}

// Stops a container within grace_seconds (TERM, then KILL), on a connection of its own whose
// deadline covers the grace period; errors are the runtime's to log.
inline void stop_container(const std::string& socket, const std::string& id,
                           int64_t grace_seconds) {
  core::grpc::Client own(socket, std::chrono::seconds(grace_seconds + 30));
  v1::StopContainerRequest stop;
  stop.set_container_id(id);
  stop.set_timeout(grace_seconds);
  (void)call<v1::StopContainerResponse>(own, "RuntimeService/StopContainer", stop);
}

inline void remove_container(core::grpc::Client& client, const std::string& id) {
  v1::RemoveContainerRequest remove;
  remove.set_container_id(id);
  (void)call<v1::RemoveContainerResponse>(client, "RuntimeService/RemoveContainer", remove);
}

}  // namespace k3s::agent::cri
