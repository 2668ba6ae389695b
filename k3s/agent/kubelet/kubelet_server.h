// The kubelet's HTTPS endpoint (port 10250, the serving-kubelet certificate from the join) for
// the API server, which reaches it with a client certificate of the cluster's client CA in
// group system:masters: /containerLogs/<ns>/<pod>/<container> (follow, tailLines, previous,
// timestamps, limitBytes, sinceSeconds, as kubectl logs asks), /exec/<ns>/<pod>/<container>
// (WebSocket v5/v4 answered here (exec.h), SPDY through the CRI's streaming server) and
// /healthz. Logs are read from the CRI's log files ("<time> <stream> <P|F> <text>" lines).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/base/error.h"
#include "core/http/server.h"
#include "k3s/agent/kubelet/kubelet.h"

namespace k3s::agent::kubelet {

struct KubeletServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 10250;
  std::string cert_file, key_file, client_ca_file;
  std::string cri_socket = "/run/k3s/containerd/containerd.sock";
};

struct LogOptions {
  bool timestamps = false;
  int64_t tail_lines = -1;     // -1: all
  int64_t limit_bytes = -1;    // -1: no limit
  int64_t since_seconds = -1;  // -1: from the start
};

// The text kubectl shows for CRI log lines: complete lines end with "\n", partial ones are
// joined to what follows; `now` is for since_seconds.
std::string format_log(const std::string& cri_log, const LogOptions& options, int64_t now);

// Serves until the returned server is stopped. Errors as core::http::Server::start.
core::Result<std::unique_ptr<core::http::Server>> start_kubelet_server(
    Kubelet& kubelet, const KubeletServerOptions& options);

}  // namespace k3s::agent::kubelet
