// kubectl exec over WebSocket, as kubectl 1.32 speaks it (v5.channel.k8s.io, and
// v4.channel.k8s.io): the kubelet answers the upgrade itself and runs the command as an exec
// process of the container's task through containerd's task service (the container's own
// process settings: environment, working directory, user, capabilities), its stdio on FIFOs.
// Channels: 0 stdin, 1 stdout, 2 stderr, 3 the final Status (with the exit code), 4 terminal
// resize, 255 (v5) closing stdin. A request that offers neither protocol is left to the CRI's
// streaming server (SPDY).
#pragma once

#include <string>
#include <vector>

#include "core/http/server.h"

namespace k3s::agent::kubelet {

struct ExecCommand {
  std::string container_id;
  std::vector<std::string> cmd;
  bool stdin = false, stdout = true, stderr = true, tty = false;
};

// The protocol to answer with ("" when the request is no WebSocket upgrade offering v5 or v4).
std::string websocket_exec_protocol(const core::http::ServerRequest& req);

// Answers w: 101 and the session, or an error status naming why the process did not start.
// FIFOs live under fifo_dir/<exec id> for the session's length.
void serve_websocket_exec(const core::http::ServerRequest& req, core::http::ResponseWriter& w,
                          const ExecCommand& command, const std::string& containerd_socket,
                          const std::string& fifo_dir);

}  // namespace k3s::agent::kubelet
