// One run of a container's probe, as the kubelet's prober does it: exec (through the CRI's
// ExecSync, success on exit 0), httpGet (to the pod's IP unless a host is given, success on
// 200-399, redirects followed) and tcpSocket (success when the connection opens), each within
// timeoutSeconds (default 1). Named ports are resolved against the container's ports. gRPC
// probes are not run and count as successful.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/grpc/grpc_client.h"

namespace k3s::agent::kubelet {

bool run_probe(core::grpc::Client& cri, const nlohmann::json& probe,
               const nlohmann::json& container, const std::string& container_id,
               const std::string& pod_ip);

}  // namespace k3s::agent::kubelet
