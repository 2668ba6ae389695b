// Typed calls to the CRI v1 services (runtime.v1.RuntimeService and ImageService) over
// core/grpc: a request message in, the answer message out, containerd's errors as they come
// (kNotFound for an unknown sandbox or container ...). Stateless.
#pragma once

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

}  // namespace k3s::agent::cri
