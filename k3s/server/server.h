// `k3s server`: data directory, datastore, certificates and tokens, kubeconfig, then the API
// over HTTPS until SIGTERM or SIGINT. Reports READY=1 to $NOTIFY_SOCKET once it serves (as
// upstream does under systemd's Type=notify).
#pragma once

#include "core/base/error.h"
#include "k3s/config/server_config.h"

namespace k3s::server {

// Fills the defaults that depend on the host (node name, cluster DNS) and checks values.
core::Result<void> complete(config::ServerConfig& config);
core::Result<void> run_server(config::ServerConfig config);

}  // namespace k3s::server
