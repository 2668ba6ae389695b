// `k3s-airgap mirror serve`: the mirror's content over HTTP(S), in the shapes clients already
// ask for: the release tree in GitHub's layout (/k3s-io/k3s/releases/download/<version>/<asset>)
// and the China mirror's (/k3s/<version with - for +>/<asset>, /k3s/channels/<name> answering
// the version, /k3s/k3s-install.sh); a channel server like update.k3s.io (/v1-release/channels
// as JSON, /v1-release/channels/<name> redirecting to .../releases/tag/<version>); install.sh
// and k3s-airgap at the top; the served images and their origins (/k3s-airgap/images.json);
// and a read-only OCI distribution registry (/v2/: manifests by tag and digest, blobs, tag
// lists, the catalog). Files go out with Range, ETag/If-None-Match and
// their content types; every request is logged. The index is re-read when it changes, so
// `mirror add` shows without a restart.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/base/error.h"
#include "core/http/server.h"

namespace mirror {

struct ServeOptions {
  std::string root;
  std::string address = "0.0.0.0";
  uint16_t port = 8080;
  std::string tls_cert, tls_key;
  int threads = 4;
};

core::Result<std::unique_ptr<core::http::Server>> serve(const ServeOptions& options);

}  // namespace mirror
