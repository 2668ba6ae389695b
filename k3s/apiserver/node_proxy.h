// The pod subresources served by the pod's kubelet, as kube-apiserver proxies them: log
// (streamed while it follows), exec, attach and portforward (upgraded connections joined end to
// end). The kubelet is reached at its node's InternalIP and daemonEndpoints port with the API
// server's kubelet client certificate, its serving certificate checked against the server CA.
// Internal to k3s/apiserver.
#pragma once

#include <string>

#include "core/http/client.h"
#include "core/http/server.h"
#include "k3s/apiserver/rbac.h"
#include "k3s/datastore/backend.h"

namespace k3s::apiserver {

// True for the subresources handled here.
bool kubelet_subresource(const Attributes& a);

void proxy_to_kubelet(datastore::Backend& store, const core::http::ClientOptions& kubelet,
                      const Attributes& a, const core::http::ServerRequest& request,
                      core::http::ResponseWriter& w);

}  // namespace k3s::apiserver
